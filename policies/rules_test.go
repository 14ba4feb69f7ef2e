package policies

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestRules evaluates single-rule policies: the rule denies exactly when its
// expression is true, and fails closed when it cannot be evaluated.
func TestRules(t *testing.T) {
	swap := swapETHForUSDC(wednesday)
	var many []Intent
	for range 60 {
		many = append(many, transfer(eth, alice, "0.001"))
	}
	tests := []struct {
		name, expr string
		in         Intent
		deny       bool
		errText    string // for an evaluation error
	}{
		{"decimals compare exactly", `decimal("1.10") == decimal("1.1")`, nil, true, ""},
		{"no float rounding", `decimal("0.1") + decimal("0.2") == decimal("0.3")`, nil, true, ""},
		{"subtraction", `decimal("2") - decimal("3") < decimal(0)`, nil, true, ""},
		{"not equal", `decimal("1") != decimal("1.0")`, nil, false, ""},
		{"int decimal", `decimal(3) >= decimal("3.000")`, nil, true, ""},
		{"amount below", `decimal(intent.amount) > decimal("0.1")`, nil, false, ""},
		{"amount at one wei above", `decimal(intent.amount) >= decimal("0.100000000000000001")`, nil, false, ""},
		{"amount at", `decimal(intent.amount) >= decimal("0.1")`, nil, true, ""},
		{"transfer keys", `intent.kind == "transfer" && intent.chain == "1" && intent.from == "` + wallet + `" && intent.to == "` + alice + `" && intent.token == "ETH" && intent.token_address == ""`, nil, true, ""},
		{"swap keys", `intent.kind == "swap" && intent.venue == "uniswap-v3" && intent.token_in == "ETH" && intent.token_out == "USDC" && intent.amount_in == "0.1" && intent.min_out == "99" && intent.quoted == "100" && intent.slippage_bps == 100 && intent.deadline > 0 && intent.recipient == intent.from`, swap, true, ""},
		{"approve keys", `intent.kind == "approve" && intent.spender == "` + router + `" && intent.method == "approve" && !intent.unlimited && intent.token == "USDC" && intent.amount == "5"`, approveUSDC(router, "5"), true, ""},
		{"call keys", `intent.kind == "call" && intent.selector == "0x01020304" && intent.value == "0.5" && intent.token == "ETH"`, ContractCall{Header: hdr(), To: router, Value: units("0.5", 18), Data: HexBytes{1, 2, 3, 4}, Selector: "0x01020304"}, true, ""},
		{"safe keys", `intent.kind == "safe_tx" && intent.operation == 1 && size(intent.inner) == 1 && intent.inner[0].kind == "transfer"`, safeBatch(OpDelegateCall, multisend, transfer(eth, alice, "0.1")), true, ""},
		{"guarded key of another kind", `intent.kind == "swap" && intent.slippage_bps > 50`, nil, false, ""},
		{"missing key fails closed", `intent.slippage_bps > 50`, nil, true, "could not be evaluated"},
		{"bad decimal fails closed", `decimal(intent.to) > decimal(1)`, nil, true, "could not be evaluated"},
		{"cost limit fails closed", `intent.inner.all(x, intent.inner.all(y, intent.inner.all(z, true)))`, safeBatch(OpDelegateCall, multisend, many...), true, "could not be evaluated"},
		{"weekday", `now.getDayOfWeek() == 3`, nil, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(fmt.Sprintf(`version: 1
chains: [1]
tokens:
  USDC: {chain: 1, address: "%s", decimals: 6}
limits: {per_tx: {ETH: "100", USDC: "1000000"}}
approvals: {max: {USDC: "1000"}}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800}
contracts: {allow: ["%s"]}
safe: {delegatecall: ["%s"]}
rules:
  - name: the-rule
    deny_if: '%s'
    reason: "the rule says no"
`, usdcAddr, router, multisend, strings.ReplaceAll(tt.expr, "'", "''"))))
			if err != nil {
				t.Fatal(err)
			}
			in := tt.in
			if in == nil {
				in = transfer(eth, alice, "0.1")
			}
			eng, _ := newTestEngine(t, p, wednesday)
			r, err := eng.Evaluate(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			denied := r.Decision == DecisionDeny
			if denied != tt.deny {
				t.Fatalf("decision %s %v, want deny=%v", r.Decision, r.Reasons, tt.deny)
			}
			if !denied {
				return
			}
			for _, reason := range r.Reasons {
				if reason.Rule != "rules.the-rule" {
					// Only the rule may deny; the intents are otherwise allowed.
					t.Fatalf("unexpected reason %v", reason)
				}
				want := "the rule says no"
				if tt.errText != "" {
					want = tt.errText
				}
				if !strings.Contains(reason.Text, want) {
					t.Fatalf("reason %q lacks %q", reason.Text, want)
				}
			}
		})
	}
}
