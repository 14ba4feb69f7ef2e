package policies

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// rulePolicy is a policy allowing every kind the rule tests use, with the
// one rule given; the rule's deny_if is on line ruleLine.
func rulePolicy(expr string) string {
	return fmt.Sprintf(`version: 1
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
`, usdcAddr, router, multisend, strings.ReplaceAll(expr, "'", "''"))
}

const ruleLine = 12

// TestRules evaluates single-rule policies over every kind of intent: the
// rule denies exactly when its expression is true, reads each kind's typed
// fields (amounts as exact decimals), is applied to each inner call of a
// Safe transaction, and fails closed when it cannot be evaluated.
func TestRules(t *testing.T) {
	swap := swapETHForUSDC(wednesday)
	call := ContractCall{Header: hdr(), To: router, Value: units("0.5", 18), Data: HexBytes{1, 2, 3, 4}, Selector: "0x01020304"}
	var many []Intent
	for range 60 {
		many = append(many, transfer(eth, alice, "0.001"))
	}
	tests := []struct {
		name, expr string
		in         Intent // a transfer of 0.1 ETH to alice when nil
		deny       bool
		want       string // in every reason; "the rule says no" when empty
	}{
		{"decimals compare exactly", `decimal("1.10") == decimal("1.1")`, nil, true, ""},
		{"no float rounding", `decimal("0.1") + decimal("0.2") == decimal("0.3")`, nil, true, ""},
		{"subtraction", `decimal("2") - decimal("3") < decimal(0)`, nil, true, ""},
		{"not equal", `decimal("1") != decimal("1.0")`, nil, false, ""},
		{"int decimal", `decimal(3) >= decimal("3.000")`, nil, true, ""},

		{"amount is a decimal, below", `intent.amount > decimal("0.1")`, nil, false, ""},
		{"amount one wei short", `intent.amount >= decimal("0.100000000000000001")`, nil, false, ""},
		{"amount at", `intent.amount >= decimal("0.1")`, nil, true, ""},
		{"amount equal", `intent.amount == decimal("0.10")`, nil, true, ""},
		{"decimal of an amount still reads", `decimal(intent.amount) >= decimal("0.1")`, nil, true, ""},
		{"amount arithmetic", `intent.amount + decimal("0.9") == decimal(1)`, nil, true, ""},

		{"transfer fields", `intent.kind == "transfer" && intent.chain == "1" && intent.from == "` + wallet + `" && intent.to == "` + alice + `" && intent.token == "ETH" && intent.token_address == "" && intent.amount == decimal("0.1")`, nil, true, ""},
		{"transfer of a known token", `intent.kind == "transfer" && intent.token == "USDC" && intent.token_address == "` + usdcAddr + `" && intent.amount == decimal(5)`, transfer(usdc, alice, "5"), true, ""},
		{"approve fields", `intent.kind == "approve" && intent.spender == "` + router + `" && intent.to == intent.spender && intent.method == "approve" && !intent.unlimited && intent.token == "USDC" && intent.amount == decimal("5")`, approveUSDC(router, "5"), true, ""},
		{"approve under its bound", `intent.kind == "approve" && (intent.unlimited || intent.amount > decimal(100))`, approveUSDC(router, "100"), false, ""},
		{"approve over its bound", `intent.kind == "approve" && (intent.unlimited || intent.amount > decimal(100))`, approveUSDC(router, "100.000001"), true, ""},
		{"swap fields", `intent.kind == "swap" && intent.venue == "uniswap-v3" && intent.token_in == "ETH" && intent.token_in_address == "" && intent.token_out == "USDC" && intent.token_out_address == "` + usdcAddr + `" && intent.amount_in == decimal("0.1") && intent.amount == intent.amount_in && intent.min_out == decimal(99) && intent.quoted == decimal(100) && intent.slippage_bps == 100 && intent.deadline > 0 && intent.recipient == intent.from && intent.token == "ETH"`, swap, true, ""},
		{"swap slippage over", `intent.kind == "swap" && intent.slippage_bps > 50`, swap, true, ""},
		{"swap floor within", `intent.kind == "swap" && intent.min_out < intent.quoted - decimal(2)`, swap, false, ""},
		{"swap guard skips a transfer", `intent.kind == "swap" && intent.slippage_bps > 50`, nil, false, ""},
		{"call fields", `intent.kind == "call" && intent.selector == "0x01020304" && intent.value == decimal("0.5") && intent.amount == intent.value && intent.token == "ETH" && intent.to == "` + router + `"`, call, true, ""},
		{"call value within", `intent.kind == "call" && intent.value > decimal(1)`, call, false, ""},
		{"safe fields", `intent.kind == "safe_tx" && intent.operation == 1 && intent.self_call == "" && intent.value == decimal(0) && size(intent.inner) == 1 && intent.inner[0].kind == "transfer" && intent.inner[0].amount == decimal("0.1")`, safeBatch(OpDelegateCall, multisend, transfer(eth, alice, "0.1")), true, ""},
		{"safe inner list", `intent.kind == "safe_tx" && intent.inner.exists(x, x.kind == "transfer" && x.amount > decimal("0.5"))`, safeBatch(OpDelegateCall, multisend, transfer(eth, alice, "0.1"), transfer(eth, bob, "0.6")), true, ""},
		{"safe inner list within", `intent.kind == "safe_tx" && intent.inner.exists(x, x.kind == "transfer" && x.amount > decimal("0.5"))`, safeBatch(OpDelegateCall, multisend, transfer(eth, alice, "0.1"), transfer(eth, bob, "0.5")), false, ""},
		{"rule applied to an inner call", `intent.kind == "transfer" && intent.to == "` + bob + `"`, safeBatch(OpDelegateCall, multisend, transfer(eth, alice, "0.1"), transfer(eth, bob, "0.1")), true, "inner call 1: the rule says no"},
		{"inner approve", `intent.kind == "approve" && intent.amount > decimal(10)`, safeBatch(OpDelegateCall, multisend, approveUSDC(router, "11")), true, "inner call 0: the rule says no"},

		{"a field read past the types fails closed", `dyn(intent).slippage_bps > 50`, nil, true, "a transfer intent has no field slippage_bps"},
		{"bad decimal fails closed", `decimal(intent.to) > decimal(1)`, nil, true, "could not be evaluated"},
		{"cost limit fails closed", `intent.kind == "safe_tx" && intent.inner.all(x, intent.inner.all(y, intent.inner.all(z, true)))`, safeBatch(OpDelegateCall, multisend, many...), true, "could not be evaluated"},
		{"weekday", `now.getDayOfWeek() == 3`, nil, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(rulePolicy(tt.expr)))
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
			want := tt.want
			if want == "" {
				want = "the rule says no"
			}
			for _, reason := range r.Reasons {
				// Only the rule may deny; the intents are otherwise allowed.
				if reason.Rule != "rules.the-rule" || !strings.Contains(reason.Text, want) {
					t.Fatalf("reason %v, want rules.the-rule saying %q", reason, want)
				}
			}
		})
	}
}

// TestRulesRefused: a rule that reads a field no intent has, a field the
// kinds it is guarded to lack, or compares a kind with one that does not
// exist fails Parse with a *ParseError naming the rule, its line and what
// to write instead.
func TestRulesRefused(t *testing.T) {
	tests := []struct {
		name, expr string
		want       []string
	}{
		{"typo in a field", `intent.amout > decimal(1)`,
			[]string{"column 7: field amout does not exist on any intent; did you mean amount? fields of every intent: kind, chain, from, to, token, token_address, amount; approve intents add spender, method, unlimited; swap intents add venue"}},
		{"typo in a guarded field", `intent.kind == "transfer" && intent.amout > decimal(1)`,
			[]string{"field amout does not exist on transfer intents; did you mean amount? fields are: kind, chain, from, to, token, token_address, amount"}},
		{"typo in has()", `has(intent.venu)`, []string{"field venu does not exist on any intent; did you mean venue?"}},
		{"field of another kind, unguarded", `intent.slippage_bps > 50`,
			[]string{"field slippage_bps exists only on swap intents", `guard it by kind: intent.kind == "swap" && …`}},
		{"field of two kinds, unguarded", `intent.value > decimal(1)`, []string{`field value exists only on call and safe_tx intents`, `intent.kind in ["call", "safe_tx"] && …`}},
		{"field of another kind under a guard", `intent.kind == "transfer" && intent.slippage_bps > 50`,
			[]string{"field slippage_bps does not exist on transfer intents (it is a field of swap intents); fields are: kind, chain, from, to, token, token_address, amount"}},
		{"guard lets another kind through", `intent.kind in ["swap", "transfer"] && intent.slippage_bps > 50`,
			[]string{"field slippage_bps does not exist on transfer intents, which the rule's guard lets through", `narrow the guard: intent.kind == "swap" && …`}},
		{"negated guard", `intent.kind != "swap" && intent.slippage_bps > 50`, []string{"field slippage_bps does not exist on transfer, approve, call and safe_tx intents"}},
		{"guard on the wrong side of ||", `intent.kind == "swap" || intent.slippage_bps > 50`, []string{"field slippage_bps does not exist on transfer, approve, call and safe_tx intents"}},
		{"guard in the wrong branch", `intent.kind == "swap" ? false : intent.slippage_bps > 50`, []string{"field slippage_bps does not exist"}},
		{"unknown kind ==", `intent.kind == "tranfser"`, []string{`column 16: intent kind "tranfser" does not exist; use one of transfer, approve, swap, call, safe_tx`}},
		{"unknown kind on the left", `"tranfser" == intent.kind && intent.amount > decimal(1)`, []string{`intent kind "tranfser" does not exist`}},
		{"unknown kind !=", `intent.kind != "Swap" && intent.amount > decimal(1)`, []string{`intent kind "Swap" does not exist; use one of transfer, approve, swap, call, safe_tx`}},
		{"unknown kind in a list", `intent.kind in ["swap", "aprove"]`, []string{`intent kind "aprove" does not exist`}},
		{"unknown kind of an inner call", `intent.kind == "safe_tx" && intent.inner.exists(x, x.kind == "swapp")`, []string{`intent kind "swapp" does not exist`}},
		{"inner call field unguarded", `intent.kind == "safe_tx" && intent.inner.exists(x, x.slippage_bps > 50)`, []string{`field slippage_bps exists only on swap intents`, `x.kind == "swap" && …`}},
		{"inner call field typo", `intent.kind == "safe_tx" && intent.inner.exists(x, x.kind == "swap" && x.slipage_bps > 50)`, []string{"field slipage_bps does not exist on swap intents; did you mean slippage_bps?"}},
		{"indexed inner call unguarded", `intent.kind == "safe_tx" && intent.inner[0].min_out < decimal(1)`, []string{`field min_out exists only on swap intents`, `intent.inner[0].kind == "swap" && …`}},
		{"inner calls outside a safe_tx guard", `intent.kind == "swap" && intent.inner.exists(x, true)`, []string{"field inner does not exist on swap intents (it is a field of safe_tx intents)"}},
		{"a guard does not leak into a comprehension rebinding its name", `intent.kind == "safe_tx" && intent.inner.exists(intent, intent.operation == 1)`, []string{"field operation exists only on safe_tx intents"}},
		{"amount against a string", `intent.amount > "5"`, []string{"no matching overload", `amounts are exact decimals: compare them with decimals, e.g. intent.amount > decimal("250")`}},
		{"amount against a number", `intent.amount > 5`, []string{"amounts are exact decimals"}},
		{"int field against a string", `intent.kind == "swap" && intent.slippage_bps > "50"`, []string{"no matching overload"}},
		{"intent indexed like a map", `intent["kind"] == "swap"`, []string{"does not compile"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(rulePolicy(tt.expr)))
			pe, ok := errors.AsType[*ParseError](err)
			if !ok {
				t.Fatalf("Parse = %v, want a *ParseError", err)
			}
			if pe.Line != ruleLine || pe.Rule != "the-rule" || !strings.Contains(err.Error(), fmt.Sprintf(`rule "the-rule" on line %d does not compile: `, ruleLine)) {
				t.Fatalf("error %q (line %d, rule %q), want rule the-rule on line %d", err, pe.Line, pe.Rule, ruleLine)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q\nlacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

// TestRuleErrorLineInBlock: a rule written as a literal block is refused
// with the line of the file its mistake is on.
func TestRuleErrorLineInBlock(t *testing.T) {
	src := `version: 1
chains: [1]
limits: {per_tx: {ETH: "1"}}
rules:
  - name: multi
    deny_if: |
      intent.kind == "transfer" &&
      intent.slippage_bps > 50
    reason: r
`
	_, err := Parse([]byte(src))
	pe, ok := errors.AsType[*ParseError](err)
	if !ok || pe.Line != 8 || !strings.Contains(err.Error(), `rule "multi" on line 8 does not compile: column 7: field slippage_bps does not exist on transfer intents`) {
		t.Fatalf("Parse = %v, want the error on line 8", err)
	}
}

// TestRuleGuards: rules whose every field read is guarded compile, and the
// kinds a rule can be true for (the engine runs it only for those) follow
// from its guards.
func TestRuleGuards(t *testing.T) {
	all := allKinds
	tests := []struct {
		expr  string
		kinds kindSet
	}{
		{`intent.kind == "swap" && now.getDayOfWeek() in [0, 6]`, kSwap},
		{`"approve" == intent.kind && intent.unlimited`, kApprove},
		{`now.getHours() > 22 && (intent.kind == "swap" && true)`, kSwap},
		{`intent.kind in ["swap", "transfer"] && intent.amount > decimal(5)`, kSwap | kTransfer},
		{`intent.kind in ["swap", "transfer"] && intent.kind == "swap" && intent.slippage_bps > 5`, kSwap},
		{`intent.kind == "swap" && intent.kind == "call"`, 0},
		{`intent.kind == "swap" || intent.to == "x"`, all},
		{`!(intent.kind == "swap") && true`, all &^ kSwap},
		{`intent.kind != "swap" && true`, all &^ kSwap},
		{`intent.kind != "swap" || intent.slippage_bps > 50`, all},
		{`!(intent.kind != "approve" || !intent.unlimited)`, kApprove},
		{`intent.kind in [intent.to] && true`, all},
		{`has(intent.venue) && intent.venue == "x"`, kSwap},
		{`intent.kind == "swap" ? intent.slippage_bps > 50 : false`, all},
		{`intent.kind in ["call", "safe_tx"] && intent.value > decimal(1)`, kCall | kSafeTx},
		{`intent.kind == "safe_tx" && intent.inner.exists(x, x.kind == "swap" && x.slippage_bps > 50)`, kSafeTx},
		{`intent.kind == "safe_tx" && intent.inner.all(x, x.kind != "swap" || x.slippage_bps <= 50)`, kSafeTx},
		{`intent.kind == "safe_tx" && size(intent.inner) > 0 && intent.inner[0].kind == "swap" && intent.inner[0].slippage_bps > 5`, kSafeTx},
		{`intent.kind == "safe_tx" && intent.inner.filter(x, x.kind == "approve").exists(y, has(y.unlimited) && y.unlimited)`, kSafeTx},
		{`decimal(intent.amount) > decimal(5)`, all},
		{`intent.token == "DAI" && intent.amount > decimal("500.5")`, all},
	}
	for _, tt := range tests {
		r := &rule{name: "r", source: tt.expr}
		if err := r.compile(); err != nil {
			t.Fatalf("%s: %v", tt.expr, err)
		}
		if r.kinds != tt.kinds {
			t.Fatalf("%s: kinds %v, want %v", tt.expr, r.kinds.kinds(), tt.kinds.kinds())
		}
	}
}

// TestRuleFieldsAreTyped: each field has the CEL type the documentation
// gives it, so a rule comparing it with the wrong type is refused.
func TestRuleFieldsAreTyped(t *testing.T) {
	for _, f := range intentFields {
		guard := guardExample("intent", f.kinds)
		var ok, bad string
		switch f.typ.TypeName() {
		case "string":
			ok, bad = `intent.`+f.name+`.startsWith("0x")`, `intent.`+f.name+` == 1`
		case "int":
			ok, bad = `intent.`+f.name+` == 1`, `intent.`+f.name+` == "1"`
		case "bool":
			ok, bad = `intent.`+f.name, `intent.`+f.name+` == "true"`
		case "mandate.decimal":
			ok, bad = `intent.`+f.name+` > decimal(1)`, `intent.`+f.name+` > 1`
		case "list":
			ok, bad = `size(intent.`+f.name+`) > 1`, `intent.`+f.name+` > 1`
		default:
			t.Fatalf("field %s has type %s, which this test does not know", f.name, f.typ)
		}
		for _, tc := range []struct {
			expr    string
			compile bool
		}{{guard + " && " + ok, true}, {guard + " && " + bad, false}} {
			r := &rule{name: "r", source: tc.expr}
			if err := r.compile(); (err == nil) != tc.compile {
				t.Fatalf("%s: compile error %v, want compiled=%v", tc.expr, err, tc.compile)
			}
		}
	}
}

// BenchmarkRuleAmount times a decision whose rule reads an amount and a
// token, the commonest owner's rule.
func BenchmarkRuleAmount(b *testing.B) {
	p, err := Parse([]byte(rulePolicy(`intent.token == "USDC" && decimal(intent.amount) > decimal("500.5")`)))
	if err != nil {
		b.Fatal(err)
	}
	eng, _ := newTestEngine(b, p, wednesday)
	in := transfer(usdc, alice, "5")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if r, err := eng.Evaluate(ctx, in); err != nil || r.Decision != DecisionApprove {
			b.Fatalf("%v %v", r, err)
		}
	}
}

// TestRulesDocListsEveryField: the "Rules" section of Parse's
// documentation names every field rules can read, with its type.
func TestRulesDocListsEveryField(t *testing.T) {
	src, err := os.ReadFile("policy.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	start, end := strings.Index(doc, "// # Rules\n"), strings.Index(doc, "func Parse(")
	if start < 0 || end < start {
		t.Fatal("policy.go has no Rules section before Parse")
	}
	doc = doc[start:end]
	words := strings.FieldsFunc(doc, func(r rune) bool { return r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for _, f := range intentFields {
		if !slices.Contains(words, f.name) {
			t.Errorf("the Rules documentation does not name field %s", f.name)
		}
	}
	for _, typ := range []string{"string", "decimal", "int", "bool", "list(mandate.Intent)"} {
		if !strings.Contains(doc, typ) {
			t.Errorf("the Rules documentation does not name type %s", typ)
		}
	}
}

// TestAcceptedRulesNeverFail checks the guard analysis against the
// interpreter over thousands of rules built from kind tests and fields of
// one kind: every rule Parse accepts evaluates on every kind of intent
// without an error (no field is read from a kind that lacks it), and is
// false for every kind the engine skips it for.
func TestAcceptedRulesNeverFail(t *testing.T) {
	atoms := []string{
		`intent.kind == "swap"`, `intent.kind != "transfer"`, `intent.kind in ["approve", "call"]`,
		`has(intent.unlimited)`, `intent.slippage_bps > 50`, `intent.unlimited`, `intent.value > decimal(0)`,
		`intent.amount > decimal(0)`, `intent.operation == 1`, `intent.selector == "0x01020304"`,
	}
	var exprs []string
	lvl1 := append([]string{}, atoms...)
	for _, a := range atoms {
		lvl1 = append(lvl1, "!("+a+")")
	}
	exprs = append(exprs, lvl1...)
	for _, x := range lvl1 {
		for _, y := range lvl1 {
			exprs = append(exprs, x+" && "+y, x+" || "+y)
		}
	}
	for _, x := range atoms {
		for _, y := range atoms {
			for _, z := range atoms {
				exprs = append(exprs, x+" ? "+y+" : "+z, "("+x+" && "+y+") || "+z, "("+x+" || !("+y+")) && "+z)
			}
		}
	}
	p, err := Parse([]byte(rulePolicy("true")))
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := newTestEngine(t, p, wednesday)
	unlimited := approveUSDC(router, "5")
	unlimited.Unlimited = true
	intents := []Intent{
		transfer(eth, alice, "0.1"), unlimited, swapETHForUSDC(wednesday),
		ContractCall{Header: hdr(), To: router, Value: units("0.5", 18), Selector: "0x01020304"},
		safeBatch(OpDelegateCall, multisend, transfer(eth, alice, "0.1")),
	}
	accepted := 0
	for _, expr := range exprs {
		r := &rule{name: "r", source: expr}
		if err := r.compile(); err != nil {
			if !strings.Contains(err.Error(), "field") {
				t.Fatalf("%s: refused for another reason: %v", expr, err)
			}
			continue
		}
		accepted++
		for _, in := range intents {
			deny, err := r.eval(&ruleVars{intent: eng.newCelIntent(in, 0), now: celTime(wednesday)})
			if err != nil {
				t.Fatalf("%s on a %s: %v", expr, in.Kind(), err)
			}
			if deny && !r.appliesTo(in.Kind()) {
				t.Fatalf("%s is true on a %s, which its kinds %v skip", expr, in.Kind(), r.kinds.kinds())
			}
		}
	}
	if accepted < 500 || len(exprs)-accepted < 500 {
		t.Fatalf("accepted %d of %d rules; the generator no longer tests the analysis", accepted, len(exprs))
	}
	t.Logf("accepted %d of %d rules", accepted, len(exprs))
}
