//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/solana/devnet"
)

// friend is the Solana devnet's second standard account.
var solFriend = devnet.Key("account/1").PublicKey().String()

// The Solana tools from the CLI on the in-process Solana runtime: SOL and
// USDC sent (USDC to an account with no token account yet, whose rent the
// policy is charged), an over-limit transfer refused with its reasons, bad
// input refused as such.
func TestSolanaToolsOnDevnet(t *testing.T) {
	cleanEnv(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	stranger := devnet.Key("a stranger with no token account").PublicKey().String()
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"tools", "call", "sol_transfer", `{"to":"` + solFriend + `","token":"SOL","amount":"1.25"}`}, 0, "Sent 1.25 SOL to " + solFriend},
		{[]string{"tools", "call", "sol_transfer", `{"to":"` + stranger + `","token":"USDC","amount":"5"}`}, 0, "Sent 5 USDC to " + stranger},
		{[]string{"tools", "call", "sol_transfer", `{"to":"` + solFriend + `","token":"SOL","amount":"50"}`}, 1, "limits.per_tx.SOL"},
		{[]string{"tools", "call", "sol_transfer", `{"to":"0x2222222222222222222222222222222222222222","token":"SOL","amount":"1"}`}, 2, "to"},
		{[]string{"tools", "call", "sol_transfer", `{"to":"` + solFriend + `","token":"USDC","amount":"0.0000001"}`}, 2, "decimals"},
		{[]string{"tools", "call", "sol_swap", `{"from":"SOL","to":"USDC","amount":"1"}`}, 2, "MANDATE_JUPITER_URL"},
	}
	for _, st := range steps {
		code, out, errs := cli(t, "", append([]string{"--devnet", "--solana"}, st.args...)...)
		if code != st.code || !strings.Contains(out+errs, st.want) {
			t.Fatalf("%v: exit %d, want %d with %q\n%s\n%s", st.args[2:], code, st.code, st.want, out, errs)
		}
	}
	// The EVM tools are not offered on a Solana-only runtime.
	if code, _, errs := cli(t, "", "--devnet", "--solana", "tools", "call", "wallet_balance", `{}`); code != 2 || !strings.Contains(errs, "unknown tool") {
		t.Fatalf("wallet_balance on a Solana-only runtime: exit %d %s", code, errs)
	}
}

// A user's own run: `mandate devnet --solana` in one process, and the CLI
// in others with only the Solana settings (no EVM configuration), the
// README's policy, and a key from the deployment file.
func TestSolanaServedDevnet(t *testing.T) {
	bin := buildMandate(t)
	policy, _ := filepath.Abs(filepath.Join("..", "..", "examples", "solana", "policy.yaml"))
	cleanEnv(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	out := filepath.Join(t.TempDir(), "solana.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := exec.CommandContext(ctx, bin, "devnet", "--solana", "--port", "0", "--out", out)
	srv.Env = os.Environ()
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv.Stderr = io.Discard
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Wait()
	defer cancel()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "export MANDATE_SOLANA_RPC_URL="); ok {
				ready <- strings.Fields(rest)[0]
			}
		}
		close(ready)
	}()
	var rpcURL string
	select {
	case rpcURL = <-ready:
	case <-time.After(2 * time.Minute):
		t.Fatal("mandate devnet --solana did not say where it serves within 2 minutes")
	}
	if rpcURL == "" {
		t.Fatal("mandate devnet --solana exited before serving")
	}
	var dep struct {
		RPC      string `json:"rpc"`
		Accounts []struct {
			Address   string `json:"address"`
			SecretKey string `json:"secretKey"`
		} `json:"accounts"`
		Mints map[string]string `json:"mints"`
	}
	b, err := os.ReadFile(out)
	if err != nil || json.Unmarshal(b, &dep) != nil || dep.RPC != rpcURL || len(dep.Accounts) < 2 || dep.Mints["USDC"] == "" {
		t.Fatalf("deployment %s: %v", b, err)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the deployment holds secret keys and must be private: %v %v", fi.Mode(), err)
	}

	t.Setenv("MANDATE_SOLANA_RPC_URL", rpcURL)
	t.Setenv("MANDATE_SOLANA_KEY", dep.Accounts[2].SecretKey)
	t.Setenv("MANDATE_POLICY", policy)
	t.Setenv("MANDATE_DB", "sqlite:"+filepath.Join(t.TempDir(), "m.db"))
	for _, st := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"tools", "call", "sol_address", `{}`}, 0, dep.Accounts[2].Address},
		{[]string{"tools", "call", "sol_transfer", `{"to":"` + solFriend + `","token":"SOL","amount":"2","idempotency_key":"rent-day"}`}, 0, "Sent 2 SOL"},
		{[]string{"tools", "call", "sol_transfer", `{"to":"` + solFriend + `","token":"SOL","amount":"2","idempotency_key":"rent-day"}`}, 0, "nothing was sent again"},
		{[]string{"tools", "call", "sol_transfer", `{"to":"` + solFriend + `","token":"USDC","amount":"250"}`}, 0, "Sent 250 USDC"},
		{[]string{"tools", "call", "sol_transfer", `{"to":"` + solFriend + `","token":"USDC","amount":"1500"}`}, 1, "limits.per_tx.USDC"},
		{[]string{"tools", "call", "sol_balance", `{"token":"SOL"}`}, 0, "97.99"},
	} {
		code, out, errs := cli(t, "", st.args...)
		if code != st.code || !strings.Contains(out+errs, st.want) {
			t.Fatalf("%v: exit %d, want %d with %q\n%s\n%s", st.args[2:], code, st.code, st.want, out, errs)
		}
	}

	// A raw key is for the devnet only: against an RPC that is not a
	// Mandate devnet it is refused before anything is read or signed.
	cluster := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}`)
	}))
	defer cluster.Close()
	t.Setenv("MANDATE_SOLANA_RPC_URL", cluster.URL)
	if code, _, errs := cli(t, "", "tools", "call", "sol_balance", `{}`); code != 2 || !strings.Contains(errs, "raw key is for tests and the Solana devnet only") {
		t.Fatalf("raw key on a cluster: exit %d %s", code, errs)
	}
}

// `mandate chat --devnet --solana` with the offline model: the words go to
// the Solana tools; an over-limit transfer is refused with reasons.
func TestSolanaChat(t *testing.T) {
	cleanEnv(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	in := "balance\nsend 1 SOL to " + solFriend + "\nsend 3 USDC to " + solFriend + "\nsend 50 SOL to " + solFriend + "\n"
	code, out, errs := cli(t, in, "chat", "--devnet", "--solana", "--json")
	if code != 0 {
		t.Fatalf("chat exit %d: %s", code, errs)
	}
	var tools []string
	var mined, denied int
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		if name, ok := ev["tool"].(string); ok && ev["kind"] == "tool_call" {
			tools = append(tools, name)
		}
		if ev["tx_status"] == "mined" {
			mined++
		}
		if ev["decision"] == "deny" && ev["reasons"] != nil {
			denied++
		}
	}
	if strings.Join(tools, ",") != "sol_balance,sol_transfer,sol_transfer,sol_transfer" || mined != 2 || denied != 1 {
		t.Fatalf("tools %v, %d mined, %d denied; want sol_balance and three sol_transfer, 2 mined, 1 denied\n%s", tools, mined, denied, out)
	}
}

// Solana keys in the keystore: imported from base58 and from the Solana
// CLI's JSON array, never printed or stored in the clear, listed apart
// from the EVM keys, and used by the Solana tools with a passphrase.
func TestSolanaKeystore(t *testing.T) {
	cleanEnv(t)
	ks := t.TempDir()
	t.Setenv("MANDATE_KEYSTORE", ks)
	t.Setenv("MANDATE_PASSPHRASE", "correct horse battery staple")
	key := devnet.Key("account/3")
	code, out, errs := cli(t, key.String()+"\n", "--solana", "wallet", "import", "--json")
	if code != 0 || !strings.Contains(out, key.PublicKey().String()) || strings.Contains(out+errs, key.String()) {
		t.Fatalf("import base58: exit %d, %q %q", code, out, errs)
	}
	other := devnet.Key("account/2")
	nums := make([]string, len(other))
	for i, b := range other {
		nums[i] = strconv.Itoa(int(b))
	}
	idJSON := filepath.Join(t.TempDir(), "id.json")
	if err := os.WriteFile(idJSON, []byte("[\n"+strings.Join(nums, ",\n")+"\n]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errs = cli(t, "", "--solana", "wallet", "import", "--key-file", idJSON); code != 0 || !strings.Contains(out, other.PublicKey().String()) {
		t.Fatalf("import id.json: exit %d, %q %q", code, out, errs)
	}
	if code, _, errs = cli(t, "[1,2,3]\n", "--solana", "wallet", "import"); code != 2 {
		t.Fatalf("short JSON key: exit %d %q", code, errs)
	}
	code, out, _ = cli(t, "", "--solana", "--json", "wallet", "list")
	var list struct{ Addresses []string }
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Addresses) != 2 {
		t.Fatalf("solana list: exit %d, %q", code, out)
	}
	if code, out, _ = cli(t, "", "--json", "wallet", "list"); code != 0 || !strings.Contains(out, `"addresses":[]`) {
		t.Fatalf("the EVM keystore lists the Solana keys: exit %d, %q", code, out)
	}
	err := filepath.WalkDir(ks, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), key.String()) || strings.Contains(string(b), other.String()) {
			t.Errorf("%s holds a key in the clear", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Two keys: the tools do not guess which one.
	cluster := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":1}`)
	}))
	defer cluster.Close()
	t.Setenv("MANDATE_SOLANA_RPC_URL", cluster.URL)
	if code, _, errs = cli(t, "", "tools", "call", "sol_address", "{}"); code != 2 || !strings.Contains(errs, "holds 2 keys") {
		t.Fatalf("two keys: exit %d %q", code, errs)
	}
}
