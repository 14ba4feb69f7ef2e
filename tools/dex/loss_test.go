package dex_test

import (
	"bytes"
	"errors"
	"math/big"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/dex"
)

// A policy whose limits let large swaps through, so that only
// swaps.max_loss_bps stands between the wallet and a bad price.
const lossPolicy = `version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "{{.USDC}}", decimals: 6}
  DAI: {chain: 1337, address: "{{.DAI}}", decimals: 18}
  WETH: {chain: 1337, address: "{{.WETH}}", decimals: 18}
  DEFL: {chain: 1337, address: "{{.DEFL}}", decimals: 18}
limits:
  per_tx: {ETH: "5000", USDC: "100000000", DAI: "100000000", WETH: "5000", DEFL: "1000000"}
approvals:
  max: {USDC: "100000000", DAI: "100000000", WETH: "5000", DEFL: "1000000"}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800, max_loss_bps: 300}
`

// lossEnv is a wallet on a devnet of its own whose swaps are judged by the
// devnet's Uniswap V3 TWAP, as the runtime judges them.
func lossEnv(t *testing.T) *env {
	t.Helper()
	d := devnettest.New(t)
	dep := d.Deployment()
	f, r, _ := dep.Uniswap()
	w, acct := devnettest.Wallet(t, d, evm.WithSwapDecoder(r), evm.WithPollInterval(10*time.Millisecond))
	var buf bytes.Buffer
	template.Must(template.New("p").Parse(lossPolicy)).Execute(&buf, map[string]string{
		"USDC": d.Address(devnet.USDC).Hex(), "DAI": d.Address(devnet.DAI).Hex(), "WETH": d.Address(devnet.WETH).Hex(), "DEFL": d.Address("DEFL").Hex()})
	p, err := policies.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	list, err := dep.TokenList()
	if err != nil {
		t.Fatal(err)
	}
	prices := uniswap.NewPriceSource(w.Client(), f, []uniswap.Stablecoin{{Symbol: "USDC", Address: d.Address(devnet.USDC), Decimals: 6}},
		uniswap.WithMinTWAPWindow(devnet.OracleAge))
	eng := policies.NewEngine(p, policies.NewMemLedger(), policies.WithPrices(prices))
	reg := tools.NewRegistry(dex.Tools(w, eng, dex.WithTokenList(list), dex.WithUniswap(f, r), dex.WithBounds(p)))
	return &env{d: d, w: w, reg: reg, acct: acct}
}

// denied returns the policy's reasons, failing unless err is a denial.
func denied(t *testing.T, err error) string {
	t.Helper()
	var d *policies.Denied
	if !errors.As(err, &d) {
		t.Fatalf("want a policy denial, got %v", err)
	}
	return d.Error()
}

// A swap so large that its own price impact costs far more than 3%: the
// quote is honest, the slippage small, and still the input is worth much
// more than the floor by the TWAP. Refused, with both values and the source.
func TestSwapLossAgainstTWAP(t *testing.T) {
	e := lossEnv(t)
	ethBefore := e.balance(t, "ETH")
	_, err := e.call(t, "dex_swap", map[string]any{"from": "ETH", "to": "USDC", "amount": "3000", "slippage_bps": 50})
	why := denied(t, err)
	for _, want := range []string{"swaps.max_loss_bps", "USD", "TWAP"} {
		if !strings.Contains(why, want) {
			t.Fatalf("the reason does not name %q: %s", want, why)
		}
	}
	if spent := new(big.Int).Sub(ethBefore, e.balance(t, "ETH")); spent.Sign() != 0 {
		t.Fatalf("the refused swap spent %s wei", spent)
	}
	// An ordinary swap on the same pools is well within the bound.
	if _, err := e.call(t, "dex_swap", map[string]any{"from": "ETH", "to": "USDC", "amount": "0.5"}); err != nil {
		t.Fatalf("a small swap: %v", err)
	}
}

// A token with no V3 pool has no TWAP: with max_loss_bps set, a swap into
// it cannot be judged, and is refused with why.
func TestSwapWithoutTWAP(t *testing.T) {
	e := lossEnv(t)
	_, err := e.call(t, "dex_swap", map[string]any{"from": "USDC", "to": "DEFL", "amount": "10", "slippage_bps": 100})
	why := denied(t, err)
	if !strings.Contains(why, "swaps.max_loss_bps") || !strings.Contains(why, "DEFL") {
		t.Fatalf("refused without naming the missing price: %s", why)
	}
}

// A third party dumps ETH into every pool that holds it just before the
// wallet sells: the quote, taken from the moved pools, looks fine to
// slippage, but the TWAP remembers the price before the move. Refused.
func TestSwapAfterPoolsMoved(t *testing.T) {
	e := lossEnv(t)
	if _, err := e.call(t, "dex_quote", map[string]any{"from": "ETH", "to": "USDC", "amount": "1"}); err != nil {
		t.Fatal(err)
	}
	before := ethInUSDC(t, e)
	dumpETH(t, e.d, big.NewInt(0).Mul(big.NewInt(1200), big.NewInt(1e18)))
	after := ethInUSDC(t, e)
	if drop := new(big.Rat).Quo(after, before); drop.Cmp(big.NewRat(95, 100)) > 0 {
		t.Fatalf("the dump moved the ETH price only from %s to %s; the test needs a drop of 5%% or more", before.FloatString(2), after.FloatString(2))
	}
	_, err := e.call(t, "dex_swap", map[string]any{"from": "ETH", "to": "USDC", "amount": "1"})
	if why := denied(t, err); !strings.Contains(why, "swaps.max_loss_bps") {
		t.Fatalf("refused for another reason: %s", why)
	}
}

// ethInUSDC quotes one ETH in USDC across the wallet's routes.
func ethInUSDC(t *testing.T, e *env) *big.Rat {
	t.Helper()
	res, err := e.call(t, "dex_quote", map[string]any{"from": "ETH", "to": "USDC", "amount": "1"})
	if err != nil {
		t.Fatal(err)
	}
	v, ok := new(big.Rat).SetString(res.Data.(*dex.Quote).Quoted)
	if !ok {
		t.Fatalf("quote %q", res.Data.(*dex.Quote).Quoted)
	}
	return v
}

// dumpETH sells amount ETH into each pool that holds WETH, one pool at a
// time, from a devnet account of its own: a third party trading outside
// any policy of ours, moving every route the wallet could take.
func dumpETH(t *testing.T, d *devnet.Devnet, amount *big.Int) {
	t.Helper()
	ctx := t.Context()
	f, r, _ := d.Deployment().Uniswap()
	acct, key := devnettest.Account(t, d)
	c, err := evm.NewClient(ctx, d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	weth := d.Address(devnet.WETH)
	g, err := uniswap.Discover(ctx, c, f, []common.Address{weth, d.Address(devnet.USDC), d.Address(devnet.DAI)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range g.Pools {
		if p.Token0 != weth && p.Token1 != weth {
			continue
		}
		route, err := uniswap.NewGraph(g.Block, g.WETH, []*uniswap.Pool{p}).Best(weth, p.Other(weth), uint256.MustFromBig(amount), 1)
		if err != nil {
			t.Fatal(err)
		}
		call, err := r.SwapCall(route, uniswap.SwapParams{Recipient: acct.Address, MinOut: big.NewInt(1), Deadline: time.Now().Add(time.Hour).Unix(), NativeIn: true})
		if err != nil {
			t.Fatal(err)
		}
		devnettest.Send(t, d, key, r.Address, call.Value, call.Data)
	}
}
