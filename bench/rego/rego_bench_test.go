package rego

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/mandatehq/mandate/policies"
)

// The same realistic policy, twice: as a Mandate policy file and in Rego.
// Both check the chain, the token allowlist, a recipient allowlist of 50,
// per-transaction limits for ETH, USDC and DAI, daily limits (Rego is given
// the day's totals in its input; Mandate reads them from its ledger), the
// swap slippage bound with the min-out floor and deadline, the swap's loss
// against independent USD prices (swaps.max_loss_bps; Rego is given the
// prices in its input, Mandate asks its price source), approvals charged as
// spends against the same limits with their spender and approvals.max
// checks, and the no-weekend-swaps rule. Mandate also checks its USD limits
// and ask threshold with a price source, so it does strictly more per
// decision.

const (
	wallet   = "0x3333333333333333333333333333333333333333"
	usdcAddr = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
	daiAddr  = "0x6B175474E89094C44Da98b954EedeAC495271d0F"
	router   = "0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45"
)

func recipient(i int) string { return fmt.Sprintf("0x%040x", 0x1000+i) }

func mandatePolicy(tb testing.TB) *policies.Policy {
	var sb strings.Builder
	sb.WriteString(`version: 1
chains: [1]
tokens:
  USDC: {chain: 1, address: "` + usdcAddr + `", decimals: 6}
  DAI: {chain: 1, address: "` + daiAddr + `", decimals: 18}
recipients:
  allow:
`)
	for i := range 50 {
		fmt.Fprintf(&sb, "    - \"%s\"\n", recipient(i))
	}
	sb.WriteString(`contracts: {allow: ["` + router + `"]}
limits:
  per_tx: {ETH: "1", USDC: "1000", DAI: "1000"}
  daily: {ETH: "3", USDC: "5000", DAI: "5000"}
  per_tx_usd: 2000
  daily_usd: 10000
approvals: {max: {USDC: "1000", DAI: "1000"}, unlimited: false}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800, max_loss_bps: 300}
ask: {above_usd: 1500}
rules:
  - {name: no-weekend-swaps, deny_if: 'intent.kind == "swap" && now.getDayOfWeek() in [0, 6]', reason: "no swaps at weekends"}
`)
	p, err := policies.Parse([]byte(sb.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

const regoModule = `package mandate

chains := {"1"}

# Tokens by lower-case address; "native" is ETH. scale is 10^decimals.
tokens := {
	"native": {"symbol": "ETH", "decimals": 18, "scale": 1000000000000000000},
	"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48": {"symbol": "USDC", "decimals": 6, "scale": 1000000},
	"0x6b175474e89094c44da98b954eedeac495271d0f": {"symbol": "DAI", "decimals": 18, "scale": 1000000000000000000},
}

contracts := {"0x68b3465833fb72a70ecdf485e0e4c7bd8665fc45"}

approve_max := {
	"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48": 1000000000,
	"0x6b175474e89094c44da98b954eedeac495271d0f": 1000000000000000000000,
}

# 2^255: an approval at or above it is unlimited.
unlimited_from := 57896044618658097711785492504343953926634992332820282019728792003956564819968

max_loss_bps := 300

per_tx := {
	"native": 1000000000000000000,
	"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48": 1000000000,
	"0x6b175474e89094c44da98b954eedeac495271d0f": 1000000000000000000000,
}

daily := {
	"native": 3000000000000000000,
	"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48": 5000000000,
	"0x6b175474e89094c44da98b954eedeac495271d0f": 5000000000000000000000,
}

max_slippage_bps := 100

max_deadline_seconds := 1800

spend_token := lower(input.token) if input.kind == "transfer"

spend_token := lower(input.token_in) if input.kind == "swap"

spend_token := lower(input.token) if input.kind == "approve"

spend_amount := input.amount if input.kind == "transfer"

spend_amount := input.amount if input.kind == "approve"

spend_amount := input.amount_in if input.kind == "swap"

deny contains sprintf("chain %s is not in chains", [input.chain]) if not chains[input.chain]

deny contains sprintf("token %s is not in tokens", [spend_token]) if not tokens[spend_token]

deny contains sprintf("token %s is not in tokens", [input.token_out]) if {
	input.kind == "swap"
	not tokens[lower(input.token_out)]
}

deny contains sprintf("recipient %s is not in recipients.allow", [input.to]) if {
	input.kind == "transfer"
	not recipients[lower(input.to)]
}

deny contains "swap output goes to someone else" if {
	input.kind == "swap"
	lower(input.recipient) != lower(input.from)
	not recipients[lower(input.recipient)]
}

deny contains "amount exceeds the per-tx limit" if spend_amount > per_tx[spend_token]

deny contains "amount exceeds the daily limit" if input.spent_today + spend_amount > daily[spend_token]

deny contains "slippage exceeds max_slippage_bps" if {
	input.kind == "swap"
	input.slippage_bps > max_slippage_bps
}

deny contains "min_out is below the quote less the slippage" if {
	input.kind == "swap"
	input.min_out * 10000 < input.quoted * (10000 - max_slippage_bps)
}

deny contains "deadline out of range" if {
	input.kind == "swap"
	now := input.now_ns / 1000000000
	not input.deadline > now
}

deny contains "deadline out of range" if {
	input.kind == "swap"
	now := input.now_ns / 1000000000
	input.deadline - now > max_deadline_seconds
}

deny contains sprintf("spender %s is not in contracts.allow or recipients.allow", [input.spender]) if {
	input.kind == "approve"
	not contracts[lower(input.spender)]
	not recipients[lower(input.spender)]
}

deny contains "the spender is the token or the wallet itself" if {
	input.kind == "approve"
	lower(input.spender) in {lower(input.token), lower(input.from)}
}

deny contains "an unlimited approval is not allowed" if {
	input.kind == "approve"
	input.unlimited
}

deny contains "an unlimited approval is not allowed" if {
	input.kind == "approve"
	input.amount >= unlimited_from
}

deny contains "approval exceeds approvals.max" if {
	input.kind == "approve"
	input.amount > approve_max[spend_token]
}

deny contains "approvals.max has no entry for the token" if {
	input.kind == "approve"
	not approve_max[spend_token]
}

deny contains "no USD price for a token of the swap" if {
	input.kind == "swap"
	not input.price_in > 0
}

deny contains "no USD price for a token of the swap" if {
	input.kind == "swap"
	not input.price_out > 0
}

# The USD value of min_out (price_out micro-USD per whole token) at least
# (10000 - max_loss_bps)/10000 of the input's, over a common denominator.
deny contains "min_out is worth less than the input by more than max_loss_bps" if {
	input.kind == "swap"
	tout := tokens[lower(input.token_out)]
	tin := tokens[spend_token]
	((input.min_out * input.price_out) * tin.scale) * 10000 < ((input.amount_in * input.price_in) * tout.scale) * (10000 - max_loss_bps)
}

deny contains "no swaps at weekends" if {
	input.kind == "swap"
	time.weekday(input.now_ns) in {"Saturday", "Sunday"}
}
`

func regoRecipients() string {
	var sb strings.Builder
	sb.WriteString("package mandate\n\nrecipients := {\n")
	for i := range 50 {
		fmt.Fprintf(&sb, "\t%q,\n", recipient(i))
	}
	sb.WriteString("}\n")
	return sb.String()
}

var (
	eth  = policies.Token{Symbol: "ETH", Decimals: 18}
	usdc = policies.Token{Symbol: "USDC", Address: usdcAddr, Decimals: 6}
)

func units(s string, d uint8) *big.Int {
	v, err := policies.ParseUnits(s, d)
	if err != nil {
		panic(err)
	}
	return v
}

// start is a Monday midnight; step is the time between decisions, so the
// daily windows hold about 960 spends. clock skips weekends so every swap
// passes the weekend rule in both engines.
var start = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)

const step = 90 * time.Second

func clock(i int) time.Time {
	const week, workweek = 7 * 24 * time.Hour, 5 * 24 * time.Hour
	o := time.Duration(i) * step
	return start.Add(o/workweek*week + o%workweek)
}

// intents builds the i-th decision of each kind for Mandate.
var intents = map[string]func(i int) policies.Intent{
	"transfer-eth": func(int) policies.Intent {
		return policies.Transfer{Header: policies.Header{Chain: "1", From: wallet}, To: recipient(7), Token: eth, Amount: units("0.001", 18)}
	},
	"transfer-usdc": func(int) policies.Intent {
		return policies.Transfer{Header: policies.Header{Chain: "1", From: wallet}, To: recipient(42), Token: usdc, Amount: units("5", 6)}
	},
	"approve": func(int) policies.Intent {
		return policies.Approve{Header: policies.Header{Chain: "1", From: wallet}, Method: policies.MethodApprove, Token: usdc, Spender: router, Amount: units("5", 6)}
	},
	"swap": func(i int) policies.Intent {
		return policies.Swap{
			Header: policies.Header{Chain: "1", From: wallet}, Venue: "uniswap-v3",
			TokenIn: eth, AmountIn: units("0.001", 18), TokenOut: usdc,
			Quoted: units("3", 6), MinOut: units("2.97", 6), Recipient: wallet, SlippageBps: 100,
			Deadline: clock(i).Unix() + 600,
			Tx:       &policies.Call{To: router, Value: units("0.001", 18), Data: policies.HexBytes{0x5a, 0xe4, 0x01, 0xdc}},
		}
	},
}

// regoInput is the same intent as OPA's input, with the day's total spent
// of the token and, for a swap, its tokens' USD prices (micro-USD per whole
// token) passed in, as a Rego deployment would have to.
func regoInput(in policies.Intent, now time.Time, spentToday *big.Int) map[string]any {
	num := func(v *big.Int) json.Number { return json.Number(v.String()) }
	addr := func(t policies.Token) string {
		if t.Native() {
			return "native"
		}
		return t.Address
	}
	m := map[string]any{"kind": string(in.Kind()), "now_ns": now.UnixNano(), "spent_today": num(spentToday)}
	switch v := in.(type) {
	case policies.Transfer:
		m["chain"], m["from"], m["to"], m["token"], m["amount"] = v.Chain, v.From, v.To, addr(v.Token), num(v.Amount)
	case policies.Approve:
		m["chain"], m["from"], m["spender"], m["token"], m["amount"], m["unlimited"] = v.Chain, v.From, v.Spender, addr(v.Token), num(v.Amount), v.Unlimited
	case policies.Swap:
		m["chain"], m["from"], m["recipient"], m["token_in"], m["token_out"] = v.Chain, v.From, v.Recipient, addr(v.TokenIn), addr(v.TokenOut)
		m["amount_in"], m["quoted"], m["min_out"] = num(v.AmountIn), num(v.Quoted), num(v.MinOut)
		m["slippage_bps"], m["deadline"] = v.SlippageBps, v.Deadline
		if p, ok := microUSD(v.TokenIn); ok {
			m["price_in"] = p
		}
		if p, ok := microUSD(v.TokenOut); ok {
			m["price_out"] = p
		}
	}
	return m
}

// microUSD is the fixed price of one whole t in micro-USD, for Rego.
func microUSD(t policies.Token) (json.Number, bool) {
	p, ok := prices[t.Symbol]
	if !ok {
		return "", false
	}
	v := new(big.Rat).Mul(p.USD, big.NewRat(1_000_000, 1))
	if !v.IsInt() {
		panic("fixed prices are whole micro-dollars")
	}
	return json.Number(v.Num().String()), true
}

type fixedPrices struct{}

var prices = map[string]policies.Price{
	"ETH":  {USD: big.NewRat(3000, 1), Source: "fixed"},
	"USDC": {USD: big.NewRat(1, 1), Source: "fixed"},
	"DAI":  {USD: big.NewRat(1, 1), Source: "fixed"},
}

func (fixedPrices) PriceUSD(_ context.Context, _ string, t policies.Token) (policies.Price, error) {
	if p, ok := prices[t.Symbol]; ok {
		return p, nil
	}
	return policies.Price{}, fmt.Errorf("no price for %s", t.Symbol)
}

func report(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}

var kinds = []string{"transfer-eth", "transfer-usdc", "approve", "swap"}

func BenchmarkRego(b *testing.B) {
	ctx := context.Background()
	pq, err := rego.New(
		rego.Query("data.mandate.deny"),
		rego.Module("mandate.rego", regoModule),
		rego.Module("recipients.rego", regoRecipients()),
	).PrepareForEval(ctx)
	if err != nil {
		b.Fatal(err)
	}
	// The day's total so far of the token spent, as Rego's input must carry it.
	spentToday := map[string]*big.Int{"transfer-eth": units("0.5", 18), "transfer-usdc": units("100", 6), "approve": units("100", 6), "swap": units("0.5", 18)}
	for _, kind := range kinds {
		b.Run(kind, func(b *testing.B) {
			mk, spent := intents[kind], spentToday[kind]
			d := make([]time.Duration, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				in := mk(i)
				t0 := time.Now()
				rs, err := pq.Eval(ctx, rego.EvalInput(regoInput(in, clock(i), spent)))
				d[i] = time.Since(t0)
				if err != nil || len(rs) != 1 || len(rs[0].Expressions[0].Value.([]any)) != 0 {
					b.Fatalf("op %d: %v %v", i, err, rs)
				}
			}
			b.StopTimer()
			report(b, d)
		})
	}
}

func BenchmarkMandateEvaluate(b *testing.B) { benchMandate(b, false) }

func BenchmarkMandateDecide(b *testing.B) { benchMandate(b, true) }

func benchMandate(b *testing.B, decide bool) {
	p := mandatePolicy(b)
	ctx := context.Background()
	for _, kind := range kinds {
		b.Run(kind, func(b *testing.B) {
			var now time.Time
			eng := policies.NewEngine(p, policies.NewMemLedger(), policies.WithPrices(fixedPrices{}),
				policies.WithClock(func() time.Time { return now }))
			mk := intents[kind]
			d := make([]time.Duration, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				now = clock(i)
				in := mk(i)
				t0 := time.Now()
				if decide {
					a, err := eng.Decide(ctx, in)
					d[i] = time.Since(t0)
					if err != nil || !a.Valid() {
						b.Fatalf("op %d: %v", i, err)
					}
				} else {
					r, err := eng.Evaluate(ctx, in)
					d[i] = time.Since(t0)
					if err != nil || r.Decision != policies.DecisionApprove {
						b.Fatalf("op %d: %v %v", i, err, r.Reasons)
					}
				}
			}
			b.StopTimer()
			report(b, d)
		})
	}
}

// TestSameDecisions checks the two engines agree on a denial per check, so
// the benchmark compares like with like.
func TestSameDecisions(t *testing.T) {
	ctx := context.Background()
	pq, err := rego.New(rego.Query("data.mandate.deny"), rego.Module("mandate.rego", regoModule),
		rego.Module("recipients.rego", regoRecipients())).PrepareForEval(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p := mandatePolicy(t)
	now := clock(0).Add(12 * time.Hour)
	eng := policies.NewEngine(p, policies.NewMemLedger(), policies.WithPrices(fixedPrices{}), policies.WithClock(func() time.Time { return now }))
	tr := intents["transfer-usdc"](0).(policies.Transfer)
	ap := intents["approve"](0).(policies.Approve)
	sw := intents["swap"](0).(policies.Swap)
	sw.Deadline = now.Unix() + 600
	apWith := func(f func(*policies.Approve)) policies.Intent { x := ap; f(&x); return x }
	cases := map[string]policies.Intent{
		"ok approve":         ap,
		"approve per-tx":     apWith(func(x *policies.Approve) { x.Amount = units("1000.000001", 6) }),
		"approve stranger":   apWith(func(x *policies.Approve) { x.Spender = "0x4444444444444444444444444444444444444444" }),
		"approve the token":  apWith(func(x *policies.Approve) { x.Spender = usdcAddr }),
		"approve the wallet": apWith(func(x *policies.Approve) { x.Spender = wallet }),
		"approve unlimited":  apWith(func(x *policies.Approve) { x.Amount = new(big.Int).Lsh(big.NewInt(1), 255) }),
		"approve flagged":    apWith(func(x *policies.Approve) { x.Unlimited = true }),
		"swap loss":          func() policies.Intent { x := sw; x.Quoted, x.MinOut = units("2.9", 6), units("2.871", 6); return x }(),
		"swap at the loss bound": func() policies.Intent {
			x := sw
			x.Quoted, x.MinOut = units("2.92", 6), units("2.91", 6)
			return x
		}(),
		"ok transfer": tr,
		"ok swap":     sw,
		"stranger":    func() policies.Intent { x := tr; x.To = "0x4444444444444444444444444444444444444444"; return x }(),
		"chain":       func() policies.Intent { x := tr; x.Chain = "5"; return x }(),
		"per-tx":      func() policies.Intent { x := tr; x.Amount = units("1000.000001", 6); return x }(),
		"slippage":    func() policies.Intent { x := sw; x.SlippageBps = 101; return x }(),
		"min-out":     func() policies.Intent { x := sw; x.MinOut = units("2.969999", 6); return x }(),
		"token":       func() policies.Intent { x := tr; x.Token = policies.Token{Address: wallet, Decimals: 6}; return x }(),
	}
	for name, in := range cases {
		rs, err := pq.Eval(ctx, rego.EvalInput(regoInput(in, now, new(big.Int))))
		if err != nil {
			t.Fatal(err)
		}
		regoDeny := len(rs[0].Expressions[0].Value.([]any)) > 0
		r, err := eng.Evaluate(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if mandateDeny := r.Decision == policies.DecisionDeny; mandateDeny != regoDeny {
			t.Errorf("%s: rego deny=%v (%v), mandate %s %v", name, regoDeny, rs[0].Expressions[0].Value, r.Decision, r.Reasons)
		}
	}
}
