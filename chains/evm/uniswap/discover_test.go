package uniswap_test

import (
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
)

func (o *onChain) factories() uniswap.Factories {
	c := o.d.Deployment().Contracts
	return uniswap.Factories{V2: c[devnet.UniswapV2Factory], V3: c[devnet.UniswapV3Factory], WETH: c[devnet.WETH]}
}

func (o *onChain) tokens(t testing.TB) []common.Address {
	t.Helper()
	var ts []common.Address
	for _, tk := range o.d.Deployment().Tokens.Tokens {
		ts = append(ts, tk.Address)
	}
	return ts
}

func (o *onChain) token(t testing.TB, sym string) common.Address {
	t.Helper()
	tk, ok := o.d.Deployment().Token(sym)
	if !ok {
		t.Fatalf("no %s on the devnet", sym)
	}
	return tk.Address
}

// discover runs a Discoverer with a cache of its own at the latest block.
func (o *onChain) discover(t testing.TB, extra ...common.Address) (*uniswap.Graph, *uniswap.Discoverer) {
	t.Helper()
	dv := &uniswap.Discoverer{Client: o.c, Factories: o.factories(), Cache: uniswap.NewStateCache()}
	g, err := dv.Discover(t.Context(), append(o.tokens(t), extra...))
	if err != nil {
		t.Fatal(err)
	}
	return g, dv
}

// independent reads every pool of g again with FetchV2Pair/FetchV3Pool
// (unbatched, at the latest block) into a graph of its own.
func (o *onChain) independent(t testing.TB, g *uniswap.Graph) *uniswap.Graph {
	t.Helper()
	var pools []*uniswap.Pool
	for _, p := range g.Pools {
		q := *p
		var err error
		if p.Version == uniswap.V2 {
			q.V2, err = uniswap.FetchV2Pair(t.Context(), o.c, p.Address)
		} else {
			q.V3, err = uniswap.FetchV3Pool(t.Context(), o.c, p.Address, uniswap.DefaultV3Words)
		}
		if err != nil {
			t.Fatal(err)
		}
		pools = append(pools, &q)
	}
	ng := uniswap.NewGraph(g.Block, g.WETH, pools)
	ng.GasPrice = g.GasPrice
	return ng
}

func TestDiscoverFindsSeededPools(t *testing.T) {
	o := newOnChain(t)
	g, dv := o.discover(t)
	byAddr := map[common.Address]*uniswap.Pool{}
	for _, p := range g.Pools {
		byAddr[p.Address] = p
	}
	for _, want := range o.d.Deployment().Pools {
		p, ok := byAddr[want.Address]
		if !ok {
			t.Errorf("seeded %s pool %s (%s/%s fee %d) not discovered", want.Protocol, want.Address.Hex(), want.Token0.Hex(), want.Token1.Hex(), want.Fee)
			continue
		}
		version := map[string]int{"uniswap-v2": uniswap.V2, "uniswap-v3": uniswap.V3}[want.Protocol]
		if p.Version != version || p.Fee != want.Fee || p.Token0 != want.Token0 || p.Token1 != want.Token1 {
			t.Errorf("pool %s: discovered V%d fee %d %s/%s; seeded %s fee %d %s/%s", want.Address.Hex(), p.Version, p.Fee, p.Token0.Hex(), p.Token1.Hex(), want.Protocol, want.Fee, want.Token0.Hex(), want.Token1.Hex())
		}
	}
	t.Logf("block %d: %d pools discovered, %d seeded; %+v", g.Block, len(g.Pools), len(o.d.Deployment().Pools), dv.Cache.Stats())

	// The batched state equals the unbatched reads (nothing is mined in between).
	ind := o.independent(t, g)
	for i, p := range g.Pools {
		q := ind.Pools[i]
		if p.Version == uniswap.V2 {
			if !p.V2.Reserve0.Eq(q.V2.Reserve0) || !p.V2.Reserve1.Eq(q.V2.Reserve1) || p.V2.Token0 != q.V2.Token0 || p.V2.Token1 != q.V2.Token1 {
				t.Errorf("pair %s: batched %+v, FetchV2Pair %+v", p.Address.Hex(), p.V2, q.V2)
			}
			continue
		}
		a, b := p.V3, q.V3
		if !a.SqrtPriceX96.Eq(b.SqrtPriceX96) || a.Tick != b.Tick || !a.Liquidity.Eq(b.Liquidity) || a.Fee != b.Fee || a.TickSpacing != b.TickSpacing || len(a.Ticks) != len(b.Ticks) || len(a.Bitmap) != len(b.Bitmap) {
			t.Errorf("pool %s: batched state differs from FetchV3Pool", p.Address.Hex())
		}
		for tk, info := range b.Ticks {
			if ai, ok := a.Ticks[tk]; !ok || ai.LiquidityNet.Cmp(info.LiquidityNet) != 0 {
				t.Errorf("pool %s tick %d: batched %v, FetchV3Pool %v", p.Address.Hex(), tk, ai.LiquidityNet, info.LiquidityNet)
			}
		}
		for w, word := range b.Bitmap {
			if aw, ok := a.Bitmap[w]; !ok || !aw.Eq(word) {
				t.Errorf("pool %s word %d differs", p.Address.Hex(), w)
			}
		}
	}
}

func TestDiscoverCachedPerBlock(t *testing.T) {
	o := newOnChain(t)
	g, dv := o.discover(t)
	before := dv.Cache.Stats()
	if before.Calls == 0 || before.Batches == 0 {
		t.Fatalf("first discovery sent nothing: %+v", before)
	}
	g2, err := dv.DiscoverAt(t.Context(), g.Block, o.tokens(t))
	if err != nil {
		t.Fatal(err)
	}
	after := dv.Cache.Stats()
	if after.Calls != before.Calls || after.Batches != before.Batches {
		t.Errorf("second discovery at block %d sent %d eth_calls in %d batches", g.Block, after.Calls-before.Calls, after.Batches-before.Batches)
	}
	if len(g2.Pools) != len(g.Pools) {
		t.Errorf("second discovery found %d pools, first %d", len(g2.Pools), len(g.Pools))
	}
	for i := range g.Pools {
		if g.Pools[i].Address != g2.Pools[i].Address {
			t.Errorf("pool %d: %s then %s", i, g.Pools[i].Address.Hex(), g2.Pools[i].Address.Hex())
		}
	}
	g3, err := dv.Refresh(t.Context(), g)
	if err != nil {
		t.Fatal(err)
	}
	if g3.Block == g.Block && dv.Cache.Stats().Calls != before.Calls {
		t.Errorf("Refresh at the same block sent %d eth_calls", dv.Cache.Stats().Calls-before.Calls)
	}
	t.Logf("first: %d eth_calls in %d batches; again at block %d: %d hits, no calls", before.Calls, before.Batches, g.Block, after.Hits-before.Hits)
}

// directBest quotes every direct pool of the pair on an independently read
// graph and returns the best output net of gas.
func directBest(t *testing.T, g *uniswap.Graph, in, out common.Address, amount *uint256.Int) (net, gross *big.Int) {
	t.Helper()
	for _, p := range g.PoolsBetween(in, out) {
		o, gas, err := quoteOne(p, in, amount)
		if err != nil || o.IsZero() {
			continue
		}
		n := new(big.Int).Sub(o.ToBig(), g.GasCost(out, gas).ToBig())
		if net == nil || n.Cmp(net) > 0 {
			net, gross = n, o.ToBig()
		}
	}
	return net, gross
}

func routeNet(r uniswap.Route) *big.Int {
	return new(big.Int).Sub(r.AmountOut.ToBig(), r.GasCost.ToBig())
}

func TestBestDirectWETHUSDC(t *testing.T) {
	o := newOnChain(t)
	g, _ := o.discover(t)
	ind := o.independent(t, g)
	weth, usdc := o.token(t, "WETH"), o.token(t, "USDC")
	for _, gasPrice := range []uint64{0, 20e9} {
		g.GasPrice, ind.GasPrice = uint256.NewInt(gasPrice), uint256.NewInt(gasPrice)
		for _, eth := range []string{"1000000000000000", "1000000000000000000", "50000000000000000000", "2000000000000000000000"} {
			amount := uint256.MustFromDecimal(eth)
			wantNet, wantGross := directBest(t, ind, weth, usdc, amount)
			r, err := g.Best(weth, usdc, amount, 1)
			if err != nil {
				t.Fatal(err)
			}
			if r.AmountOut.ToBig().Cmp(wantGross) != 0 || routeNet(r).Cmp(wantNet) != 0 || len(r.Hops) != 1 {
				t.Errorf("gas price %d, %s wei: Best %s (net %s) via %d hops, best direct %s (net %s)", gasPrice, eth, r.AmountOut, routeNet(r), len(r.Hops), wantGross, wantNet)
			}
			r3, err := g.Best(weth, usdc, amount, 3)
			if err != nil {
				t.Fatal(err)
			}
			if routeNet(r3).Cmp(wantNet) < 0 {
				t.Errorf("3 hops: net %s below the best direct %s", routeNet(r3), wantNet)
			}
			checkChain(t, ind, r3)
			t.Logf("gas price %d: %s wei WETH → %s USDC (gas cost %s) in %d hop(s), fee %d", gasPrice, eth, r3.AmountOut, r3.GasCost, len(r3.Hops), r3.Hops[0].Fee)
		}
	}
}

func TestBestMultiHop(t *testing.T) {
	o := newOnChain(t)
	g, _ := o.discover(t)
	ind := o.independent(t, g)
	g.GasPrice, ind.GasPrice = uint256.NewInt(1e9), uint256.NewInt(1e9)
	usdc, dai, weth, defl := o.token(t, "USDC"), o.token(t, "DAI"), o.token(t, "WETH"), o.token(t, "DEFL")

	// DEFL has a pool with WETH only, so any route starts DEFL → WETH.
	r, err := g.Best(defl, usdc, uint256.MustFromDecimal("1000000000000000000000"), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Hops) < 2 || r.Hops[0].TokenOut != weth {
		t.Errorf("DEFL→USDC: %d hops via %s, want 2 or 3 starting through WETH", len(r.Hops), r.Hops[0].TokenOut.Hex())
	}
	checkChain(t, ind, r)

	// USDC → DAI: where a path through WETH beats both direct pools, Best
	// takes it, and its output is the chained exact quotes.
	multi := 0
	for _, usd := range []uint64{100, 1_000, 10_000, 100_000, 1_000_000} {
		amount := uint256.NewInt(usd * 1e6)
		r, err := g.Best(usdc, dai, amount, 3)
		if err != nil {
			t.Fatal(err)
		}
		checkChain(t, ind, r)
		directNet, _ := directBest(t, ind, usdc, dai, amount)
		if routeNet(r).Cmp(directNet) < 0 {
			t.Errorf("%d USDC: route net %s below direct %s", usd, routeNet(r), directNet)
		}
		if len(r.Hops) > 1 {
			multi++
			if routeNet(r).Cmp(directNet) <= 0 {
				t.Errorf("%d USDC: %d-hop route chosen at net %s, direct gives %s", usd, len(r.Hops), routeNet(r), directNet)
			}
		}
		t.Logf("%d USDC → %s DAI in %d hop(s) (direct net %s)", usd, r.AmountOut, len(r.Hops), directNet)
	}
	if multi == 0 {
		t.Errorf("no USDC→DAI amount routes through WETH: the devnet should have a two-hop route that beats the direct pools (issue 5, item 6)")
	}
}

func TestBestNoRoute(t *testing.T) {
	o := newOnChain(t)
	lone, err := o.d.DeployToken(t.Context(), "Lonely", "LONE", 18, new(big.Int).Exp(big.NewInt(10), big.NewInt(24), nil), o.d.Accounts()[0].Address)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := o.discover(t, lone)
	for _, p := range g.Pools {
		if p.Token0 == lone || p.Token1 == lone {
			t.Fatalf("a pool for a token just deployed: %s", p)
		}
	}
	weth := o.token(t, "WETH")
	if _, err := g.Best(weth, lone, uint256.NewInt(1e18), 3); !errors.Is(err, uniswap.ErrNoRoute) {
		t.Errorf("WETH→LONE: %v, want ErrNoRoute", err)
	}
	if _, err := g.Best(lone, weth, uint256.NewInt(1e18), 3); !errors.Is(err, uniswap.ErrNoRoute) {
		t.Errorf("LONE→WETH: %v, want ErrNoRoute", err)
	}
}
