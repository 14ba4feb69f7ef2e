package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCosignerExample runs the README's `mandate cosigner review` on the
// example policy and transaction in examples/cosigner: the payment is
// approved, and the same transaction paying more, paying someone else or
// carrying the hash of other fields is rejected.
func TestCosignerExample(t *testing.T) {
	dir, err := filepath.Abs(filepath.Join("..", "..", "examples", "cosigner"))
	if err != nil {
		t.Fatal(err)
	}
	cleanEnv(t)
	const safeAddr = "0x5afE0000000000000000000000000000000C0ffE"
	review := func(txFile string) (int, map[string]any, string) {
		t.Helper()
		code, out, errs := cli(t, "", "--json", "cosigner", "review", "--policy", filepath.Join(dir, "policy.yaml"),
			"--chain-id", "1", "--safe", safeAddr, txFile)
		var d map[string]any
		if code != 2 {
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("exit %d and stdout is not one JSON object: %q / %q", code, out, errs)
			}
		}
		return code, d, errs
	}
	raw, err := os.ReadFile(filepath.Join(dir, "tx.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tx map[string]any
	if err := json.Unmarshal(raw, &tx); err != nil {
		t.Fatalf("examples/cosigner/tx.json: %v", err)
	}

	code, d, errs := review(filepath.Join(dir, "tx.json"))
	if code != 0 || d["decision"] != "approve" || d["safeTxHash"] != tx["safeTxHash"] {
		t.Fatalf("the example: exit %d, %v %s", code, d, errs)
	}

	variant := func(name string, edit func(data string) string, keepHash bool) string {
		v := map[string]any{}
		for k, x := range tx {
			v[k] = x
		}
		v["data"] = edit(tx["data"].(string))
		if !keepHash {
			delete(v, "safeTxHash")
		}
		b, _ := json.Marshal(v)
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const amount250 = "000000000000000000000000000000000000000000000000000000000ee6b280"
	const amount2000 = "0000000000000000000000000000000000000000000000000000000077359400"
	const supplier, stranger = "5a1e500000000000000000000000000000000001", "5a1e500000000000000000000000000000000002"
	for _, tc := range []struct {
		name     string
		file     string
		code     int
		decision string
		reason   string
	}{
		{"over the limit", variant("more.json", func(s string) string { return strings.Replace(s, amount250, amount2000, 1) }, false), 1, "reject", "limits.per_tx.USDC"},
		{"another recipient", variant("other.json", func(s string) string { return strings.Replace(s, supplier, stranger, 1) }, false), 1, "reject", "recipients.allow"},
		{"a hash of other fields", variant("stale.json", func(s string) string { return strings.Replace(s, amount250, amount2000, 1) }, true), 1, "reject", "is not the hash of the transaction's fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, d, errs := review(tc.file)
			if code != tc.code || (tc.decision != "" && d["decision"] != tc.decision) {
				t.Fatalf("exit %d (want %d), %v %s", code, tc.code, d, errs)
			}
			b, _ := json.Marshal(d)
			if !strings.Contains(string(b)+errs, tc.reason) {
				t.Fatalf("the answer does not mention %s: %s %s", tc.reason, b, errs)
			}
		})
	}
}
