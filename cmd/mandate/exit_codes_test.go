package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
)

// TestExitCodesConfiguration: what the user has not set up, or set up
// wrong, is bad usage (exit 2) on every command, as a missing key is; a
// denial or a failed action is 1. A denial's reasons are printed once,
// one line each.
func TestExitCodesConfiguration(t *testing.T) {
	cleanEnv(t)
	d := devnettest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rpc, err := d.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	key := d.Accounts()[2].PrivateKey
	friend := d.Accounts()[3].Address.Hex()
	transfer := `{"to":"` + friend + `","token":"ETH","amount":"0.5"}`
	chain := []string{"MANDATE_RPC_URL=" + rpc, "MANDATE_DB=sqlite:" + filepath.Join(dir, "m.db")}
	withKey := append([]string{"MANDATE_PRIVATE_KEY=" + key}, chain...)

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string // on stderr
	}{
		{"no policy: transfer", withKey, []string{"tools", "call", "wallet_transfer", transfer}, 2, "MANDATE_POLICY"},
		{"no policy: dry run", withKey, []string{"tools", "call", "wallet_transfer", transfer, "--dry-run"}, 2, "MANDATE_POLICY"},
		{"no policy: swap", withKey, []string{"tools", "call", "dex_swap", `{"from":"ETH","to":"USDC","amount":"0.1"}`}, 2, "MANDATE_POLICY"},
		{"missing policy file: transfer", append([]string{"MANDATE_POLICY=" + missing}, withKey...), []string{"tools", "call", "wallet_transfer", transfer}, 2, "missing.yaml"},
		{"missing policy file: balance", append([]string{"MANDATE_POLICY=" + missing}, withKey...), []string{"wallet", "balance"}, 2, "missing.yaml"},
		{"missing policy file: chat", append([]string{"MANDATE_POLICY=" + missing}, withKey...), []string{"chat"}, 2, "missing.yaml"},
		{"missing policy file: orders", append([]string{"MANDATE_POLICY=" + missing}, withKey...), []string{"orders", "list"}, 2, "missing.yaml"},
		{"missing policy file: co-signer", nil, []string{"cosigner", "review", "--policy", missing, "--chain-id", "1", "--safe", friend, "-"}, 2, "missing.yaml"},
		{"missing policy file: check", nil, []string{"policy", "check", missing}, 2, "missing.yaml"},
		{"missing policy file: eval", nil, []string{"policy", "eval", missing, missing}, 2, "missing.yaml"},
		{"missing key", append([]string{"MANDATE_KEYSTORE=" + filepath.Join(dir, "keys"), "MANDATE_POLICY=" + filepath.Join(dir, "p.yaml")}, chain...),
			[]string{"tools", "call", "wallet_transfer", transfer}, 2, "mandate wallet new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, kv := range tc.env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			writeFile(t, filepath.Join(dir, "p.yaml"), "version: 1\nchains: [1337]\nlimits:\n  per_tx: {ETH: \"1\"}\n")
			code, out, errs := cli(t, "", tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d (want %d); %q / %q; want stderr to mention %q", code, tc.code, out, errs, tc.want)
			}
			if strings.Contains(errs, "mandate: mandate:") {
				t.Fatalf("the error says mandate twice: %q", errs)
			}
			if strings.Count(strings.TrimSpace(errs), "\n") > 1 { // the idempotency key's line, then the error
				t.Fatalf("bad usage is not said in one line: %q", errs)
			}
			code, out, _ = cli(t, "", append([]string{"--json"}, tc.args...)...)
			var obj struct {
				OK    bool   `json:"ok"`
				Error string `json:"error"`
			}
			if code != tc.code || json.Unmarshal([]byte(out), &obj) != nil || obj.OK || obj.Error == "" {
				t.Fatalf("--json: exit %d, %q", code, out)
			}
		})
	}

	t.Run("denial", func(t *testing.T) {
		t.Setenv("MANDATE_PRIVATE_KEY", key)
		for _, kv := range chain {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		pol := filepath.Join(dir, "deny.yaml")
		writeFile(t, pol, "version: 1\nchains: [1337]\nrecipients: {deny: [\""+friend+"\"]}\nlimits:\n  per_tx: {ETH: \"1\"}\n")
		t.Setenv("MANDATE_POLICY", pol)
		code, _, errs := cli(t, "", "tools", "call", "wallet_transfer", `{"to":"`+friend+`","token":"ETH","amount":"2"}`)
		if code != 1 {
			t.Fatalf("denial: exit %d, %q", code, errs)
		}
		for _, rule := range []string{"recipients.deny", "limits.per_tx.ETH"} {
			if n := strings.Count(errs, "(rule "+rule+")"); n != 1 {
				t.Fatalf("reason %s printed %d times:\n%s", rule, n, errs)
			}
		}
		if !strings.Contains(errs, "mandate: denied by the policy:\n  - ") {
			t.Fatalf("the reasons are not one a line:\n%s", errs)
		}
		code, _, errs = cli(t, "", "tools", "call", "wallet_transfer", `{"to":"`+friend+`","token":"ETH","amount":"0.5"}`)
		if code != 1 || !strings.Contains(errs, "mandate: denied: recipient "+friend) || strings.Count(errs, "(rule recipients.deny)") != 1 {
			t.Fatalf("a denial with one reason: exit %d, %q", code, errs)
		}
	})
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
