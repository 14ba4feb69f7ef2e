package uniswap_test

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
)

// mintParams is NonfungiblePositionManager.MintParams.
type mintParams struct {
	Token0, Token1                 common.Address
	Fee, TickLower, TickUpper      *big.Int
	Amount0Desired, Amount1Desired *big.Int
	Amount0Min, Amount1Min         *big.Int
	Recipient                      common.Address
	Deadline                       *big.Int
}

// newPool creates and initializes the V3 pool a/b at amountB base units of
// b per amountA base units of a, and mints a full-range position of those
// amounts from the actor (who has approved the position manager for both).
// It returns the pool's address.
func (a *actor) newPool(ta, tb common.Address, fee uint32, amountA, amountB *big.Int) common.Address {
	a.t.Helper()
	t0, t1, amt0, amt1 := ta, tb, amountA, amountB
	if t0.Cmp(t1) > 0 {
		t0, t1, amt0, amt1 = tb, ta, amountB, amountA
	}
	sqrt := new(big.Int).Lsh(amt1, 192)
	sqrt.Sqrt(sqrt.Quo(sqrt, amt0))
	npm := a.d.Address(devnet.NonfungiblePositionManager)
	a.call(devnet.NonfungiblePositionManager, npm, nil, "createAndInitializePoolIfNecessary", t0, t1, big.NewInt(int64(fee)), sqrt)
	a.mintFullRange(ta, tb, fee, amountA, amountB)
	return view(a.t, a.d, devnet.UniswapV3Factory, a.d.Address(devnet.UniswapV3Factory), "getPool", t0, t1, big.NewInt(int64(fee)))[0].(common.Address)
}

func (a *actor) mintFullRange(ta, tb common.Address, fee uint32, amountA, amountB *big.Int) *types.Receipt {
	a.t.Helper()
	t0, t1, amt0, amt1 := ta, tb, amountA, amountB
	if t0.Cmp(t1) > 0 {
		t0, t1, amt0, amt1 = tb, ta, amountB, amountA
	}
	spacing := map[uint32]int64{100: 1, 500: 10, 3000: 60, 10000: 200}[fee]
	edge := int64(uniswap.MaxTick) / spacing * spacing
	return a.call(devnet.NonfungiblePositionManager, a.d.Address(devnet.NonfungiblePositionManager), nil, "mint", mintParams{
		Token0: t0, Token1: t1, Fee: big.NewInt(int64(fee)), TickLower: big.NewInt(-edge), TickUpper: big.NewInt(edge),
		Amount0Desired: amt0, Amount1Desired: amt1, Amount0Min: new(big.Int), Amount1Min: new(big.Int),
		Recipient: a.from, Deadline: big.NewInt(time.Now().Add(24 * time.Hour).Unix()),
	})
}

func units(n int64, decimals int64) *big.Int {
	return new(big.Int).Mul(big.NewInt(n), new(big.Int).Exp(big.NewInt(10), big.NewInt(decimals), nil))
}

// deepestStablePool is, among the seeded V3 pools of WETH with USDC or
// DAI, the one whose in-range liquidity stands for the most dollars at its
// price (L·√P or L/√P, whole stablecoins), read with FetchV3Pool.
func deepestStablePool(t *testing.T, o *onChain) (common.Address, string, uint32) {
	t.Helper()
	weth := o.d.Address(devnet.WETH)
	dec := map[common.Address]int64{o.d.Address(devnet.USDC): 6, o.d.Address(devnet.DAI): 18}
	sym := map[common.Address]string{o.d.Address(devnet.USDC): "USDC", o.d.Address(devnet.DAI): "DAI"}
	var best common.Address
	var bestFee uint32
	var bestSym string
	var bestDepth *big.Rat
	q96 := new(big.Int).Lsh(big.NewInt(1), 96)
	for _, p := range o.d.Deployment().Pools {
		stable := p.Token0
		if p.Token0 == weth {
			stable = p.Token1
		} else if p.Token1 != weth {
			continue
		}
		if p.Protocol != "uniswap-v3" || dec[stable] == 0 {
			continue
		}
		st, err := uniswap.FetchV3Pool(t.Context(), o.c, p.Address, 0)
		if err != nil {
			t.Fatal(err)
		}
		l, s := st.Liquidity.ToBig(), st.SqrtPriceX96.ToBig()
		depth := new(big.Rat).SetFrac(new(big.Int).Mul(l, s), q96) // token1 = the stablecoin
		if stable == p.Token0 {
			depth = new(big.Rat).SetFrac(new(big.Int).Mul(l, q96), s)
		}
		depth.Quo(depth, new(big.Rat).SetInt(units(1, dec[stable])))
		if bestDepth == nil || depth.Cmp(bestDepth) > 0 {
			best, bestFee, bestSym, bestDepth = p.Address, p.Fee, sym[stable], depth
		}
	}
	return best, bestSym, bestFee
}

func within(a, b *big.Rat, partsPerMillion int64) bool {
	d := new(big.Rat).Sub(a, b)
	d.Abs(d)
	lim := new(big.Rat).Mul(b, big.NewRat(partsPerMillion, 1_000_000))
	return d.Cmp(lim.Abs(lim)) <= 0
}

func TestPriceSource(t *testing.T) {
	d := devnettest.New(t)
	c := newClient(t, d)
	o := &onChain{d: d, c: c}
	ctx := t.Context()
	weth, usdc, dai := d.Address(devnet.WETH), d.Address(devnet.USDC), d.Address(devnet.DAI)
	f := uniswap.Factories{V2: d.Address(devnet.UniswapV2Factory), V3: d.Address(devnet.UniswapV3Factory), WETH: weth}
	stables := []uniswap.Stablecoin{{Symbol: "USDC", Address: usdc, Decimals: 6}, {Symbol: "DAI", Address: dai, Decimals: 18}}
	// As the runtime prices on a devnet: at least devnet.OracleAge of
	// history, less than the window.
	ps := uniswap.NewPriceSource(c, f, stables, uniswap.WithMinTWAPWindow(devnet.OracleAge))
	wethTok := policies.Token{Symbol: "WETH", Address: weth.Hex(), Decimals: 18}

	// A fresh devnet's oracles hold devnet.OracleAge seconds of history and
	// a little more: the price uses them and its source says the window is
	// short. A source wanting the whole window refuses it.
	q, err := ps.Quote(ctx, wethTok)
	if err != nil {
		t.Fatal(err)
	}
	if q.Window >= uniswap.DefaultTWAPWindow || q.Window < devnet.OracleAge || !strings.Contains(q.Source, "oracle history shorter than the 1800s asked for") {
		t.Errorf("fresh devnet: window %d, source %q", q.Window, q.Source)
	}
	if _, err := uniswap.NewPriceSource(c, f, stables).Quote(ctx, wethTok); !errors.Is(err, uniswap.ErrShortOracleHistory) || !strings.Contains(err.Error(), "window (1800s)") {
		t.Errorf("fresh devnet, whole window required: %v, want ErrShortOracleHistory", err)
	}

	// A token with a deep pool against WETH (0.5 WETH) and a thin,
	// mispriced one against USDC (10 USDC).
	me := newActor(t, d)
	tkn, err := d.DeployToken(ctx, "Test Token", "TKN", 18, units(1_000_000, 18), me.from)
	if err != nil {
		t.Fatal(err)
	}
	npm := d.Address(devnet.NonfungiblePositionManager)
	me.call(devnet.WETH, weth, ether(1_000), "deposit")
	for _, tok := range []common.Address{tkn, weth, usdc} {
		me.call("DevnetERC20", tok, nil, "approve", npm, new(big.Int).Lsh(big.NewInt(1), 255))
	}
	viaPool := me.newPool(tkn, weth, 3000, ether(200), ether(100))
	directPool := me.newPool(tkn, usdc, 3000, ether(10), units(100, 6))
	if err := d.AdjustTime(time.Hour); err != nil {
		t.Fatal(err)
	}

	// WETH: one leg, the deepest WETH/stablecoin pool, its TWAP exactly.
	q, err = ps.Quote(ctx, wethTok)
	if err != nil {
		t.Fatal(err)
	}
	pool, sym, fee := deepestStablePool(t, o)
	wantSource := fmt.Sprintf("uniswap-v3 TWAP 1800s WETH/%s %s%% pool %s", sym, map[uint32]string{100: "0.01", 500: "0.05", 3000: "0.3"}[fee], pool.Hex())
	if len(q.Legs) != 1 || q.Legs[0].Pool != pool || q.Source != wantSource || q.Window != 1800 || q.Pegged {
		t.Fatalf("WETH priced by %q (%d legs, window %d), want %q", q.Source, len(q.Legs), q.Window, wantSource)
	}
	cum := view(t, d, "UniswapV3Pool", pool, "observe", []uint32{1800, 0})[0].([]*big.Int)
	mean := floorDiv(new(big.Int).Sub(cum[1], cum[0]).Int64(), 1800)
	raw, err := uniswap.PriceAtTick(int32(mean))
	if err != nil {
		t.Fatal(err)
	}
	want := new(big.Rat).Mul(raw, new(big.Rat).SetFrac(units(1, 18), units(1, 6))) // token0 WETH, token1 USDC
	if q.Legs[0].Token0 != weth {
		want = new(big.Rat).Inv(new(big.Rat).Mul(raw, new(big.Rat).SetFrac(units(1, 6), units(1, 18))))
	}
	if sym != "USDC" {
		t.Fatalf("the deepest pool is WETH/%s; the expectation below assumes USDC", sym)
	}
	if q.USD.Cmp(want) != 0 {
		t.Errorf("WETH = %s USD, the pool's own observe says %s", q.USD.FloatString(6), want.FloatString(6))
	}
	if f, _ := q.USD.Float64(); f < 2_900 || f > 3_100 {
		t.Errorf("WETH = %g USD", f)
	}
	wethUSD := q.USD

	// The native coin is WETH's price.
	eth, err := ps.PriceUSD(ctx, c.Chain(), policies.Token{Symbol: "ETH", Decimals: 18})
	if err != nil || eth.USD.Cmp(wethUSD) != 0 || eth.Source != q.Source {
		t.Errorf("ETH: %v %v, want WETH's %s", eth, err, wethUSD.FloatString(2))
	}

	// TKN: through WETH, 0.5 × WETH, not the thin direct pool's 10 USD.
	tknTok := policies.Token{Symbol: "TKN", Address: tkn.Hex(), Decimals: 18}
	qt, err := ps.Quote(ctx, tknTok)
	if err != nil {
		t.Fatal(err)
	}
	half := new(big.Rat).Mul(wethUSD, big.NewRat(1, 2))
	if len(qt.Legs) != 2 || qt.Legs[0].Pool != viaPool || qt.Legs[1].Pool != pool || !within(qt.USD, half, 200) || !within(qt.Spot, half, 200) {
		t.Errorf("TKN = %s USD (spot %s) by %q, want about %s through %s", qt.USD.FloatString(4), qt.Spot.FloatString(4), qt.Source, half.FloatString(4), viaPool.Hex())
	}
	if !strings.HasPrefix(qt.Source, "uniswap-v3 TWAP 1800s TKN/WETH 0.3% pool "+viaPool.Hex()+" × WETH/USDC ") {
		t.Errorf("TKN source %q", qt.Source)
	}

	// Deepen the direct pool past the route through WETH (500,000 USDC
	// against about 300,000 USD of WETH). The pool keeps one observation,
	// which the mint overwrites: at the mint's block it has no history, and
	// the route through WETH still prices TKN.
	r := me.mintFullRange(tkn, usdc, 3000, ether(50_000), units(500_000, 6))
	qm, err := ps.QuoteAt(ctx, r.BlockNumber.Uint64(), tknTok)
	if err != nil {
		t.Fatal(err)
	}
	if len(qm.Legs) != 2 || qm.Legs[0].Pool != viaPool || !within(qm.USD, half, 200) {
		t.Errorf("TKN at the block that deepened the direct pool = %s USD by %q, want about %s through WETH", qm.USD.FloatString(4), qm.Source, half.FloatString(4))
	}
	if _, err := uniswap.ObserveTWAPAt(ctx, c, r.BlockNumber.Uint64(), directPool, 1800); !errors.Is(err, uniswap.ErrNoOracleHistory) {
		t.Errorf("the direct pool at its mint's block: %v, want ErrNoOracleHistory", err)
	}
	// Half an hour on, the direct pool is the deeper route, at its 10 USD.
	if err := d.AdjustTime(time.Hour); err != nil {
		t.Fatal(err)
	}
	qd, err := ps.Quote(ctx, tknTok)
	if err != nil {
		t.Fatal(err)
	}
	wantDirect := "uniswap-v3 TWAP 1800s TKN/USDC 0.3% pool " + directPool.Hex()
	if len(qd.Legs) != 1 || qd.Legs[0].Pool != directPool || !within(qd.USD, big.NewRat(10, 1), 200) || qd.Source != wantDirect {
		t.Errorf("TKN with a deep direct pool = %s USD by %q, want about 10 by %q", qd.USD.FloatString(4), qd.Source, wantDirect)
	}

	// A second quote at the same block sends no eth_call.
	before := ps.Stats()
	again, err := ps.Quote(ctx, tknTok)
	if err != nil {
		t.Fatal(err)
	}
	if after := ps.Stats(); after.Calls != before.Calls || again.USD.Cmp(qd.USD) != 0 || again.Block != qd.Block {
		t.Errorf("cached quote sent %d calls (block %d, then %d)", after.Calls-before.Calls, qd.Block, again.Block)
	}

	// Stablecoins are pegged.
	for _, st := range stables {
		p, err := ps.PriceUSD(ctx, c.Chain(), policies.Token{Symbol: st.Symbol, Address: st.Address.Hex(), Decimals: st.Decimals})
		if err != nil || p.USD.Cmp(big.NewRat(1, 1)) != 0 || !strings.HasPrefix(p.Source, "pegged: "+st.Symbol) {
			t.Errorf("%s: %v %v", st.Symbol, p, err)
		}
	}

	// Errors name the token, on one line.
	defl := policies.Token{Symbol: "DEFL", Address: d.Address(devnet.DEFL).Hex(), Decimals: 18}
	for name, tc := range map[string]struct {
		ps    *uniswap.PriceSource
		chain string
		tok   policies.Token
		is    error
		text  string
	}{
		"V2 only":     {ps, c.Chain(), defl, uniswap.ErrNoPrice, "DEFL (" + d.Address(devnet.DEFL).Hex() + ")"},
		"wrong chain": {ps, "1", tknTok, nil, "TKN"},
		"window 0":    {uniswap.NewPriceSource(c, f, stables, uniswap.WithTWAPWindow(0)), c.Chain(), tknTok, nil, "0 seconds"},
		"no stables":  {uniswap.NewPriceSource(c, f, nil), c.Chain(), tknTok, nil, "stablecoin"},
		"minimum 0":   {uniswap.NewPriceSource(c, f, stables, uniswap.WithMinTWAPWindow(0)), c.Chain(), tknTok, nil, "minimum TWAP window of 0 seconds"},
		"minimum over window": {uniswap.NewPriceSource(c, f, stables, uniswap.WithTWAPWindow(600), uniswap.WithMinTWAPWindow(1800)), c.Chain(), tknTok, nil,
			"minimum TWAP window of 1800s exceeds the 600s window"},
	} {
		_, err := tc.ps.PriceUSD(ctx, tc.chain, tc.tok)
		if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), tc.text) || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: %v; want one line with %q", name, err, tc.text)
		}
	}
}

// A route through a pool holding less oracle history than the minimum
// window is refused with ErrShortOracleHistory and the next route prices
// the token; with none left the error gives every route's reason. TKN has
// a deep direct pool against USDC (at 10 USD) and a shallower one against
// WETH (at 0.5 WETH): which prices it shows which was refused.
func TestPriceSourceMinimumHistory(t *testing.T) {
	d := devnettest.New(t)
	c := newClient(t, d)
	ctx := t.Context()
	weth, usdc := d.Address(devnet.WETH), d.Address(devnet.USDC)
	f := uniswap.Factories{V3: d.Address(devnet.UniswapV3Factory), WETH: weth}
	stables := []uniswap.Stablecoin{{Symbol: "USDC", Address: usdc, Decimals: 6}}
	ps := uniswap.NewPriceSource(c, f, stables, uniswap.WithMinTWAPWindow(devnet.OracleAge))
	strict := uniswap.NewPriceSource(c, f, stables) // the whole window, as on a real chain

	me := newActor(t, d)
	tkn, err := d.DeployToken(ctx, "Test Token", "TKN", 18, units(1_000_000, 18), me.from)
	if err != nil {
		t.Fatal(err)
	}
	npm := d.Address(devnet.NonfungiblePositionManager)
	me.call(devnet.WETH, weth, ether(200), "deposit")
	for _, tok := range []common.Address{tkn, weth, usdc} {
		me.call("DevnetERC20", tok, nil, "approve", npm, new(big.Int).Lsh(big.NewInt(1), 255))
	}
	viaPool := me.newPool(tkn, weth, 3000, ether(200), ether(100))
	directPool := me.newPool(tkn, usdc, 3000, ether(50_000), units(500_000, 6))
	tknTok := policies.Token{Symbol: "TKN", Address: tkn.Hex(), Decimals: 18}
	wethUSD, err := ps.Quote(ctx, policies.Token{Symbol: "WETH", Address: weth.Hex(), Decimals: 18})
	if err != nil {
		t.Fatal(err)
	}
	viaPrice := new(big.Rat).Mul(wethUSD.USD, big.NewRat(1, 2))

	for _, step := range []struct {
		name    string
		advance time.Duration // AdjustTime before the quote
		touch   bool          // first, a mint into the direct pool, which overwrites its one observation
		pool    common.Address
		price   *big.Rat
		refused []string // the pools a refusal names; none when priced
	}{
		{name: "both pools 30s old", advance: 30 * time.Second, refused: []string{directPool.Hex(), viaPool.Hex()}},
		{name: "both pools old enough: the deeper, direct", advance: devnet.OracleAge * time.Second, pool: directPool, price: big.NewRat(10, 1)},
		{name: "direct pool touched 30s ago: through WETH", touch: true, advance: 30 * time.Second, pool: viaPool, price: viaPrice},
		{name: "direct pool old enough again", advance: devnet.OracleAge * time.Second, pool: directPool, price: big.NewRat(10, 1)},
	} {
		if step.touch {
			me.mintFullRange(tkn, usdc, 3000, ether(1), units(10, 6))
		}
		if err := d.AdjustTime(step.advance); err != nil {
			t.Fatal(err)
		}
		q, err := ps.Quote(ctx, tknTok)
		if len(step.refused) > 0 {
			if !errors.Is(err, uniswap.ErrShortOracleHistory) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), fmt.Sprintf("window (%ds)", devnet.OracleAge)) {
				t.Errorf("%s: %v; want ErrShortOracleHistory on one line", step.name, err)
				continue
			}
			for _, pool := range step.refused {
				if !strings.Contains(err.Error(), pool) {
					t.Errorf("%s: %v; want pool %s named", step.name, err, pool)
				}
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", step.name, err)
			continue
		}
		if q.Legs[0].Pool != step.pool || !within(q.USD, step.price, 200) {
			t.Errorf("%s: TKN = %s USD by %q, want about %s through %s", step.name, q.USD.FloatString(4), q.Source, step.price.FloatString(4), step.pool.Hex())
		}
		// Between the minimum and the window: used, and said to be short.
		if q.Window < devnet.OracleAge || !strings.Contains(q.Source, "oracle history shorter than the 1800s asked for") {
			t.Errorf("%s: window %d, source %q; want a shortened window of at least %ds, said so", step.name, q.Window, q.Source, devnet.OracleAge)
		}
		// A source wanting the whole window takes neither route.
		if _, err := strict.Quote(ctx, tknTok); !errors.Is(err, uniswap.ErrShortOracleHistory) || !strings.Contains(err.Error(), "window (1800s)") {
			t.Errorf("%s, whole window required: %v, want ErrShortOracleHistory", step.name, err)
		}
	}
}

// BenchmarkPriceSource prices WETH (one leg) and a token through WETH (two
// legs) over in-process JSON-RPC: a fresh source every time (uncached: the
// factory lookups, the pools' state and oracles, three JSON-RPC round
// trips) and one source at one block (cached: eth_blockNumber only).
func BenchmarkPriceSource(b *testing.B) {
	d := devnettest.New(b)
	c := newClient(b, d)
	weth, usdc, dai := d.Address(devnet.WETH), d.Address(devnet.USDC), d.Address(devnet.DAI)
	f := uniswap.Factories{V3: d.Address(devnet.UniswapV3Factory), WETH: weth}
	stables := []uniswap.Stablecoin{{Symbol: "USDC", Address: usdc, Decimals: 6}, {Symbol: "DAI", Address: dai, Decimals: 18}}
	me := newActor(b, d)
	tkn, err := d.DeployToken(b.Context(), "Test Token", "TKN", 18, units(1_000_000, 18), me.from)
	if err != nil {
		b.Fatal(err)
	}
	npm := d.Address(devnet.NonfungiblePositionManager)
	me.call(devnet.WETH, weth, ether(1_000), "deposit")
	for _, tok := range []common.Address{tkn, weth} {
		me.call("DevnetERC20", tok, nil, "approve", npm, new(big.Int).Lsh(big.NewInt(1), 255))
	}
	me.newPool(tkn, weth, 3000, ether(200), ether(100))
	if err := d.AdjustTime(time.Hour); err != nil {
		b.Fatal(err)
	}
	for _, tok := range []policies.Token{
		{Symbol: "WETH", Address: weth.Hex(), Decimals: 18},
		{Symbol: "TKN", Address: tkn.Hex(), Decimals: 18},
	} {
		b.Run(tok.Symbol+"/uncached", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := uniswap.NewPriceSource(c, f, stables).PriceUSD(b.Context(), c.Chain(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tok.Symbol+"/cached", func(b *testing.B) {
			ps := uniswap.NewPriceSource(c, f, stables)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ps.PriceUSD(b.Context(), c.Chain(), tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
