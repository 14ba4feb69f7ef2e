package policies

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests of issue 10's policy side: approvals are charged as spends, and
// swaps are judged against an independent price (swaps.max_loss_bps).

// usdcBucket and usdBucket are the default engine's ledger buckets.
const (
	usdcBucket = "default/1/0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
	usdBucket  = "default/usd"
)

// decided is one decision as the tests compare it.
type decided struct {
	d       Decision
	rules   []string // sorted, without repeats
	reasons string   // every reason's text, joined
	spends  map[string]string
}

// decideOnce evaluates in (for the spends it would charge) and decides it.
func decideOnce(t *testing.T, eng *Engine, in Intent) decided {
	t.Helper()
	ctx := context.Background()
	r, err := eng.Evaluate(ctx, in)
	if err != nil {
		t.Fatalf("Evaluate: %v", err)
	}
	_, err = eng.Decide(ctx, in)
	d, rules := outcome(t, err)
	var texts []string
	if err != nil {
		texts = append(texts, err.Error())
	}
	out := decided{d: d, rules: uniq(rules), reasons: strings.Join(texts, "; "), spends: map[string]string{}}
	for _, s := range r.Spends {
		out.spends[s.Bucket] = s.Amount.String()
	}
	if r.Decision != d {
		t.Fatalf("Evaluate decided %s, Decide %s (%v)", r.Decision, d, err)
	}
	return out
}

func (got decided) check(t *testing.T, want Decision, rules, texts []string, spends map[string]string) {
	t.Helper()
	if got.d != want || !slices.Equal(got.rules, rules) {
		t.Fatalf("decision %s %v, want %s %v (%s)", got.d, got.rules, want, rules, got.reasons)
	}
	for _, w := range texts {
		if !strings.Contains(got.reasons, w) {
			t.Errorf("reasons lack %q:\n%s", w, got.reasons)
		}
	}
	if spends != nil && !mapsEqual(got.spends, spends) {
		t.Errorf("spends %v, want %v", got.spends, spends)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func permit2USDC(spender, amount string) Approve {
	return Approve{Header: hdr(), Method: MethodPermit2, Token: usdc, Spender: spender, Amount: units(amount, 6), Expiration: uint64(wednesday.Unix()) + 3600}
}

func increaseUSDC(spender, amount string) Approve {
	a := approveUSDC(spender, amount)
	a.Method = MethodIncreaseAllowance
	return a
}

func withSpender(s Swap, spender string) Swap {
	a := *s.Approval
	a.Spender = spender
	s.Approval = &a
	return s
}

// spends is the expected charge of usdc base units (and as many micro-USD,
// USDC being priced at 1 USD by the test prices).
func usdcSpends(amount string) map[string]string {
	v := units(amount, 6).String()
	return map[string]string{usdcBucket: v, usdBucket: v}
}

func TestApprovalsAreSpends(t *testing.T) {
	const (
		perTx500       = `per_tx: {ETH: "1", USDC: "500"`
		perTx900       = `per_tx: {ETH: "1", USDC: "900"`
		perTxUSDC      = `per_tx: {ETH: "1", USDC: "1000"`
		unlimitedFalse = "unlimited: false"
		approvalsLine  = `approvals: {max: {USDC: "1000", DAI: "1000"}, unlimited: false}`
	)
	split := make([]Intent, 11)
	for i := range split {
		split[i] = approveUSDC(router, "100")
	}
	maxU := func() Approve { a := approveUSDC(router, "1"); a.Amount = new(big.Int).Set(maxUint256); return a }
	tests := []struct {
		name    string
		replace []string
		in      Intent
		want    Decision
		rules   []string
		texts   []string
		spends  map[string]string // nil: not checked
	}{
		{name: "approval charged like a transfer", in: approveUSDC(router, "600"), want: DecisionApprove, spends: usdcSpends("600")},
		{name: "approval over per_tx", replace: []string{perTxUSDC, perTx500}, in: approveUSDC(router, "600"), want: DecisionDeny,
			rules: []string{"limits.per_tx.USDC"},
			texts: []string{"approval 600 USDC to " + router + " is charged as a spend: amount 600 USDC exceeds per-tx limit 500 USDC"}},
		{name: "approve and transfer in one Safe batch add up", in: safeBatch(OpDelegateCall, multisend, approveUSDC(alice, "600"), transfer(usdc, alice, "600")),
			want: DecisionDeny, rules: []string{"limits.per_tx.USDC"},
			texts:  []string{"approval 600 USDC to " + alice + " is charged as a spend: amount 1,200 USDC exceeds per-tx limit 1,000 USDC"},
			spends: usdcSpends("1200")},
		{name: "approval split in one Safe batch is summed", in: safeBatch(OpDelegateCall, multisend, split...),
			want: DecisionDeny, rules: []string{"limits.per_tx.USDC"},
			texts:  []string{"11 approvals are charged as spends, 1,100 USDC in all: amount 1,100 USDC exceeds per-tx limit 1,000 USDC"},
			spends: usdcSpends("1100")},
		{name: "approval split in one Safe batch within limits", in: safeBatch(OpDelegateCall, multisend, split[:10]...), want: DecisionApprove, spends: usdcSpends("1000")},
		{name: "approval counted in per_tx_usd", replace: []string{"per_tx_usd: 2000", "per_tx_usd: 500"}, in: approveUSDC(router, "600"),
			want: DecisionDeny, rules: []string{"limits.per_tx_usd"},
			texts: []string{"approval 600 USDC to " + router + " is charged as a spend: value 600 USD exceeds per-tx limit 500 USD"}},
		{name: "approval counted in daily_usd", replace: []string{"daily_usd: 5000", "daily_usd: 500"}, in: approveUSDC(router, "600"),
			want: DecisionDeny, rules: []string{"limits.daily_usd"},
			texts: []string{"approval 600 USDC to " + router + " is charged as a spend: value 600 USD would bring the last 24h to 600 USD, over the daily limit 500 USD"}},
		{name: "approval counted against ask", replace: []string{"above_usd: 1500", "above_usd: 500"}, in: approveUSDC(router, "600"),
			want: DecisionAsk, rules: []string{"ask.above_usd"}, spends: usdcSpends("600")},
		{name: "revoke charges nothing", in: approveUSDC(router, "0"), want: DecisionApprove, spends: map[string]string{}},
		{name: "setApprovalForAll(false) charges nothing", in: Approve{Header: hdr(), Method: MethodSetApprovalForAll, Token: usdc, Spender: router, Amount: new(big.Int)},
			want: DecisionApprove, spends: map[string]string{}},

		// a swap's own approval
		{name: "swap's exact router approval is the swap's input", in: usdcSwap(wednesday, "1000", "1000", false), want: DecisionApprove, spends: usdcSpends("1000")},
		{name: "swap's larger router approval charges what is left", in: usdcSwap(wednesday, "600", "1000", false), want: DecisionApprove, spends: usdcSpends("1000")},
		{name: "swap's larger router approval over per_tx", replace: []string{perTxUSDC, perTx900}, in: usdcSwap(wednesday, "600", "1000", false),
			want: DecisionDeny, rules: []string{"limits.per_tx.USDC"},
			texts: []string{"approval 1,000 USDC to " + router + " (400 USDC beyond the swap's input) is charged as a spend: amount 1,000 USDC exceeds per-tx limit 900 USDC"}},
		{name: "swap's approval to another spender is charged whole", in: withSpender(usdcSwap(wednesday, "600", "600", false), alice),
			want: DecisionDeny, rules: []string{"limits.per_tx.USDC"}, texts: []string{"amount 1,200 USDC exceeds per-tx limit 1,000 USDC"}, spends: usdcSpends("1200")},

		// every method
		{name: "increaseAllowance charged", replace: []string{unlimitedFalse, "unlimited: true", perTxUSDC, perTx500}, in: increaseUSDC(router, "600"),
			want: DecisionDeny, rules: []string{"limits.per_tx.USDC"}, texts: []string{"approval 600 USDC to " + router + " is charged as a spend"}},
		{name: "increaseAllowance within limits", replace: []string{unlimitedFalse, "unlimited: true"}, in: increaseUSDC(router, "600"), want: DecisionApprove, spends: usdcSpends("600")},
		{name: "Permit2 approval charged", replace: []string{perTxUSDC, perTx500}, in: permit2USDC(router, "600"),
			want: DecisionDeny, rules: []string{"limits.per_tx.USDC"}, texts: []string{"approval 600 USDC to " + router + " is charged as a spend"}},
		{name: "Permit2 approval within limits", in: permit2USDC(router, "600"), want: DecisionApprove, spends: usdcSpends("600")},
		{name: "setApprovalForAll(true) with a limit on the token", replace: []string{unlimitedFalse, "unlimited: true"},
			in:   Approve{Header: hdr(), Method: MethodSetApprovalForAll, Token: usdc, Spender: router, Amount: new(big.Int).Set(maxUint256), Unlimited: true},
			want: DecisionDeny, rules: []string{"limits.per_tx.USDC"},
			texts: []string{"an unlimited approval of USDC to " + router + " grants more than limits.per_tx.USDC 1,000 USDC and limits.daily.USDC 5,000 USDC and limits.per_tx_usd 2,000 USD and limits.daily_usd 5,000 USD: limits bound what can leave the wallet by any route"}},

		// bad input
		{name: "2^256-1 is unlimited", in: maxU(), want: DecisionDeny, rules: []string{"approvals.unlimited"}},
		{name: "2^256-1 with unlimited allowed, under limits", replace: []string{unlimitedFalse, "unlimited: true"}, in: maxU(), want: DecisionDeny, rules: []string{"limits.per_tx.USDC"}},
		{name: `"unlimited" (the flag) with unlimited allowed, under limits`, replace: []string{unlimitedFalse, "unlimited: true"},
			in: func() Intent { a := approveUSDC(router, "1"); a.Unlimited = true; return a }(), want: DecisionDeny, rules: []string{"limits.per_tx.USDC"}},
		{name: "more than 2^256-1", replace: []string{unlimitedFalse, "unlimited: true"},
			in: func() Intent { a := approveUSDC(router, "1"); a.Amount = new(big.Int).Lsh(big1(), 256); return a }(), want: DecisionDeny, rules: []string{"intent"}},
		{name: "spender is the token itself", replace: []string{approvalsLine, strings.TrimSuffix(approvalsLine, "}") + `, spenders: ["` + usdcAddr + `", "` + wallet + `"]}`},
			in: approveUSDC(usdcAddr, "1"), want: DecisionDeny, rules: []string{"approvals.spender"}, texts: []string{"spender " + usdcAddr + " is the token contract itself"}},
		{name: "spender is the wallet itself", replace: []string{approvalsLine, strings.TrimSuffix(approvalsLine, "}") + `, spenders: ["` + usdcAddr + `", "` + wallet + `"]}`},
			in: approveUSDC(wallet, "1"), want: DecisionDeny, rules: []string{"approvals.spender"}, texts: []string{"spender " + wallet + " is the wallet itself"}},
		{name: "revoke of the token itself is allowed", in: approveUSDC(usdcAddr, "0"), want: DecisionApprove, spends: map[string]string{}},

		// approvals.spenders
		{name: "spender in approvals.spenders", replace: []string{approvalsLine, strings.TrimSuffix(approvalsLine, "}") + `, spenders: ["` + router + `"]}`},
			in: approveUSDC(router, "1"), want: DecisionApprove},
		{name: "allowed recipient not in approvals.spenders", replace: []string{approvalsLine, strings.TrimSuffix(approvalsLine, "}") + `, spenders: ["` + router + `"]}`},
			in: approveUSDC(alice, "1"), want: DecisionDeny, rules: []string{"approvals.spenders"}, texts: []string{"spender " + alice + " is not in approvals.spenders"}},
		{name: "denied spender with approvals.spenders", replace: []string{approvalsLine, strings.TrimSuffix(approvalsLine, "}") + `, spenders: ["` + router + `"]}`},
			in: approveUSDC(dead, "1"), want: DecisionDeny, rules: []string{"approvals.spenders", "recipients.deny"}},
		{name: "spender not in any list, no approvals.spenders", in: approveUSDC(stranger, "1"), want: DecisionDeny, rules: []string{"approvals.spender"}},
		{name: "revoke from a spender not in approvals.spenders", replace: []string{approvalsLine, strings.TrimSuffix(approvalsLine, "}") + `, spenders: ["` + router + `"]}`},
			in: approveUSDC(stranger, "0"), want: DecisionApprove, spends: map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, _ := newTestEngine(t, mustPolicy(t, tt.replace...), wednesday)
			decideOnce(t, eng, tt.in).check(t, tt.want, tt.rules, tt.texts, tt.spends)
		})
	}
}

// Five approvals of 1,000 USDC to one spender under a 3,000 USDC daily
// limit: the fourth and fifth are refused by the ledger's window, and a
// revoke still passes and charges nothing once the limit is spent.
func TestApprovalsChargeTheDailyWindow(t *testing.T) {
	p := mustPolicy(t, `daily: {ETH: "3", USDC: "5000"`, `daily: {ETH: "3", USDC: "3000"`)
	eng, l := newTestEngine(t, p, wednesday)
	ctx := context.Background()
	wantDenial := "approval 1,000 USDC to " + router + " is charged as a spend: amount 1,000 USDC would bring the last 24h to 4,000 USDC, over the daily limit 3,000 USDC (rule limits.daily.USDC)"
	for i := range 5 {
		_, err := eng.Decide(ctx, approveUSDC(router, "1000"))
		switch d, rules := outcome(t, err); {
		case i < 3 && d != DecisionApprove:
			t.Fatalf("approval %d: %v", i+1, err)
		case i >= 3 && (d != DecisionDeny || !slices.Equal(rules, []string{"limits.daily.USDC"}) || !strings.Contains(err.Error(), wantDenial)):
			t.Fatalf("approval %d: %s %v, want a denial saying %q", i+1, d, err, wantDenial)
		}
	}
	for _, revoke := range []Intent{
		approveUSDC(router, "0"),
		Approve{Header: hdr(), Method: MethodSetApprovalForAll, Token: usdc, Spender: router, Amount: new(big.Int)},
		permit2USDC(router, "0"),
	} {
		if _, err := eng.Decide(ctx, revoke); err != nil {
			t.Fatalf("revoke with the limit spent: %v", err)
		}
	}
	var charged []string
	for _, e := range l.Entries() {
		for _, s := range e.Spends {
			if s.Bucket == usdcBucket {
				charged = append(charged, string(e.Decision)+" "+s.Amount.String())
			}
		}
		if e.Decision == DecisionDeny && !strings.Contains(strings.Join(e.Reasons, ";"), "is charged as a spend") {
			t.Errorf("audited denial does not say the approval is charged: %v", e.Reasons)
		}
	}
	want := []string{"approve 1000000000", "approve 1000000000", "approve 1000000000"}
	if !slices.Equal(charged, want) {
		t.Fatalf("audited USDC spends %v, want %v", charged, want)
	}
	spent, err := l.Spent(ctx, usdcBucket, wednesday.Add(-window))
	if err != nil || spent.Cmp(units("3000", 6)) != 0 {
		t.Fatalf("USDC spent in the window: %v %v", spent, err)
	}
}

// Unlimited approvals with approvals.unlimited: true pass only for tokens no
// limit bounds; an approval of a token nothing bounds is refused like a
// transfer of it.
func TestUnlimitedApprovals(t *testing.T) {
	const punkAddr = "0xb47e3cd837dDF8e4c57F05d70Ab865de6e193BBB"
	punk := Token{Symbol: "PUNK", Address: punkAddr, Decimals: 0}
	base := `version: 1
chains: [1]
tokens:
  USDC: {chain: 1, address: "` + usdcAddr + `", decimals: 6}
  PUNK: {chain: 1, address: "` + punkAddr + `", decimals: 0}
contracts: {allow: ["` + router + `"]}
approvals: {max: {USDC: "1000"}, unlimited: true}
`
	forAll := Approve{Header: hdr(), Method: MethodSetApprovalForAll, Token: punk, Spender: router, Amount: new(big.Int).Set(maxUint256), Unlimited: true}
	tests := []struct {
		name  string
		extra string
		in    Intent
		want  Decision
		rules []string
		texts []string
	}{
		{"operator of a token no limit bounds", `limits: {per_tx: {USDC: "1000"}}`, forAll, DecisionApprove, nil, nil},
		{"operator above the ask threshold", "limits: {per_tx: {USDC: \"1000\"}}\nask: {above_usd: 100}", forAll, DecisionAsk, []string{"ask.above_usd"},
			[]string{"an unlimited approval of PUNK to " + router + " grants more than ask.above_usd 100 USD"}},
		{"operator under a USD limit", "limits: {daily_usd: 1000}", forAll, DecisionDeny, []string{"limits.daily_usd"},
			[]string{"grants more than limits.daily_usd 1,000 USD"}},
		{"unlimited USDC under its per_tx", `limits: {per_tx: {USDC: "1000"}}`, func() Intent { a := approveUSDC(router, "1"); a.Amount = new(big.Int).Set(maxUint256); return a }(),
			DecisionDeny, []string{"limits.per_tx.USDC"}, []string{"grants more than limits.per_tx.USDC 1,000 USDC"}},
		{"NFT approve of a token nothing bounds", `limits: {per_tx: {USDC: "1000"}}`, Approve{Header: hdr(), Method: MethodApprove, Token: punk, Spender: router, Amount: big.NewInt(7)},
			DecisionDeny, []string{"approvals.max", "limits"}, []string{"approval 7 PUNK to " + router + " is charged as a spend: no limit covers PUNK"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(base + tt.extra + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			eng, _ := newTestEngine(t, p, wednesday)
			// An unlimited approval charges nothing: no amount would mean anything.
			spends := map[string]string{}
			if a := tt.in.(Approve); a.Token == punk && !a.Unlimited {
				spends = map[string]string{"default/1/" + strings.ToLower(punkAddr): "7"}
			}
			decideOnce(t, eng, tt.in).check(t, tt.want, tt.rules, tt.texts, spends)
		})
	}
}

// twapSource is a price source as the runtime's Uniswap V3 TWAP looks to
// the engine, counting how often each token is priced.
type twapSource struct {
	usd   map[string]*big.Rat
	fail  map[string]error
	calls map[string]int
}

const twapText = "Uniswap V3 TWAP over 1800s (test pools)"

func (s *twapSource) PriceUSD(_ context.Context, chain string, t Token) (Price, error) {
	s.calls[t.Symbol]++
	if err := s.fail[t.Symbol]; err != nil {
		return Price{}, err
	}
	r, ok := s.usd[t.Symbol]
	if !ok {
		return Price{}, fmt.Errorf("uniswap: no USD price for %s: no Uniswap V3 pool with liquidity pairs it with a configured stablecoin or with WETH", t.Symbol)
	}
	return Price{USD: r, Source: twapText}, nil
}

func newTWAP() *twapSource {
	return &twapSource{usd: map[string]*big.Rat{"ETH": big.NewRat(3000, 1), "USDC": big.NewRat(1, 1)}, fail: map[string]error{}, calls: map[string]int{}}
}

const lossPolicy = `version: 1
chains: [1]
tokens:
  USDC: {chain: 1, address: "` + usdcAddr + `", decimals: 6}
limits: {per_tx: {ETH: "5000", USDC: "10000000"}}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800, max_loss_bps: 300}
`

// ethSwap sells amountIn ETH for USDC at the quote, with min-out minOut.
func ethSwap(amountIn, quoted, minOut string) Swap {
	return Swap{
		Header: hdr(), Venue: "uniswap-v3",
		TokenIn: eth, AmountIn: units(amountIn, 18), TokenOut: usdc,
		Quoted: units(quoted, 6), MinOut: units(minOut, 6), Recipient: wallet, SlippageBps: 50,
		Deadline: wednesday.Unix() + 600,
		Tx:       &Call{To: router, Value: units(amountIn, 18), Data: HexBytes{0x5a, 0xe4, 0x01, 0xdc}},
	}
}

func TestSwapMaxLoss(t *testing.T) {
	usdcForETH := func(amountIn, quoted, minOut string) Swap {
		return Swap{
			Header: hdr(), Venue: "uniswap-v3",
			TokenIn: usdc, AmountIn: units(amountIn, 6), TokenOut: eth,
			Quoted: units(quoted, 18), MinOut: units(minOut, 18), Recipient: wallet, SlippageBps: 50,
			Deadline: wednesday.Unix() + 600,
			Tx:       &Call{To: router, Value: new(big.Int), Data: HexBytes{0x5a, 0xe4, 0x01, 0xdc}},
		}
	}
	// The swap: 3,000 ETH for 7.86M USDC with 0.5% slippage, 12.7%
	// below the 9M USD the TWAP values the input at.
	impact := ethSwap("3000", "7900000", "7860500")
	tests := []struct {
		name    string
		replace []string
		prices  func(*twapSource) PriceSource
		in      Intent
		want    Decision
		texts   []string
	}{
		{name: "12.7% below the TWAP value", in: impact, want: DecisionDeny, texts: []string{
			"min_out 7,860,500 USDC is worth 7,860,500 USD and the input 3,000 ETH is worth 9,000,000 USD by the independent price",
			"(ETH 3000 USD by " + twapText + "; USDC 1 USD by " + twapText + ")",
			"a loss of 1267 bps (12.67%), more than swaps.max_loss_bps 300",
		}},
		{name: "a TWAP's long exact price is written short", prices: func(s *twapSource) PriceSource {
			s.usd["ETH"] = new(big.Rat).Add(big.NewRat(3000, 1), new(big.Rat).SetFrac(big1(), new(big.Int).Lsh(big1(), 100)))
			return s
		}, in: impact, want: DecisionDeny, texts: []string{"(ETH about 3000.000000 USD by " + twapText + ";", "a loss of 1267 bps"}},
		{name: "within the bound", in: ethSwap("1", "2990", "2960.1"), want: DecisionApprove},
		{name: "exactly at the bound", in: ethSwap("1", "2939", "2910"), want: DecisionApprove},
		{name: "one unit past the bound, loss rounded up", in: ethSwap("1", "2939", "2909.999999"), want: DecisionDeny, texts: []string{"a loss of 301 bps (3.01%)"}},
		{name: "USDC to ETH", in: usdcForETH("3000", "0.905", "0.9"), want: DecisionDeny, texts: []string{
			"min_out 0.9 ETH is worth 2,700 USD and the input 3,000 USDC is worth 3,000 USD", "a loss of 1000 bps (10%)"}},
		{name: "a gain passes", in: usdcForETH("3000", "1.01", "1.005"), want: DecisionApprove},
		{name: "bound of zero bps", replace: []string{"max_loss_bps: 300", "max_loss_bps: 0"}, in: ethSwap("1", "3001", "2999.999999"), want: DecisionDeny, texts: []string{"a loss of 1 bps (0.01%)"}},
		{name: "no bound, no price needed", replace: []string{", max_loss_bps: 300", ""}, prices: func(*twapSource) PriceSource { return nil }, in: impact, want: DecisionApprove},
		{name: "no price source", prices: func(*twapSource) PriceSource { return nil }, in: ethSwap("1", "2990", "2960.1"), want: DecisionDeny, texts: []string{
			"no USD price for ETH or USDC on chain 1 (no price source is configured), so the swap cannot be judged against an independent price, and swaps.max_loss_bps 300 requires it"}},
		{name: "price error for one token", prices: func(s *twapSource) PriceSource { delete(s.usd, "USDC"); return s }, in: ethSwap("1", "2990", "2960.1"), want: DecisionDeny, texts: []string{
			"no USD price for USDC on chain 1 (the price source failed: uniswap: no USD price for USDC: no Uniswap V3 pool with liquidity"}},
		{name: "price error for both tokens", prices: func(s *twapSource) PriceSource {
			s.fail["ETH"], s.fail["USDC"] = errors.New("TWAP window has too few observations"), errors.New("rpc down")
			return s
		}, in: ethSwap("1", "2990", "2960.1"), want: DecisionDeny, texts: []string{"ETH on chain 1 (the price source failed: TWAP window has too few observations); no USD price for USDC on chain 1 (the price source failed: rpc down)"}},
		{name: "zero price", prices: func(s *twapSource) PriceSource { s.usd["USDC"] = new(big.Rat); return s }, in: ethSwap("1", "2990", "2960.1"), want: DecisionDeny, texts: []string{
			"the price source " + `"` + twapText + `"` + " gave 0 USD for USDC on chain 1, and a price must be positive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(strings.NewReplacer(tt.replace...).Replace(lossPolicy)))
			if err != nil {
				t.Fatal(err)
			}
			var src PriceSource = newTWAP()
			if tt.prices != nil {
				src = tt.prices(src.(*twapSource))
			}
			eng, _ := newTestEngine(t, p, wednesday, WithPrices(src))
			var rules []string
			if tt.want == DecisionDeny {
				rules = []string{"swaps.max_loss_bps"}
			}
			decideOnce(t, eng, tt.in).check(t, tt.want, rules, tt.texts, nil)
		})
	}
}

// A swap's tokens are priced once per decision, though the loss bound and
// the USD limits both need the input's price, and the audit lists each
// price once.
func TestSwapPricesOncePerDecision(t *testing.T) {
	p, err := Parse([]byte(strings.Replace(lossPolicy, `USDC: "10000000"}}`, `USDC: "10000000"}, per_tx_usd: 10000}`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	src := newTWAP()
	eng, l := newTestEngine(t, p, wednesday, WithPrices(src))
	if _, err := eng.Decide(context.Background(), ethSwap("1", "2990", "2960.1")); err != nil {
		t.Fatal(err)
	}
	if src.calls["ETH"] != 1 || src.calls["USDC"] != 1 {
		t.Fatalf("prices asked %v, want each token once", src.calls)
	}
	e := l.Entries()[0]
	if len(e.Prices) != 2 || !strings.HasPrefix(e.Prices[0], "ETH on chain 1: 3000 USD") || !strings.HasPrefix(e.Prices[1], "USDC on chain 1: 1 USD") {
		t.Fatalf("audited prices %q", e.Prices)
	}
}

func TestParseSpendersAndMaxLoss(t *testing.T) {
	tests := []struct {
		name    string
		replace []string
		err     string // "" when it parses
		summary []string
		lossBps int64 // -1: MaxLossBps reports none
	}{
		{name: "neither", lossBps: -1, summary: []string{"approvals are charged against the limits as spends"}},
		{name: "both", replace: []string{"unlimited: false}", `unlimited: false, spenders: ["` + router + `"]}`, "max_deadline_seconds: 1800}", "max_deadline_seconds: 1800, max_loss_bps: 300}"},
			lossBps: 300, summary: []string{"approval spenders (only these): " + strings.ToLower(router), "swaps: max_loss_bps 300"}},
		{name: "zero loss", replace: []string{"max_deadline_seconds: 1800}", "max_deadline_seconds: 1800, max_loss_bps: 0}"}, lossBps: 0},
		{name: "loss above 10000", replace: []string{"max_deadline_seconds: 1800}", "max_deadline_seconds: 1800, max_loss_bps: 10001}"},
			err: "swaps.max_loss_bps: value 10001 on line 19 is out of range; write a number from 0 to 10000"},
		{name: "negative loss", replace: []string{"max_deadline_seconds: 1800}", "max_deadline_seconds: 1800, max_loss_bps: -1}"},
			err: `swaps.max_loss_bps: value "-1" on line 19 is not a whole number`},
		{name: "spender also denied", replace: []string{"unlimited: false}", `unlimited: false, spenders: ["` + dead + `"]}`},
			err: "approvals.spenders: address " + dead + " on line 18 is also in recipients.deny; remove it from one of the lists"},
		{name: "spender not an address", replace: []string{"unlimited: false}", `unlimited: false, spenders: ["router"]}`},
			err: `approvals.spenders: "router" on line 18`},
		{name: "spenders not a list", replace: []string{"unlimited: false}", `unlimited: false, spenders: "` + router + `"}`},
			err: "approvals.spenders: approvals.spenders on line 18 is not a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := policyText()
			for i := 0; i+1 < len(tt.replace); i += 2 {
				if !strings.Contains(text, tt.replace[i]) {
					t.Fatalf("no %q in the test policy", tt.replace[i])
				}
				text = strings.Replace(text, tt.replace[i], tt.replace[i+1], 1)
			}
			p, err := Parse([]byte(text))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			bps, ok := p.MaxLossBps()
			if (tt.lossBps < 0) == ok || (ok && int64(bps) != tt.lossBps) {
				t.Fatalf("MaxLossBps = %d %v, want %d", bps, ok, tt.lossBps)
			}
			for _, w := range tt.summary {
				if !strings.Contains(p.Summary(), w) {
					t.Errorf("summary lacks %q:\n%s", w, p.Summary())
				}
			}
		})
	}
}

// benchmarks of the new checks, beside BenchmarkDecide's unchanged ones.
func BenchmarkDecideExposure(b *testing.B) {
	p, err := Parse([]byte(strings.Replace(lossPolicy, "limits: {per_tx: {ETH: \"5000\", USDC: \"10000000\"}}",
		"contracts: {allow: [\""+router+"\"]}\nlimits: {per_tx: {ETH: \"5000\", USDC: \"10000000\"}, daily: {ETH: \"1000000\", USDC: \"1000000000\"}, per_tx_usd: 1000000}\napprovals: {max: {USDC: \"1000\"}}", 1)))
	if err != nil {
		b.Fatal(err)
	}
	for name, mk := range map[string]func(time.Time) Intent{
		"approve": func(time.Time) Intent { return approveUSDC(router, "5") },
		"swap-loss-bound": func(now time.Time) Intent {
			s := ethSwap("0.001", "3", "2.97")
			s.Deadline = now.Unix() + 600
			return s
		},
	} {
		b.Run(name, func(b *testing.B) {
			now := benchStart
			eng := NewEngine(p, NewMemLedger(), WithPrices(benchPrices{}), WithClock(func() time.Time { return now }))
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				now = benchClock(i)
				if _, err := eng.Decide(ctx, mk(now)); err != nil {
					b.Fatalf("op %d: %v", i, err)
				}
			}
		})
	}
}
