package policies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	const head = "version: 1\nchains: [1]\n"
	const usdcTok = "tokens:\n  USDC: {chain: 1, address: \"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\", decimals: 6}\n"
	tests := []struct {
		name string
		yaml string
		line int
		want string
	}{
		{"empty file", "", 0, "the file is empty; start it with version: 1"},
		{"not YAML", "version: 1\nchains: [1\n", 1, "not valid YAML"},
		{"two documents", head + "---\nversion: 1\n", 3, "a second YAML document on line 3"},
		{"alias", head + "recipients: {allow: &a [\"0x1111111111111111111111111111111111111111\"], deny: *a}\n", 3, "anchor or alias"},
		{"not a mapping", "- 1\n", 1, "the policy on line 1 is not a mapping"},
		{"missing version", "chains: [1]\n", 1, "has no version; start it with version: 1"},
		{"wrong version", "version: 2\nchains: [1]\n", 1, `version "2" on line 1 is not supported`},
		{"version as string", "version: \"1\"\nchains: [1]\n", 1, `version "1" on line 1 is not supported`},
		{"missing chains", "version: 1\n", 1, "has no chains"},
		{"unknown top-level key", head + "limit: {}\n", 3, `key "limit" on line 3 is not known here; use one of: version, chains`},
		{"unknown nested key", head + "limits:\n  per_txn: {ETH: \"1\"}\n", 4, `limits: key "per_txn" on line 4 is not known here; use one of: per_tx, daily, per_tx_usd, daily_usd`},
		{"duplicate key", head + "chains: [1]\n", 3, `key "chains" on line 3 is repeated (first on line 2); keep one`},
		{"duplicate nested key", head + "limits:\n  per_tx: {ETH: \"1\", ETH: \"2\"}\n", 4, `key "ETH" on line 4 is repeated`},
		{"chain zero", "version: 1\nchains: [0]\n", 2, `chain "0" on line 2 is not a chain`},
		{"chain name", "version: 1\nchains: [polygon]\n", 2, `chain "polygon" on line 2 is not a chain; write an EVM chain id such as 1 or 8453, or one of solana-mainnet`},
		{"chain twice", "version: 1\nchains: [1, 1]\n", 2, "chain 1 on line 2 is listed twice"},
		{"chains not a list", "version: 1\nchains: 1\n", 2, "chains on line 2 is not a list"},
		{"wrong checksum", head + "recipients: {allow: [\"0xa0B86991c6218b36c1d19D4a2e9Eb0cE3606eB48\"]}\n", 3, "address 0xa0B86991c6218b36c1d19D4a2e9Eb0cE3606eB48 on line 3 has a wrong checksum; check it against its source"},
		{"short address", head + "recipients: {deny: [\"0x1234\"]}\n", 3, `"0x1234" on line 3 is not an EVM address (0x and 40 hex digits) nor a Solana address`},
		{"bad solana address", head + "recipients: {deny: [\"not-base58-0OIl\"]}\n", 3, "nor a Solana address"},
		{"zero address", head + "recipients: {deny: [\"0x0000000000000000000000000000000000000000\"]}\n", 3, "is the zero address"},
		{"address as number", head + "contracts: {allow: [12]}\n", 3, "the address on line 3 is not text"},
		{"address twice", head + "contracts: {allow: [\"0x1111111111111111111111111111111111111111\", \"0x1111111111111111111111111111111111111111\"]}\n", 3, "is listed twice"},
		{"allowed and denied", head + "recipients:\n  allow: [\"0x1111111111111111111111111111111111111111\"]\n  deny: [\"0x1111111111111111111111111111111111111111\"]\n", 5, "is also in recipients.allow (line 4)"},
		{"token chain not in chains", head + "tokens:\n  USDC: {chain: 10, address: \"0x0b2C639c533813f4Aa9D7837CAf62653d097Ff85\", decimals: 6}\n", 4, "chain 10 on line 4 is not in chains"},
		{"token without decimals", head + "tokens:\n  USDC: {chain: 1, address: \"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\"}\n", 4, "lacks chain or decimals"},
		{"token decimals too big", head + "tokens:\n  USDC: {chain: 1, address: \"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\", decimals: 99}\n", 4, "value 99 on line 4 is out of range; write a number from 0 to 77"},
		{"token named ETH", head + "tokens:\n  ETH: {chain: 1, address: \"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\", decimals: 18}\n", 4, "names a native coin"},
		{"token with mint on EVM", head + "tokens:\n  USDC: {chain: 1, mint: \"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v\", decimals: 6}\n", 4, "mint on line 4 is for Solana tokens"},
		{"solana token with address", "version: 1\nchains: [solana-devnet]\ntokens:\n  USDC: {chain: solana-devnet, address: \"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\", decimals: 6}\n", 4, "address on line 4 is for EVM tokens"},
		{"two symbols one token", head + usdcTok + "  USDC2: {chain: 1, address: \"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48\", decimals: 6}\n", 5, "has the same address as USDC (line 4)"},
		{"too many decimals", head + usdcTok + "limits:\n  per_tx: {USDC: \"1.0000001\"}\n", 6, `limits.per_tx.USDC: amount "1.0000001" on line 6 has 7 decimal places but USDC has 6; write at most 6`},
		{"negative amount", head + usdcTok + "limits:\n  daily: {USDC: \"-1\"}\n", 6, `amount "-1" on line 6 is negative`},
		{"negative number", head + "limits:\n  per_tx: {ETH: -1}\n", 4, `amount "-1" on line 4 is negative`},
		{"not a number", head + "limits:\n  per_tx: {ETH: \"lots\"}\n", 4, `amount "lots" on line 4 is not a plain decimal number`},
		{"exponent", head + "limits:\n  per_tx: {ETH: 1e3}\n", 4, `amount "1e3" on line 4 has an exponent`},
		{"amount with separator", head + "limits:\n  per_tx: {ETH: \"1,000\"}\n", 4, "is not a plain decimal number"},
		{"amount empty", head + "limits:\n  per_tx: {ETH: \"\"}\n", 4, "the amount on line 4 is empty"},
		{"amount null", head + "limits:\n  per_tx: {ETH: }\n", 4, "is not a number"},
		{"USD too precise", head + "limits:\n  per_tx_usd: 1.0000001\n", 4, "has 7 decimal places"},
		{"USD not a number", head + "limits:\n  daily_usd: [1]\n", 4, "the amount on line 4 is not a number"},
		{"unknown symbol", head + "limits:\n  per_tx: {FOO: \"1\"}\n", 4, `limits.per_tx: symbol "FOO" on line 4 is not in tokens; define it under tokens`},
		{"SOL on EVM only", head + "limits:\n  per_tx: {SOL: \"1\"}\n", 4, "symbol SOL on line 4 is the native coin of no chain in chains"},
		{"approval max for ETH", head + "approvals: {max: {ETH: \"1\"}}\n", 3, "is a native coin, which is never approved"},
		{"unlimited not bool", head + "approvals: {unlimited: \"yes\"}\n", 3, `value "yes" on line 3 is not true or false`},
		{"swaps incomplete", head + "swaps: {max_slippage_bps: 50}\n", 3, "lacks max_slippage_bps or max_deadline_seconds"},
		{"slippage too big", head + "swaps: {max_slippage_bps: 10001, max_deadline_seconds: 60}\n", 3, "value 10001 on line 3 is out of range"},
		{"slippage not int", head + "swaps: {max_slippage_bps: 1.5, max_deadline_seconds: 60}\n", 3, `value "1.5" on line 3 is not a whole number`},
		{"ask without threshold", head + "ask: {}\n", 3, "has no above_usd"},
		{"delegatecall to solana", head + "safe: {delegatecall: [\"EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v\"]}\n", 3, "is not an EVM address"},
		{"rules not a list", head + "rules: {}\n", 3, "rules on line 3 is not a list"},
		{"rule without reason", head + "rules:\n  - {name: a, deny_if: 'true'}\n", 4, "lacks name, deny_if or reason"},
		{"rule unknown key", head + "rules:\n  - {name: a, deny_if: 'true', reason: r, when: x}\n", 4, `key "when" on line 4 is not known here`},
		{"rule names repeated", head + "rules:\n  - {name: a, deny_if: 'true', reason: r}\n  - {name: a, deny_if: 'false', reason: r}\n", 5, `rule "a" on line 5 repeats the name of the rule on line 4`},
		{"rule does not compile", head + "rules:\n  - name: broken\n    deny_if: 'intent.kind =='\n    reason: r\n", 5, `rules.broken: rule "broken" on line 5 does not compile: column`},
		{"rule unknown variable", head + "rules:\n  - {name: who, deny_if: 'user == \"bob\"', reason: r}\n", 4, `rule "who" on line 4 does not compile: column 1: undeclared reference to 'user'`},
		{"rule not bool", head + "rules:\n  - {name: nb, deny_if: 'intent.kind', reason: r}\n", 4, "it has type string, but deny_if must be a bool"},
		{"rule int", head + "rules:\n  - {name: ni, deny_if: '1 + 2', reason: r}\n", 4, "it has type int"},
		{"rule decimal misuse", head + "rules:\n  - {name: dm, deny_if: 'decimal(\"1\") < 2', reason: r}\n", 4, "does not compile"},
		{"rule name not text", head + "rules:\n  - {name: [x], deny_if: 'true', reason: r}\n", 4, "the name on line 4 is not text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("parsed:\n%s", p.Summary())
			}
			pe, ok := errors.AsType[*ParseError](err)
			if !ok {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error:\n  %s\nwant it to contain:\n  %s", err, tt.want)
			}
			if pe.Line != tt.line {
				t.Fatalf("line %d, want %d (%s)", pe.Line, tt.line, err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	p, err := Load("testdata/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Chains(); !slices.Equal(got, []string{"1", "1337"}) {
		t.Fatalf("chains %v", got)
	}
	if tok, ok := p.Token("1", "USDC"); !ok || tok != usdc {
		t.Fatalf("Token(1, USDC) = %v %v", tok, ok)
	}
	if tok, ok := p.Token("1337", "ETH"); !ok || tok != (Token{Symbol: "ETH", Decimals: 18}) {
		t.Fatalf("Token(1337, ETH) = %v %v", tok, ok)
	}
	if _, ok := p.Token("1337", "USDC"); ok {
		t.Fatal("USDC is defined on chain 1 only")
	}
	if bps, d, ok := p.SwapBounds(); !ok || bps != 100 || d.Seconds() != 1800 {
		t.Fatalf("SwapBounds = %d %v %v", bps, d, ok)
	}
	for _, want := range []string{"limit per tx: 1,000 USDC", "kinds allowed: transfer, approve, swap, call, safe_tx", "rule no-weekend-swaps"} {
		if !strings.Contains(p.Summary(), want) {
			t.Fatalf("summary lacks %q:\n%s", want, p.Summary())
		}
	}

	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("version: 1\nchains: [1]\nlimits: {per_tx: {ETH: \"0.1234567890123456789\"}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(bad)
	pe, ok := errors.AsType[*ParseError](err)
	if !ok || pe.File != bad || !strings.HasPrefix(err.Error(), bad+": limits.per_tx.ETH: ") {
		t.Fatalf("Load error %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

func TestSolanaPolicy(t *testing.T) {
	const mint = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
	const friend = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
	p, err := Parse([]byte(`version: 1
chains: [solana-devnet, 1337]
tokens:
  USDC: {chain: solana-devnet, mint: "` + mint + `", decimals: 6}
recipients: {allow: ["` + friend + `", "0x1111111111111111111111111111111111111111"]}
limits:
  per_tx: {SOL: "2", USDC: "100", ETH: "1"}
`))
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := newTestEngine(t, p, wednesday)
	ctx := context.Background()
	sol := Token{Symbol: "SOL", Decimals: 9}
	solHdr := Header{Chain: "solana-devnet", From: "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"}
	ok := []Intent{
		Transfer{Header: solHdr, To: friend, Token: sol, Amount: units("2", 9)},
		Transfer{Header: solHdr, To: friend, Token: Token{Symbol: "USDC", Address: mint, Decimals: 6}, Amount: units("100", 6)},
		transfer(eth, alice, "1"), // on chain 1337 below
	}
	ok[2] = func() Transfer { x := ok[2].(Transfer); x.Chain = "1337"; return x }()
	for i, in := range ok {
		if _, err := eng.Decide(ctx, in); err != nil {
			t.Fatalf("intent %d: %v", i, err)
		}
	}
	denied := map[string]Intent{
		"limits.per_tx.SOL": Transfer{Header: solHdr, To: friend, Token: sol, Amount: units("2.000000001", 9)},
		// Base58 is case-sensitive: a mint differing only in case is another token.
		"tokens": Transfer{Header: solHdr, To: friend, Token: Token{Address: strings.ToLower(mint), Decimals: 6}, Amount: big1()},
		// So is a recipient.
		"recipients.allow": Transfer{Header: solHdr, To: strings.ToUpper(friend[:1]) + strings.ToLower(friend[1:]), Token: sol, Amount: big1()},
	}
	for rule, in := range denied {
		_, err := eng.Decide(ctx, in)
		if d, rules := outcome(t, err); d != DecisionDeny || !slices.Contains(rules, rule) {
			t.Fatalf("%s: got %s %v", rule, d, rules)
		}
	}
}

// encodePolicy writes a parsed policy back as YAML, from the compiled form:
// a policy that parses must encode to text that parses to the same policy.
func encodePolicy(p *Policy) string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	var b strings.Builder
	b.WriteString("version: 1\nchains: [")
	for i, c := range p.chains {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(q(c))
	}
	b.WriteString("]\n")
	if len(p.tokens) > 0 {
		b.WriteString("tokens:\n")
		for _, t := range p.tokens {
			k := "address"
			if p.families[t.chain] == familySolana {
				k = "mint"
			}
			fmt.Fprintf(&b, "  %s: {chain: %s, %s: %s, decimals: %d}\n", q(t.symbol), q(t.chain), k, q(t.address), t.decimals)
		}
	}
	set := func(m map[string]bool) string {
		var out []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			out = append(out, q(k))
		}
		return "[" + strings.Join(out, ", ") + "]"
	}
	if p.recipients {
		b.WriteString("recipients: {")
		var parts []string
		if p.recipAllow != nil {
			parts = append(parts, "allow: "+set(p.recipAllow))
		}
		if p.recipDeny != nil {
			parts = append(parts, "deny: "+set(p.recipDeny))
		}
		b.WriteString(strings.Join(parts, ", ") + "}\n")
	}
	if p.contracts {
		if p.contractAllow != nil {
			b.WriteString("contracts: {allow: " + set(p.contractAllow) + "}\n")
		} else {
			b.WriteString("contracts: {}\n")
		}
	}
	amounts := func(get func(*tokenSpec) (v string, ok bool)) string {
		var out []string
		for _, t := range p.limitSpecs() {
			if v, ok := get(t); ok {
				out = append(out, q(t.symbol)+": "+q(v))
			}
		}
		return "{" + strings.Join(out, ", ") + "}"
	}
	if p.limits {
		b.WriteString("limits:\n")
		fmt.Fprintf(&b, "  per_tx: %s\n", amounts(func(t *tokenSpec) (string, bool) { return formatUnits(t.perTx, t.decimals, false), t.perTx != nil }))
		fmt.Fprintf(&b, "  daily: %s\n", amounts(func(t *tokenSpec) (string, bool) { return formatUnits(t.daily, t.decimals, false), t.daily != nil }))
		if p.perTxUSD != nil {
			fmt.Fprintf(&b, "  per_tx_usd: %s\n", q(formatUnits(p.perTxUSD, usdDecimals, false)))
		}
		if p.dailyUSD != nil {
			fmt.Fprintf(&b, "  daily_usd: %s\n", q(formatUnits(p.dailyUSD, usdDecimals, false)))
		}
	}
	if p.approvals {
		spenders := ""
		if p.spenders != nil {
			spenders = ", spenders: " + set(p.spenders)
		}
		fmt.Fprintf(&b, "approvals: {max: %s, unlimited: %t%s}\n", amounts(func(t *tokenSpec) (string, bool) {
			return formatUnits(t.approveMax, t.decimals, false), t.approveMax != nil
		}), p.unlimited, spenders)
	}
	if s := p.swaps; s != nil {
		loss := ""
		if s.maxLossBps >= 0 {
			loss = fmt.Sprintf(", max_loss_bps: %d", s.maxLossBps)
		}
		fmt.Fprintf(&b, "swaps: {max_slippage_bps: %d, max_deadline_seconds: %d%s}\n", s.maxSlippageBps, s.maxDeadline, loss)
	}
	if p.askUSD != nil {
		fmt.Fprintf(&b, "ask: {above_usd: %s}\n", q(formatUnits(p.askUSD, usdDecimals, false)))
	}
	if s := p.safe; s != nil {
		fmt.Fprintf(&b, "safe: {delegatecall: %s, self_calls: %t, refund: %t}\n", set(s.delegatecall), s.selfCalls, s.refund)
	}
	if len(p.rules) > 0 {
		b.WriteString("rules:\n")
		for _, r := range p.rules {
			fmt.Fprintf(&b, "  - {name: %s, deny_if: %s, reason: %s}\n", q(r.name), q(r.source), q(r.reason))
		}
	}
	return b.String()
}

func TestEncodePolicyRoundTrip(t *testing.T) {
	p := mustPolicy(t)
	enc := encodePolicy(p)
	p2, err := Parse([]byte(enc))
	if err != nil {
		t.Fatalf("%v\n%s", err, enc)
	}
	if enc2 := encodePolicy(p2); enc2 != enc || p2.Summary() != p.Summary() {
		t.Fatalf("round trip differs:\n%s\n%s", enc, enc2)
	}
}

// FuzzParse feeds arbitrary YAML to Parse. It must not panic, errors must be
// one line, and an accepted policy must re-encode to text that parses to
// the same policy.
func FuzzParse(f *testing.F) {
	f.Add([]byte(policyText()))
	f.Add([]byte("version: 1\nchains: [solana-local]\ntokens:\n  USDC: {chain: solana-local, mint: \"4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU\", decimals: 6}\nlimits: {per_tx: {SOL: \"1.5\", USDC: 7}}\n"))
	f.Add([]byte("version: 1\nchains: [1]\nrules:\n  - {name: a, deny_if: 'decimal(intent.amount) >= decimal(\"0.1\") + decimal(2)', reason: r}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		enc := encodePolicy(p)
		p2, err := Parse([]byte(enc))
		if err != nil {
			t.Fatalf("re-encoded policy does not parse: %v\n%s", err, enc)
		}
		if enc2 := encodePolicy(p2); enc2 != enc {
			t.Fatalf("round trip differs:\n%s\n%s", enc, enc2)
		}
	})
}
