package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/ethereum/go-ethereum/common"
	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/llm/llmtest"
	"github.com/mandatehq/mandate/memory"
)

// cli runs the command line in-process with a clean MANDATE_* environment.
func cli(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MANDATE_") && k != "MANDATE_ARTIFACTS" && k != "MANDATE_TEST_POSTGRES" {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	t.Chdir(t.TempDir()) // no stray mandate.yaml
}

func TestDemo(t *testing.T) {
	cleanEnv(t)
	code, out, errs := cli(t, "", "demo", "--json")
	if code != 0 {
		t.Fatalf("demo exit %d: %s", code, errs)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	var denials, steps int
	done := map[string]bool{} // the tools of the steps the policy allowed
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("demo --json printed a non-JSON line %q", sc.Text())
		}
		steps++
		if line["decision"] == "deny" {
			denials++
			if rs, _ := line["reasons"].([]any); len(rs) == 0 {
				t.Fatalf("denial without reasons: %v", line)
			}
		} else {
			done[line["tool"].(string)] = true
		}
	}
	// The README's walk-through: a transfer, a quote, a swap, a standing
	// order and the list of orders go through; four things are refused.
	if steps != 12 || denials != 4 {
		t.Fatalf("demo printed %d steps with %d denials, want 12 and 4", steps, denials)
	}
	for _, tool := range []string{"wallet_transfer", "dex_quote", "dex_swap", "order_place", "order_list"} {
		if !done[tool] {
			t.Fatalf("the demo did not do %s; it did %v", tool, done)
		}
	}
}

func TestExitCodes(t *testing.T) {
	cleanEnv(t)
	friend := "0x5f37D445AA287390a0795f71bF8633BC3241171C"
	cases := []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"allowed transfer", []string{"--devnet", "tools", "call", "wallet_transfer", `{"to":"` + friend + `","token":"USDC","amount":"10"}`}, 0, "Sent 10 USDC"},
		{"over the limit", []string{"--devnet", "tools", "call", "wallet_transfer", `{"to":"` + friend + `","token":"USDC","amount":"1000.000001"}`}, 1, "limits.per_tx.USDC"},
		{"dry run of a denial", []string{"--devnet", "tools", "call", "wallet_transfer", `{"to":"` + friend + `","token":"USDC","amount":"5000"}`, "--dry-run"}, 1, "would deny"},
		{"bad checksum", []string{"--devnet", "tools", "call", "wallet_transfer", `{"to":"0x5F37D445AA287390a0795f71bF8633BC3241171C","token":"USDC","amount":"1"}`}, 2, "checksum"},
		{"too many decimals", []string{"--devnet", "tools", "call", "wallet_transfer", `{"to":"` + friend + `","token":"USDC","amount":"0.0000001"}`}, 2, "decimal places"},
		{"unknown token", []string{"--devnet", "tools", "call", "wallet_transfer", `{"to":"` + friend + `","token":"PEPE","amount":"1"}`}, 2, "unknown token symbol"},
		{"not JSON", []string{"--devnet", "tools", "call", "wallet_transfer", `{to:`}, 2, "not valid JSON"},
		{"unknown tool", []string{"tools", "call", "nope", `{}`}, 2, "unknown tool"},
		{"bad log format", []string{"--log-format", "yaml", "tools", "list"}, 2, "--log-format must be text or json"},
		{"bad flag", []string{"tools", "list", "--frobnicate"}, 2, "unknown flag"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"no chain", []string{"wallet", "balance"}, 2, "MANDATE_RPC_URL"},
		{"tools list", []string{"tools", "list"}, 0, "wallet_transfer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := cli(t, "", tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("exit %d (want %d); output %q / %q; want it to mention %q", code, tc.code, out, errs, tc.want)
			}
			if strings.Contains(errs, "goroutine ") || strings.Contains(errs, "panic") {
				t.Fatalf("stack trace on stderr: %s", errs)
			}
			if code != 0 && strings.Count(strings.TrimSpace(errs), "\n") > 3 {
				t.Fatalf("error is not short: %q", errs)
			}
		})
	}
}

func TestJSONOutputIsOneObject(t *testing.T) {
	cleanEnv(t)
	friend := "0x5f37D445AA287390a0795f71bF8633BC3241171C"
	code, out, _ := cli(t, "", "--devnet", "--json", "tools", "call", "wallet_transfer", `{"to":"`+friend+`","token":"USDC","amount":"2000"}`)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	var obj struct {
		OK       bool     `json:"ok"`
		Decision string   `json:"decision"`
		Reasons  []string `json:"reasons"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&obj); err != nil || dec.More() {
		t.Fatalf("stdout is not exactly one JSON object: %q (%v)", out, err)
	}
	if obj.OK || obj.Decision != "deny" || len(obj.Reasons) == 0 {
		t.Fatalf("denial as JSON = %+v", obj)
	}
}

const goodPolicy = `version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "0xDb4290A910C4c6d156a6349F0f8D0C95b63Ba9f4", decimals: 6}
limits:
  per_tx: {USDC: "100"}
`

func TestPolicyCommands(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", goodPolicy)
	unknownKey := write("unknown.yaml", goodPolicy+"limitz: {}\n")
	badCEL := write("cel.yaml", goodPolicy+"rules:\n  - {name: broken, deny_if: 'intent.kind ==', reason: x}\n")
	transfer := func(amount string) string {
		return `{"kind":"transfer","chain":"1337","from":"0x7f72B86b4c03ebf5C5C1b3a8902B54CE3A2C5Cc0","to":"0x5f37D445AA287390a0795f71bF8633BC3241171C",` +
			`"token":{"symbol":"USDC","address":"0xDb4290A910C4c6d156a6349F0f8D0C95b63Ba9f4","decimals":6},"amount":` + amount + `}`
	}
	small := write("small.json", transfer("50000000"))
	large := write("large.json", transfer("100000001"))
	junk := write("junk.json", `{"kind":"teleport"}`)

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"check good", []string{"policy", "check", good}, 0, "ok"},
		{"check unknown key", []string{"policy", "check", unknownKey}, 2, "line 7"},
		{"check bad CEL", []string{"policy", "check", badCEL}, 2, "broken"},
		{"check missing file", []string{"policy", "check", filepath.Join(dir, "nope.yaml")}, 2, "nope.yaml"},
		{"eval approve", []string{"policy", "eval", good, small}, 0, "approve"},
		{"eval deny", []string{"policy", "eval", good, large}, 1, "limits.per_tx.USDC"},
		{"eval junk intent", []string{"policy", "eval", good, junk}, 2, "teleport"},
		{"eval usage", []string{"policy", "eval", good}, 2, "usage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := cli(t, "", tc.args...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Fatalf("exit %d (want %d); output %q / %q; want %q", code, tc.code, out, errs, tc.want)
			}
		})
	}
}

func TestWalletKeystore(t *testing.T) {
	cleanEnv(t)
	ks := t.TempDir()
	t.Setenv("MANDATE_KEYSTORE", ks)
	t.Setenv("MANDATE_PASSPHRASE", "correct horse battery staple")
	key := "0x5ea9533cd6bed3daf8b28c18c9e10e3d5394c75b576304d516d0f09fa9497809"
	code, out, errs := cli(t, key+"\n", "wallet", "import", "--json")
	if code != 0 || !strings.Contains(out, "0x7f72B86b4c03ebf5C5C1b3a8902B54CE3A2C5Cc0") {
		t.Fatalf("import: exit %d, %q %q", code, out, errs)
	}
	if strings.Contains(out+errs, key[2:]) {
		t.Fatal("the private key was printed")
	}
	code, out, _ = cli(t, "", "wallet", "new")
	if code != 0 || !strings.Contains(out, "created wallet 0x") {
		t.Fatalf("new: exit %d, %q", code, out)
	}
	code, out, _ = cli(t, "", "wallet", "list", "--json")
	var list struct{ Addresses []string }
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list.Addresses) != 2 {
		t.Fatalf("list: exit %d, %q", code, out)
	}
	files, _ := os.ReadDir(ks)
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(ks, f.Name()))
		if bytes.Contains(b, []byte(key[2:])) {
			t.Fatal("keystore file holds the key in the clear")
		}
	}
	if code, _, errs := cli(t, "not-a-key\n", "wallet", "import"); code != 2 || strings.Contains(errs, "not-a-key") {
		t.Fatalf("bad key: exit %d, %q (must not echo the input)", code, errs)
	}
}

// TestServedDevnet runs `mandate devnet` and points other commands at it by
// RPC alone, as a user in two terminals would.
func TestServedDevnet(t *testing.T) {
	cleanEnv(t)
	out := filepath.Join(t.TempDir(), "devnet.json")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		var o, e bytes.Buffer
		done <- run(ctx, []string{"devnet", "--port", "0", "--out", out}, strings.NewReader(""), &o, &e)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("devnet exited %d", code)
		}
	}()
	var dep devnet.Deployment
	for {
		b, err := os.ReadFile(out)
		if err == nil && json.Unmarshal(b, &dep) == nil && dep.RPC != "" {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("devnet exited %d before writing %s", code, out)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Setenv("MANDATE_RPC_URL", dep.RPC)
	t.Setenv("MANDATE_PRIVATE_KEY", dep.Accounts[2].PrivateKey)
	code, stdout, errs := cli(t, "", "wallet", "balance", "--token", "USDC")
	if code != 0 || !strings.Contains(stdout, "1,000,000 USDC") {
		t.Fatalf("balance over RPC: exit %d %q %q", code, stdout, errs)
	}
	// No policy: reading works, moving value is refused with how to fix it.
	code, _, errs = cli(t, "", "tools", "call", "wallet_transfer", `{"to":"`+dep.Accounts[3].Address.Hex()+`","token":"USDC","amount":"1"}`)
	if code != 2 || !strings.Contains(errs, "MANDATE_POLICY") {
		t.Fatalf("transfer without a policy (bad usage): exit %d %q", code, errs)
	}
	pol := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(pol, []byte(goodPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("MANDATE_POLICY", pol)
	t.Setenv("MANDATE_DB", "sqlite:"+filepath.Join(t.TempDir(), "m.db"))
	code, stdout, errs = cli(t, "", "tools", "call", "wallet_transfer", `{"to":"`+dep.Accounts[3].Address.Hex()+`","token":"USDC","amount":"1.5"}`)
	if code != 0 || !strings.Contains(stdout, "Sent 1.5 USDC") {
		t.Fatalf("transfer over RPC: exit %d %q %q", code, stdout, errs)
	}
}

// `mandate chat --devnet` with no key and no network: a balance, a transfer,
// a refusal with reasons, and after a restart the conversation goes on.
func TestChatDevnetOffline(t *testing.T) {
	cleanEnv(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	friend := "0x5f37D445AA287390a0795f71bF8633BC3241171C"
	in := "balance of USDC\nsend 10 USDC to " + friend + "\nsend 5000 USDC to " + friend + "\n"
	code, out, errs := cli(t, in, "chat", "--devnet", "--json")
	if code != 0 {
		t.Fatalf("chat exit %d: %s", code, errs)
	}
	var kinds []string
	var denied, mined bool
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		kind, _ := ev["kind"].(string)
		kinds = append(kinds, kind)
		if ev["decision"] == "deny" && ev["reasons"] != nil {
			denied = true
		}
		if ev["tx_status"] == "mined" {
			mined = true
		}
	}
	if !denied || !mined {
		t.Fatalf("want a mined transfer and a denial with reasons; events %v", kinds)
	}
	// A restart: a new process over the same default database.
	code, out, errs = cli(t, "what is my address\n", "chat", "--devnet", "--json")
	if code != 0 {
		t.Fatalf("second chat exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "wallet_address") {
		t.Fatalf("second run: %s", out)
	}
	chats, err := mandate.DevnetChatDB()
	if err != nil {
		t.Fatal(err)
	}
	st, err := memory.Open(context.Background(), chats)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := st.Chats().Count(context.Background(), "cli:default")
	if err != nil || n < 10 {
		t.Fatalf("the conversation holds %d messages after two runs (%v); both runs' turns should be there", n, err)
	}
}

// The same chat with a backend configured through MANDATE_LLM_BASE_URL: the
// router sends the conversation to it over the OpenAI protocol, and the
// model's tool call runs through the gate.
func TestChatWithBackend(t *testing.T) {
	cleanEnv(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	srv := llmtest.NewServer(t, llmtest.WithReplies(
		llmtest.Reply{ToolCalls: []llmtest.ToolCall{{Name: "wallet_transfer", Arguments: `{"to":"0x5f37D445AA287390a0795f71bF8633BC3241171C","token":"USDC","amount":"2000"}`}}},
		llmtest.Reply{Text: "The policy refused: 2,000 USDC is over the per-transfer limit.", Chunks: 3},
	))
	t.Setenv("MANDATE_LLM_BASE_URL", srv.URL())
	t.Setenv("MANDATE_LLM_MODEL", llmtest.DefaultModel)
	code, out, errs := cli(t, "pay my friend 2000 USDC\n", "chat", "--devnet", "--json")
	if code != 0 {
		t.Fatalf("chat exit %d: %s", code, errs)
	}
	if !strings.Contains(out, `"decision":"deny"`) || !strings.Contains(out, "limits.per_tx.USDC") || !strings.Contains(out, `"kind":"done"`) {
		t.Fatalf("events: %s", out)
	}
	reqs := srv.Requests()
	if len(reqs) != 2 || len(reqs[0].Tools) == 0 {
		t.Fatalf("%d requests to the backend; tools offered: %v", len(reqs), reqs[0].ToolNames())
	}
	if last := reqs[1].LastMessage(); last.Role != "tool" || !strings.Contains(last.Content, "limits.per_tx.USDC") {
		t.Fatalf("the model was not told the reasons: %+v", last)
	}
}

// A pasted megabyte is refused with a one-line error and the chat goes on.
func TestChatLongLine(t *testing.T) {
	cleanEnv(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	in := strings.Repeat("x", 1<<20) + "\nwhat is my address\n"
	code, out, errs := cli(t, in, "chat", "--devnet", "--json")
	if code != 0 || !strings.Contains(out, "message too long") || !strings.Contains(out, "wallet_address") {
		t.Fatalf("exit %d; %.300s / %.300s", code, out, errs)
	}
}

// The done-when from chat on the devnet: a quote, an ETH→USDC swap
// and a two-hop USDC→DAI swap that each receive exactly their quote, a swap
// beyond the policy's slippage refused with the reason, and a standing
// order placed, listed and cancelled.
func TestChatDevnetSwaps(t *testing.T) {
	cleanEnv(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	in := "quote 1000 USDC to DAI\nswap 0.5 ETH to USDC\nswap 1000 USDC to DAI\nswap 100 USDC to DAI with 5% slippage\n" +
		"sell 1 ETH for USDC when ETH is above 1000000\nmy orders\ncancel order 1\n"
	code, out, errs := cli(t, in, "chat", "--devnet", "--json")
	if code != 0 {
		t.Fatalf("chat exit %d: %s", code, errs)
	}
	var results []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", sc.Text())
		}
		if ev["kind"] == "tool_result" {
			results = append(results, ev)
		}
	}
	if len(results) != 7 {
		t.Fatalf("%d tool results, want 7:\n%s", len(results), out)
	}
	text := func(i int) string { s, _ := json.Marshal(results[i]); return string(s) }
	for i, want := range []string{"two", "exactly as quoted", "exactly as quoted", "swaps.max_slippage_bps", "Order #1 placed", "#1 open limit", "Order #1 cancelled"} {
		if want == "two" {
			if !strings.Contains(text(i), "WETH") {
				t.Errorf("the USDC→DAI quote does not route through WETH: %s", text(i))
			}
			continue
		}
		if !strings.Contains(text(i), want) {
			t.Errorf("result %d lacks %q: %s", i, want, text(i))
		}
	}
}

// Swaps and orders from `mandate tools call` and `mandate orders`, with
// their exit codes: a dry run the policy would refuse exits 1.
func TestCLISwapAndOrders(t *testing.T) {
	cleanEnv(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	code, out, errs := cli(t, "", "--devnet", "tools", "call", "dex_swap", `{"from":"USDC","to":"DAI","amount":"100"}`)
	if code != 0 || !strings.Contains(out, "exactly as quoted") || !strings.Contains(out, "WETH") {
		t.Fatalf("swap: exit %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = cli(t, "", "--devnet", "tools", "call", "--dry-run", "dex_swap", `{"from":"USDC","to":"DAI","amount":"100","slippage_bps":"500"}`)
	if code != 1 || !strings.Contains(out, "deny") {
		t.Errorf("dry run beyond the slippage: exit %d, %s", code, out)
	}
	code, _, errs = cli(t, "", "--devnet", "tools", "call", "dex_swap", `{"from":"USDC","to":"NOPE","amount":"1"}`)
	if code != 2 || strings.Count(strings.TrimSpace(keyLine.ReplaceAllString(errs, "")), "\n") != 0 { // one line besides the key's
		t.Errorf("unknown symbol: exit %d, %q", code, errs)
	}
	code, out, errs = cli(t, "", "--devnet", "--json", "orders", "list")
	if code != 0 || !strings.Contains(out, "No standing orders") {
		t.Errorf("orders list: exit %d, %s %s", code, out, errs)
	}
	code, _, errs = cli(t, "", "--devnet", "orders", "cancel", "7")
	if code != 2 || !strings.Contains(errs, "no order #7") {
		t.Errorf("cancel unknown: exit %d, %s", code, errs)
	}
}

// `mandate cosigner review`, the contract scripts and CI pipelines use:
// exit 0 approve, 1 reject (with reasons), 2 bad input; one JSON object.
func TestCosignerReview(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	friend := "0x3000000000000000000000000000000000000003"
	os.WriteFile(pol, []byte(`version: 1
chains: [42161]
recipients: {allow: ["`+friend+`"]}
limits: {per_tx: {ETH: "1"}, daily: {ETH: "2"}}
safe: {delegatecall: ["0x40A2aCCbd92BCA938b02010E17A5b8929b49130D"], self_calls: false, refund: false}
`), 0o600)
	safeAddr := "0x111CEEee040739fD91D29C34C33E6B3E112F2177"
	// The real transaction: the Safe adding an owner (a self call).
	addOwner := `{"to":"` + safeAddr + `","value":"0","data":"0x0d582f130000000000000000000000000c75fa5a5f1c0997e3eea425cfa13184ed0ec9e50000000000000000000000000000000000000000000000000000000000000003",
"operation":0,"safeTxGas":0,"baseGas":0,"gasPrice":"0","gasToken":"0x0000000000000000000000000000000000000000",
"refundReceiver":"0x0000000000000000000000000000000000000000","nonce":234,"safeTxHash":"0x0cb7250b8becd7069223c54e2839feaed4cee156363fbfe5dd0a48e75c4e25b3"}`
	pay := `{"to":"` + friend + `","value":"500000000000000000","data":null,"operation":0,"safeTxGas":"0","baseGas":"0","gasPrice":"0",
"gasToken":"0x0000000000000000000000000000000000000000","refundReceiver":"0x0000000000000000000000000000000000000000","nonce":"235"}`
	args := func(file string) []string {
		return []string{"--json", "cosigner", "review", "--policy", pol, "--chain-id", "42161", "--safe", safeAddr, "--safe-version", "1.3.0", file}
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	code, out, errs := cli(t, "", args(write("add.json", addOwner))...)
	var d map[string]any
	if err := json.Unmarshal([]byte(out), &d); err != nil || code != 1 || d["decision"] != "reject" ||
		d["safeTxHash"] != "0x0cb7250b8becd7069223c54e2839feaed4cee156363fbfe5dd0a48e75c4e25b3" || !strings.Contains(out, "safe.self_calls") {
		t.Fatalf("add owner: exit %d %s %s", code, out, errs)
	}
	code, out, errs = cli(t, "", args(write("pay.json", pay))...)
	if code != 0 || !strings.Contains(out, `"decision":"approve"`) || strings.Count(out, "\n") != 1 {
		t.Fatalf("payment: exit %d %s %s", code, out, errs)
	}
	code, out, _ = cli(t, pay, args("-")...)
	if code != 0 {
		t.Fatalf("stdin: exit %d %s", code, out)
	}
	code, _, errs = cli(t, "", args(write("bad.json", `{"to": "0x12"}`))...)
	if code != 2 || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Fatalf("bad input: exit %d %q", code, errs)
	}
}

// syncBuffer is a bytes.Buffer safe to read while another goroutine writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// `mandate cosigner --listen` on a devnet Safe: POST /v1/review approves
// and signs an allowed payment, refuses a threshold change, and turns away
// a request without the bearer token.
func TestCosignerServe(t *testing.T) {
	cleanEnv(t)
	d := devnettest.New(t)
	rpcURL, err := d.Serve(t.Context(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := devnettest.Account(t, d)
	b, _ := devnettest.Account(t, d)
	friend := "0x3000000000000000000000000000000000000003"
	safeAddr, err := d.NewSafe(t.Context(), []common.Address{m.Address, b.Address}, 2, big.NewInt(1e18), nil)
	if err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(t.TempDir(), "safe.yaml")
	os.WriteFile(pol, []byte(`version: 1
chains: [1337]
recipients: {allow: ["`+friend+`"]}
limits: {per_tx: {ETH: "1"}, daily: {ETH: "2"}}
safe: {delegatecall: [], self_calls: false, refund: false}
`), 0o600)
	const token = "a-long-random-token-for-the-test"
	t.Setenv("MANDATE_RPC_URL", rpcURL)
	t.Setenv("MANDATE_PRIVATE_KEY", m.PrivateKey)
	t.Setenv("MANDATE_POLICY", pol)
	t.Setenv("MANDATE_DB", "sqlite:"+filepath.Join(t.TempDir(), "c.db"))
	t.Setenv("MANDATE_COSIGNER_TOKEN", token)
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"cosigner", "--safe", safeAddr.Hex(), "--listen", "127.0.0.1:0"}, strings.NewReader(""), &stdout, &stderr)
	}()
	defer func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("cosigner exited %d: %s", code, stderr.String())
		}
	}()
	var url string
	for url == "" {
		if i := strings.Index(stderr.String(), "serving POST "); i >= 0 {
			rest := stderr.String()[i+len("serving POST "):]
			url = strings.TrimSpace(strings.SplitN(rest, "\n", 2)[0])
			break
		}
		select {
		case code := <-done:
			t.Fatalf("cosigner exited %d: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	zero := "0x0000000000000000000000000000000000000000"
	tx := func(to, value, data string, nonce int) string {
		return fmt.Sprintf(`{"safe":"%s","to":"%s","value":"%s","data":%s,"operation":0,"safeTxGas":0,"baseGas":0,"gasPrice":"0","gasToken":"%s","refundReceiver":"%s","nonce":%d}`,
			safeAddr.Hex(), to, value, data, zero, zero, nonce)
	}
	post := func(auth, body string) (int, map[string]any) {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, d1 := post(token, tx(friend, "100000000000000000", "null", 0))
	if code != 200 || d1["decision"] != "approve" || d1["signature"] == nil {
		t.Fatalf("payment: %d %v", code, d1)
	}
	code, d2 := post(token, tx(safeAddr.Hex(), "0", `"0x694e80c30000000000000000000000000000000000000000000000000000000000000001"`, 0))
	if code != 200 || d2["decision"] != "reject" || d2["signature"] != nil || !strings.Contains(fmt.Sprint(d2["reasons"]), "safe.self_calls") {
		t.Fatalf("threshold change: %d %v", code, d2)
	}
	if code, _ := post("", tx(friend, "1", "null", 0)); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
}

// A swap through the chat shows the policy's decision and the transaction,
// as a transfer does: the agent reads every tool's typed outcome.
func TestChatShowsSwapDecisionAndTx(t *testing.T) {
	cleanEnv(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	code, out, errs := cli(t, "swap 0.1 ETH to USDC\n", "chat", "--devnet", "--json")
	if code != 0 {
		t.Fatalf("chat exit %d: %s", code, errs)
	}
	var decision, tx bool
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		decision = decision || ev["kind"] == "decision" && ev["tool"] == "dex_swap" && ev["decision"] == "approve"
		tx = tx || ev["kind"] == "tx" && ev["tool"] == "dex_swap" && ev["tx_status"] == "mined"
	}
	if !decision || !tx {
		t.Fatalf("a swap through the chat: decision event %v, mined tx event %v\n%s", decision, tx, out)
	}
	code, out, errs = cli(t, "swap 0.1 ETH to USDC\n", "chat", "--devnet")
	if code != 0 || !strings.Contains(out, "ok approved by the policy") || !strings.Contains(out, "(mined)") {
		t.Fatalf("the chat's text shows no decision or transaction line for a swap: exit %d\n%s\n%s", code, out, errs)
	}
}
