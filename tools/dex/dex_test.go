package dex_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/dex"
)

const policyTmpl = `version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "{{.USDC}}", decimals: 6}
  DAI: {chain: 1337, address: "{{.DAI}}", decimals: 18}
  WETH: {chain: 1337, address: "{{.WETH}}", decimals: 18}
  DEFL: {chain: 1337, address: "{{.DEFL}}", decimals: 18}
limits:
  per_tx: {ETH: "2", USDC: "5000", DAI: "5000", WETH: "2", DEFL: "1000"}
  daily: {ETH: "10", USDC: "50000", DAI: "50000", WETH: "10", DEFL: "10000"}
approvals:
  max: {USDC: "5000", DAI: "5000", WETH: "2", DEFL: "1000"}
  unlimited: false
swaps: {max_slippage_bps: {{.MaxBps}}, max_deadline_seconds: 1800}
`

type env struct {
	d    *devnet.Devnet
	w    *evm.Wallet
	reg  *tools.Registry
	acct devnet.Account
}

// gateFunc lets a test wrap the engine (to move time after a decision).
type gateFunc struct {
	tools.Gate
	afterDecide func()
}

func (g gateFunc) Decide(ctx context.Context, in policies.Intent) (policies.Approval, error) {
	ap, err := g.Gate.Decide(ctx, in)
	if g.afterDecide != nil {
		g.afterDecide()
	}
	return ap, err
}

func setup(t *testing.T, d *devnet.Devnet, maxBps int, wrap func(tools.Gate) tools.Gate) *env {
	t.Helper()
	dep := d.Deployment()
	f, r, ok := dep.Uniswap()
	if !ok {
		t.Fatal("devnet has no Uniswap")
	}
	w, acct := devnettest.Wallet(t, d, evm.WithSwapDecoder(r), evm.WithPollInterval(10*time.Millisecond))
	var buf bytes.Buffer
	err := template.Must(template.New("p").Parse(policyTmpl)).Execute(&buf, map[string]any{
		"USDC": d.Address("USDC").Hex(), "DAI": d.Address("DAI").Hex(), "WETH": d.Address("WETH").Hex(), "DEFL": d.Address("DEFL").Hex(), "MaxBps": maxBps,
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := policies.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	list, err := dep.TokenList()
	if err != nil {
		t.Fatal(err)
	}
	var gate tools.Gate = policies.NewEngine(p, policies.NewMemLedger())
	if wrap != nil {
		gate = wrap(gate)
	}
	reg := tools.NewRegistry(dex.Tools(w, gate, dex.WithTokenList(list), dex.WithUniswap(f, r), dex.WithBounds(p)))
	return &env{d: d, w: w, reg: reg, acct: acct}
}

func (e *env) call(t *testing.T, name string, args map[string]any) (tools.Result, error) {
	t.Helper()
	b, _ := json.Marshal(args)
	return e.reg.Call(t.Context(), name, b)
}

func (e *env) balance(t *testing.T, sym string) *big.Int {
	t.Helper()
	var v *big.Int
	var err error
	if sym == "ETH" {
		v, err = e.w.Client().Balance(t.Context(), e.w.Address())
	} else {
		v, err = e.w.Client().TokenBalance(t.Context(), e.d.Address(sym), e.w.Address())
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func base(t *testing.T, s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("not a base-unit amount: %q", s)
	}
	return v
}

// TestSwapExecutesAsQuoted is the done-when on the devnet: a swap
// from ETH and a two-hop USDC→DAI swap each receive exactly their quote
// (nothing else trades in between), pass the gate as one intent with an
// exact approval, and move the balances by exactly those amounts.
func TestSwapExecutesAsQuoted(t *testing.T) {
	e := setup(t, devnettest.Shared(t), 100, nil)
	for _, tc := range []struct {
		from, to, amount string
		hops             int
	}{
		{"ETH", "USDC", "0.5", 0},
		{"USDC", "DAI", "1000", 2},
		{"USDC", "ETH", "500", 0},
	} {
		t.Run(tc.from+"→"+tc.to, func(t *testing.T) {
			inBefore, outBefore := e.balance(t, tc.from), e.balance(t, tc.to)
			q, err := e.call(t, "dex_quote", map[string]any{"from": tc.from, "to": tc.to, "amount": tc.amount})
			if err != nil {
				t.Fatal(err)
			}
			quote := q.Data.(*dex.Quote)
			if tc.hops != 0 && len(quote.Route) != tc.hops {
				t.Fatalf("route %+v, want %d hops", quote.Route, tc.hops)
			}
			res, err := e.call(t, "dex_swap", map[string]any{"from": tc.from, "to": tc.to, "amount": tc.amount})
			if err != nil {
				t.Fatal(err)
			}
			s := res.Data.(dex.Swap)
			if s.Received == "" || s.ReceivedBase != s.QuotedBase || s.Shortfall != "" {
				t.Fatalf("received %s, quoted %s: %s", s.ReceivedBase, s.QuotedBase, res.Text)
			}
			if s.QuotedBase != quote.QuotedBase {
				t.Errorf("dex_swap quoted %s, dex_quote %s at the same state", s.QuotedBase, quote.QuotedBase)
			}
			if s.SlippageBps != 50 || base(t, s.MinOutBase).Cmp(base(t, s.QuotedBase)) >= 0 {
				t.Errorf("slippage %d, floor %s, quote %s", s.SlippageBps, s.MinOutBase, s.QuotedBase)
			}
			var intent struct {
				Kind     string          `json:"kind"`
				Approval json.RawMessage `json:"approval"`
				Deadline int64           `json:"deadline"`
			}
			if err := json.Unmarshal(s.Outcome.Intent, &intent); err != nil {
				t.Fatal(err)
			}
			if intent.Kind != "swap" || (tc.from == "ETH") != (intent.Approval == nil) {
				t.Errorf("intent %s", s.Outcome.Intent)
			}
			if d := intent.Deadline - time.Now().Unix(); d <= 0 || d > 600 {
				t.Errorf("deadline %ds away", d)
			}
			got := new(big.Int).Sub(e.balance(t, tc.to), outBefore)
			if tc.to != "ETH" && got.String() != s.ReceivedBase {
				t.Errorf("balance of %s rose by %s, the tool says it received %s", tc.to, got, s.ReceivedBase)
			}
			spent := new(big.Int).Sub(inBefore, e.balance(t, tc.from))
			if want, _ := policies.ParseUnits(tc.amount, quote.From.Decimals); tc.from != "ETH" && spent.Cmp(want) != 0 {
				t.Errorf("%s fell by %s, want %s", tc.from, spent, want)
			}
			if tc.from != "ETH" {
				left, err := e.w.Client().Allowance(t.Context(), e.d.Address(tc.from), e.w.Address(), e.d.Address(devnet.SwapRouter02))
				if err != nil || left.Sign() != 0 {
					t.Errorf("allowance left to the router: %v, %v (the approval must be exactly the amount)", left, err)
				}
			}
		})
	}
}

// TestSwapSlippageAbovePolicy: a slippage above the policy's maximum (even
// "100%", as a hostile model might ask) is denied with the reason, never
// lowered quietly, and nothing is signed.
func TestSwapSlippageAbovePolicy(t *testing.T) {
	e := setup(t, devnettest.Shared(t), 100, nil)
	for _, bps := range []int{150, 10000} {
		nonce, _ := e.w.Client().PendingNonce(t.Context(), e.w.Address())
		res, err := e.call(t, "dex_swap", map[string]any{"from": "USDC", "to": "DAI", "amount": "100", "slippage_bps": bps})
		var denied *policies.Denied
		if !errors.As(err, &denied) || !strings.Contains(err.Error(), "swaps.max_slippage_bps") {
			t.Fatalf("slippage %d: %v (%s)", bps, err, res.Text)
		}
		if after, _ := e.w.Client().PendingNonce(t.Context(), e.w.Address()); after != nonce {
			t.Errorf("slippage %d: nonce moved from %d to %d", bps, nonce, after)
		}
	}
	// Within the policy, an explicit slippage is used as asked.
	res, err := e.call(t, "dex_swap", map[string]any{"from": "USDC", "to": "DAI", "amount": "100", "slippage_bps": "80"})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Data.(dex.Swap); s.SlippageBps != 80 {
		t.Errorf("slippage %d, asked 80", s.SlippageBps)
	}
}

// TestDefaultSlippageCappedByPolicy: with no slippage asked, the policy's
// maximum when it is below 0.5%.
func TestDefaultSlippageCappedByPolicy(t *testing.T) {
	e := setup(t, devnettest.Shared(t), 30, nil)
	res, err := e.call(t, "dex_quote", map[string]any{"from": "ETH", "to": "USDC", "amount": "0.1"})
	if err != nil {
		t.Fatal(err)
	}
	q := res.Data.(*dex.Quote)
	want := new(big.Int).Mul(base(t, q.QuotedBase), big.NewInt(9970))
	want.Add(want, big.NewInt(9999)).Quo(want, big.NewInt(10000))
	if q.SlippageBps != 30 || q.MinOutBase != want.String() {
		t.Errorf("slippage %d floor %s, want 30 and %s", q.SlippageBps, q.MinOutBase, want)
	}
}

func TestSwapBadInput(t *testing.T) {
	d := devnettest.Shared(t)
	e := setup(t, d, 100, nil)
	lone, err := d.DeployToken(t.Context(), "Lonely", "LONE", 18, new(big.Int).Exp(big.NewInt(10), big.NewInt(24), nil), e.acct.Address)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"from": "USDC", "to": "NOPE", "amount": "1"}, "NOPE"},
		{map[string]any{"from": "USDC", "to": "DAI", "amount": "0"}, "greater than zero"},
		{map[string]any{"from": "USDC", "to": "DAI", "amount": "0.0000001"}, "decimal places"},
		{map[string]any{"from": "USDC", "to": "DAI", "amount": "-1"}, "amount"},
		{map[string]any{"from": "USDC", "to": "USDC", "amount": "1"}, "same token"},
		{map[string]any{"from": "ETH", "to": "WETH", "amount": "1"}, "wrapping"},
		{map[string]any{"from": "USDC", "to": lone.Hex(), "amount": "1"}, "no Uniswap pool"},
		{map[string]any{"from": "USDC", "to": "DAI", "amount": "10000000"}, "USDC"}, // more than the wallet holds
		{map[string]any{"from": "USDC", "to": "DAI", "amount": "1", "slippage_bps": 10001}, "10000"},
		{map[string]any{"from": "USDC", "to": "DAI", "amount": "1", "slippage_bps": "0.5"}, "whole number"},
		{map[string]any{"from": "USDC", "to": "DAI", "amount": "1", "slippage_bps": -3}, "whole number"},
		{map[string]any{"from": "USDC", "to": "DAI", "amount": "1", "route": "x"}, "route"},
	} {
		nonce, _ := e.w.Client().PendingNonce(t.Context(), e.w.Address())
		_, err := e.call(t, "dex_swap", tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v, want one line with %q", tc.args, err, tc.want)
		}
		if after, _ := e.w.Client().PendingNonce(t.Context(), e.w.Address()); after != nonce {
			t.Errorf("%v: nonce moved", tc.args)
		}
	}
}

// TestFeeOnTransferReported: DEFL burns 1% of every transfer, so a swap
// into it delivers less than the pool's quote. At the default slippage the
// router's floor would revert it: the tool says so with the numbers and
// signs nothing. With enough slippage it goes through and the shortfall is
// reported, not hidden.
func TestFeeOnTransferReported(t *testing.T) {
	e := setup(t, devnettest.Shared(t), 300, nil)
	nonce, _ := e.w.Client().PendingNonce(t.Context(), e.w.Address())
	_, err := e.call(t, "dex_swap", map[string]any{"from": "ETH", "to": "DEFL", "amount": "0.1"})
	if err == nil || !strings.Contains(err.Error(), "fee on transfer") || !strings.Contains(err.Error(), "less than its floor") {
		t.Fatalf("default slippage: %v", err)
	}
	if after, _ := e.w.Client().PendingNonce(t.Context(), e.w.Address()); after != nonce {
		t.Errorf("nonce moved after a refused swap")
	}
	res, err := e.call(t, "dex_swap", map[string]any{"from": "ETH", "to": "DEFL", "amount": "0.1", "slippage_bps": 200})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Data.(dex.Swap)
	q, r := base(t, s.QuotedBase), base(t, s.ReceivedBase)
	// 1% burnt: received is 99% of the quote, rounded down by the token.
	if want := new(big.Int).Sub(q, new(big.Int).Quo(q, big.NewInt(100))); r.Cmp(want) > 0 || r.Cmp(new(big.Int).Sub(want, big.NewInt(1))) < 0 || s.Shortfall == "" {
		t.Errorf("quoted %s, received %s, shortfall %q", q, r, s.Shortfall)
	}
	if !strings.Contains(res.Text, "less than quoted") {
		t.Errorf("text hides the shortfall: %s", res.Text)
	}
}

// TestDeadlinePassedBeforeMining: the chain's clock passes the swap's
// deadline between the decision and the signature; the wallet's simulation
// sees the router refuse it, nothing is sent, and the error says why.
func TestDeadlinePassedBeforeMining(t *testing.T) {
	d := devnettest.New(t)
	e := setup(t, d, 100, func(g tools.Gate) tools.Gate {
		return gateFunc{Gate: g, afterDecide: func() {
			if err := d.AdjustTime(time.Hour); err != nil {
				t.Error(err)
			}
		}}
	})
	nonce, _ := e.w.Client().PendingNonce(t.Context(), e.w.Address())
	_, err := e.call(t, "dex_swap", map[string]any{"from": "ETH", "to": "USDC", "amount": "0.1"})
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("err = %v, want the deadline named", err)
	}
	if after, _ := e.w.Client().PendingNonce(t.Context(), e.w.Address()); after != nonce {
		t.Errorf("nonce moved after a swap past its deadline")
	}
}

// Two listed tokens with one symbol: the tool asks which address, and
// never guesses.
func TestSwapAmbiguousSymbol(t *testing.T) {
	d := devnettest.Shared(t)
	e := setup(t, d, 100, nil)
	fake, err := d.DeployToken(t.Context(), "USD Coin", "USDC", 6, big.NewInt(1e12), e.acct.Address)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := d.Deployment().TokenList()
	list.Tokens = append(list.Tokens, tokenlist.Token{ChainID: devnet.ChainID, Address: fake.Hex(), Symbol: "USDC", Name: "USD Coin (copy)", Decimals: 6})
	f, r, _ := d.Deployment().Uniswap()
	p, _ := policies.Parse([]byte("version: 1\nchains: [1337]\nlimits: {per_tx: {ETH: \"1\"}, daily: {ETH: \"1\"}}\n"))
	reg := tools.NewRegistry(dex.Tools(e.w, policies.NewEngine(p, policies.NewMemLedger()), dex.WithTokenList(list), dex.WithUniswap(f, r)))
	for _, tool := range []string{"dex_quote", "dex_swap"} {
		_, err := reg.Call(t.Context(), tool, []byte(`{"from":"ETH","to":"USDC","amount":"0.1"}`))
		if err == nil || !strings.Contains(err.Error(), fake.Hex()) || !strings.Contains(err.Error(), d.Address("USDC").Hex()) {
			t.Errorf("%s with two USDCs: %v, want both addresses named", tool, err)
		}
	}
}
