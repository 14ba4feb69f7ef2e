package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyCheckWarnings: `mandate policy check` exits 0 on a valid policy
// and prints its likely mistakes to stderr, one "warning: FILE:LINE: …"
// line each (and under "warnings" with --json); a rule naming a field or
// kind that does not exist is refused with exit 2 and its line.
func TestPolicyCheckWarnings(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const head = `version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "0xDb4290A910C4c6d156a6349F0f8D0C95b63Ba9f4", decimals: 6}
`
	clean := write("clean.yaml", head+`limits:
  per_tx: {ETH: "1", USDC: "100"}
  daily: {ETH: "3", USDC: "500"}
  per_tx_usd: 1000
approvals: {max: {USDC: "100"}}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800, max_loss_bps: 300}
rules:
  - {name: small-swaps, deny_if: 'intent.kind == "swap" && intent.amount_in > decimal("0.5")', reason: "small swaps only"}
`)
	risky := write("risky.yaml", head+`limits:
  per_tx: {USDC: "100"}
approvals: {max: {USDC: "100"}}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800}
`)
	solana := write("solana.yaml", `version: 1
chains: [solana-devnet]
limits:
  per_tx: {SOL: "1"}
  daily: {SOL: "2"}
  per_tx_usd: 100
`)
	typo := write("typo.yaml", head+`limits:
  per_tx: {USDC: "100"}
rules:
  - name: big-transfers
    deny_if: 'intent.kind == "transfer" && intent.amout > decimal("50")'
    reason: "no big transfers"
`)
	kind := write("kind.yaml", head+`limits:
  per_tx: {USDC: "100"}
rules:
  - {name: never, deny_if: 'intent.kind == "tranfser"', reason: x}
`)
	unguarded := write("unguarded.yaml", head+`limits:
  per_tx: {USDC: "100"}
rules:
  - {name: slip, deny_if: 'intent.slippage_bps > 50', reason: x}
`)

	for _, tc := range []struct {
		name     string
		file     string
		code     int
		stderr   []string // lines stderr must have
		noStderr bool
	}{
		{"clean", clean, 0, nil, true},
		{"risky", risky, 0, []string{
			"warning: " + risky + ":7: approvals.max.USDC: USDC may be approved, but nothing bounds it per day",
			"warning: " + risky + ":8: swaps: there is no max_loss_bps",
		}, false},
		{"USD limit without a price source", solana, 0, []string{
			"warning: " + solana + ":6: limits.per_tx_usd: needs a USD price source and no chain of the policy has one, so every intent it applies to is denied",
		}, false},
		{"typo in a field", typo, 2, []string{`rule "big-transfers" on line 9 does not compile: column 36: field amout does not exist on transfer intents; did you mean amount?`}, false},
		{"unknown kind", kind, 2, []string{`rule "never" on line 8 does not compile: column 16: intent kind "tranfser" does not exist; use one of transfer, approve, swap, call, safe_tx`}, false},
		{"field of another kind", unguarded, 2, []string{`rule "slip" on line 8 does not compile: column 7: field slippage_bps exists only on swap intents`}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := cli(t, "", "policy", "check", tc.file)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; %q / %q", code, tc.code, out, errs)
			}
			if code == 0 && !strings.Contains(out, tc.file+": ok") {
				t.Fatalf("stdout %q lacks ok", out)
			}
			if tc.noStderr && errs != "" {
				t.Fatalf("stderr %q, want none", errs)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(errs, want) {
					t.Fatalf("stderr %q\nlacks %q", errs, want)
				}
			}
			if code == 0 && strings.Count(errs, "\n") != len(tc.stderr) {
				t.Fatalf("stderr has %d lines, want %d: %q", strings.Count(errs, "\n"), len(tc.stderr), errs)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		code, out, _ := cli(t, "", "--json", "policy", "check", risky)
		var obj struct {
			OK       bool   `json:"ok"`
			File     string `json:"file"`
			Warnings []struct {
				Line  int    `json:"line"`
				Field string `json:"field"`
				Text  string `json:"text"`
			} `json:"warnings"`
		}
		dec := json.NewDecoder(strings.NewReader(out))
		if err := dec.Decode(&obj); err != nil || dec.More() {
			t.Fatalf("stdout is not one JSON object: %q (%v)", out, err)
		}
		if code != 0 || !obj.OK || obj.File != risky || len(obj.Warnings) != 2 ||
			obj.Warnings[0].Line != 7 || obj.Warnings[0].Field != "approvals.max.USDC" || obj.Warnings[1].Field != "swaps" {
			t.Fatalf("exit %d, %+v", code, obj)
		}
		code, out, _ = cli(t, "", "--json", "policy", "check", clean)
		if code != 0 || !strings.Contains(out, `"warnings":[]`) {
			t.Fatalf("clean policy: exit %d, %q; want an empty warnings list", code, out)
		}
	})
}
