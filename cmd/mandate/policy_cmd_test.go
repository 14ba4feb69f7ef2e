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

// TestPolicyEvalIntent: `mandate policy eval` reads the arguments a tool
// takes, with amounts in token units and tokens by symbol or listed
// address, and still reads the base-unit form the tools print; a number
// where a decimal string belongs is refused rather than read as base units.
func TestPolicyEvalIntent(t *testing.T) {
	example, err := filepath.Abs(filepath.Join("..", "..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	cleanEnv(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const friend, contract = "0x5f37D445AA287390a0795f71bF8633BC3241171C", "0x3000000000000000000000000000000000000003"
	pol := write("policy.yaml", `version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "0xDb4290A910C4c6d156a6349F0f8D0C95b63Ba9f4", decimals: 6}
  DAI: {chain: 1337, address: "0xba452707a0DF450D0c67519b7e9B5A5b63CDDd45", decimals: 18}
limits:
  per_tx: {ETH: "1", USDC: "100", DAI: "100"}
approvals: {max: {USDC: "50"}}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800}
contracts: {allow: ["`+contract+`"]}
`)
	twoChains := write("two.yaml", "version: 1\nchains: [1, 1337]\nlimits:\n  per_tx: {ETH: \"1\"}\n")
	transfer := func(token, amount string) string {
		return `{"kind": "transfer", "to": "` + friend + `", "token": "` + token + `", "amount": ` + amount + `}`
	}
	swap := func(extra string) string {
		return `{"kind": "swap", "from": "ETH", "to": "USDC", "amount": "0.5"` + extra + `}`
	}
	baseUnits := `{"amount":"100000000","chain":"1337","from":"0x7f72B86b4c03ebf5C5C1b3a8902B54CE3A2C5Cc0","kind":"transfer","to":"` + friend +
		`","token":{"symbol":"USDC","address":"0xDb4290A910C4c6d156a6349F0f8D0C95b63Ba9f4","decimals":6}}`
	for _, tc := range []struct {
		name, policy, intent string
		code                 int
		want                 []string // in stdout+stderr
	}{
		{"transfer at the limit", pol, transfer("USDC", `"100"`), 0, []string{"intent: transfer 100 USDC to " + friend + " on chain 1337", "decision: approve"}},
		{"transfer over the limit", pol, transfer("USDC", `"100.000001"`), 1, []string{"decision: deny", "limits.per_tx.USDC"}},
		{"token by its address", pol, transfer("0xdb4290a910c4c6d156a6349f0f8d0c95b63ba9f4", `"100"`), 0, []string{"transfer 100 USDC"}},
		{"symbol in lower case", pol, transfer("usdc", `"1.5"`), 0, []string{"transfer 1.5 USDC"}},
		{"native coin", pol, transfer("ETH", `"1.5"`), 1, []string{"transfer 1.5 ETH", "limits.per_tx.ETH"}},
		{"approve", pol, `{"kind": "approve", "token": "USDC", "spender": "` + contract + `", "amount": "50"}`, 0, []string{"approve 50 USDC for " + contract}},
		{"approve over the maximum", pol, `{"kind": "approve", "token": "USDC", "spender": "` + contract + `", "amount": "50.5"}`, 1, []string{"approvals.max.USDC"}},
		{"approve unlimited", pol, `{"kind": "approve", "token": "USDC", "spender": "` + friend + `", "amount": "unlimited"}`, 1, []string{"approve unlimited USDC", "approvals.unlimited"}},
		{"swap", pol, swap(`, "quoted": "1500"`), 0, []string{"swap 0.5 ETH for at least 1492.5 USDC (quoted 1500, slippage 50 bps)", "decision: approve"}},
		{"swap over the slippage", pol, swap(`, "quoted": "1500", "slippage_bps": 500`), 1, []string{"swaps.max_slippage_bps"}},
		{"swap without a quote", pol, swap(``), 2, []string{`give "quoted"`}},
		{"call", pol, `{"kind": "call", "to": "` + contract + `", "value": "0.1", "data": "0xdeadbeef"}`, 0, []string{"call " + contract + " with 0.1 ETH and 4 bytes of data"}},
		{"call elsewhere", pol, `{"kind": "call", "to": "` + friend + `", "data": "0xdeadbeef"}`, 1, []string{"contracts"}},
		{"a number amount", pol, transfer("USDC", `100`), 2, []string{`"amount" is 100: write it as a decimal string in token units`}},
		{"unknown symbol", pol, transfer("PEPE", `"1"`), 2, []string{`unknown token symbol "PEPE" on chain 1337; the policy knows DAI, ETH, USDC`}},
		{"unlisted address", pol, transfer("0x4000000000000000000000000000000000000004", `"1"`), 2, []string{"is not under the policy's tokens: on chain 1337"}},
		{"bad checksum", pol, `{"kind": "transfer", "to": "0x5F37D445AA287390a0795f71bF8633BC3241171C", "token": "USDC", "amount": "1"}`, 2, []string{"checksum"}},
		{"unknown field", pol, `{"kind": "transfer", "to": "` + friend + `", "token": "USDC", "amount": "1", "memo": "x"}`, 2, []string{`unknown field "memo"`}},
		{"chain needed", twoChains, transfer("ETH", `"0.5"`), 2, []string{`give "chain": the policy names 1, 1337`}},
		{"chain given", twoChains, `{"kind": "transfer", "chain": "1", "to": "` + friend + `", "token": "ETH", "amount": "0.5"}`, 0, []string{"on chain 1"}},
		{"base-unit form", pol, baseUnits, 0, []string{"transfer 100 USDC", "decision: approve"}},
		{"base-unit account in the tool form", pol, `{"kind": "transfer", "from": "` + friend + `", "to": "` + friend + `", "token": "USDC", "amount": "1"}`, 2, []string{`it is "wallet"`}},
		{"the README's example", filepath.Join(example, "policy.yaml"), "@" + filepath.Join(example, "intents", "transfer.json"), 0, []string{"transfer 250 USDC", "decision: approve"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := strings.TrimPrefix(tc.intent, "@")
			if file == tc.intent {
				file = write("intent.json", tc.intent)
			}
			code, out, errs := cli(t, "", "policy", "eval", tc.policy, file)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; %q / %q", code, tc.code, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(out+errs, w) {
					t.Fatalf("output %q / %q lacks %q", out, errs, w)
				}
			}
			if code == 2 && strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Fatalf("bad input is not said in one line: %q", errs)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		code, out, _ := cli(t, "", "--json", "policy", "eval", pol, write("big.json", transfer("USDC", `"101"`)))
		var rep struct {
			Decision string `json:"decision"`
			Reasons  []struct {
				Rule string `json:"rule"`
			} `json:"reasons"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.Decision != "deny" || len(rep.Reasons) == 0 {
			t.Fatalf("exit %d, %q (%v)", code, out, err)
		}
	})

	t.Run("help", func(t *testing.T) {
		code, out, _ := cli(t, "", "policy", "eval", "--help")
		if code != 0 || !strings.Contains(out, `{"kind": "transfer", "to": "0x…", "token": "USDC", "amount": "250"}`) || !strings.Contains(out, "base-unit form") {
			t.Fatalf("--help does not document the intent file: %q", out)
		}
	})
}
