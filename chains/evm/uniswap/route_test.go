package uniswap_test

import (
	"errors"
	"math/big"
	"math/rand"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/mandatehq/mandate/chains/evm/uniswap"
)

func tokenAddr(i int) common.Address { return common.BigToAddress(big.NewInt(int64(0x1000 + i))) }

// synthPool makes a pool of tokens a and b holding ra of a and rb of b: a
// V2 pair, or a V3 pool with one full-range position of the same depth and
// its whole tick bitmap, so quotes never run out of state.
func synthPool(t testing.TB, n int, a, b common.Address, ra, rb *big.Int, v3 bool, fee uint32) *uniswap.Pool {
	t.Helper()
	if a.Cmp(b) > 0 {
		a, b, ra, rb = b, a, rb, ra
	}
	addr := common.BigToAddress(big.NewInt(int64(0x900000 + n)))
	if !v3 {
		return &uniswap.Pool{Address: addr, Version: uniswap.V2, Fee: 3000, Token0: a, Token1: b,
			V2: &uniswap.V2Pair{Address: addr, Token0: a, Token1: b, Reserve0: uint256.MustFromBig(ra), Reserve1: uint256.MustFromBig(rb)}}
	}
	spacing := map[uint32]int32{100: 1, 500: 10, 3000: 60, 10000: 200}[fee]
	// √P·2⁹⁶ = √(rb·2¹⁹²/ra), L = √(ra·rb)
	sp := new(big.Int).Sqrt(new(big.Int).Div(new(big.Int).Lsh(rb, 192), ra))
	l := new(big.Int).Sqrt(new(big.Int).Mul(ra, rb))
	tick, err := uniswap.TickAtSqrtRatio(uint256.MustFromBig(sp))
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := (uniswap.MinTick/spacing)*spacing, (uniswap.MaxTick/spacing)*spacing
	p := &uniswap.V3Pool{SqrtPriceX96: uint256.MustFromBig(sp), Tick: tick, Liquidity: uint256.MustFromBig(l), Fee: fee, TickSpacing: spacing,
		Ticks:  map[int32]uniswap.TickInfo{lo: {LiquidityNet: new(big.Int).Set(l)}, hi: {LiquidityNet: new(big.Int).Neg(l)}},
		Bitmap: map[int16]*uint256.Int{}}
	for w := int((lo/spacing)>>8) - 1; w <= int((hi/spacing)>>8)+1; w++ {
		p.Bitmap[int16(w)] = new(uint256.Int)
	}
	for _, tk := range []int32{lo, hi} {
		c := tk / spacing
		w := p.Bitmap[int16(c>>8)]
		w.Or(w, new(uint256.Int).Lsh(uint256.NewInt(1), uint(uint8(c))))
	}
	return &uniswap.Pool{Address: addr, Version: uniswap.V3, Fee: fee, Token0: a, Token1: b, V3: p}
}

// synthGraph is nPools pools over nTokens tokens (token 0 is WETH) with
// random depths around each token's random value, from a fixed seed.
func synthGraph(t testing.TB, nTokens, nPools int, seed int64) *uniswap.Graph {
	rng := rand.New(rand.NewSource(seed))
	value := make([]float64, nTokens)
	for i := range value {
		value[i] = 0.01 + rng.Float64()*10
	}
	var pools []*uniswap.Pool
	for n := 0; n < nPools; n++ {
		i := rng.Intn(nTokens)
		j := (i + 1 + rng.Intn(nTokens-1)) % nTokens
		depth := 1e3 * float64(int(1)<<rng.Intn(12)) // value units
		amt := func(k int) *big.Int {
			f, _ := new(big.Float).SetFloat64(depth / value[k] * (0.95 + rng.Float64()*0.1) * 1e18).Int(nil)
			return f
		}
		v3 := rng.Intn(2) == 0
		fee := []uint32{100, 500, 3000, 10000}[rng.Intn(4)]
		pools = append(pools, synthPool(t, n, tokenAddr(i), tokenAddr(j), amt(i), amt(j), v3, fee))
	}
	return uniswap.NewGraph(1, tokenAddr(0), pools)
}

// bruteBest enumerates every simple path of at most maxHops pools and
// returns the best net output and its gross output, for checking Best.
func bruteBest(g *uniswap.Graph, in, out common.Address, amount *uint256.Int, maxHops int, cost func(uint64) *big.Int) (bestNet, bestOut *big.Int) {
	var rec func(tok common.Address, amt *uint256.Int, hops int, gas uint64, seen map[common.Address]bool)
	rec = func(tok common.Address, amt *uint256.Int, hops int, gas uint64, seen map[common.Address]bool) {
		if tok == out {
			net := new(big.Int).Sub(amt.ToBig(), cost(gas))
			if bestNet == nil || net.Cmp(bestNet) > 0 {
				bestNet, bestOut = net, amt.ToBig()
			}
			return
		}
		if hops == maxHops {
			return
		}
		for _, p := range g.Pools {
			if p.Token0 != tok && p.Token1 != tok {
				continue
			}
			next := p.Other(tok)
			if seen[next] {
				continue
			}
			o, hg, err := quoteOne(p, tok, amt)
			if err != nil || o.IsZero() {
				continue
			}
			seen[next] = true
			rec(next, o, hops+1, gas+hg, seen)
			seen[next] = false
		}
	}
	rec(in, amount, 0, 0, map[common.Address]bool{in: true})
	return
}

// quoteOne quotes a pool directly with the package's pool math.
func quoteOne(p *uniswap.Pool, tokenIn common.Address, amt *uint256.Int) (*uint256.Int, uint64, error) {
	if p.Version == uniswap.V2 {
		o, err := p.V2.AmountOut(tokenIn, amt)
		return o, uniswap.GasV2Hop, err
	}
	q, err := p.V3.Quote(tokenIn == p.Token0, amt, nil)
	if err != nil {
		return nil, 0, err
	}
	if !q.AmountIn.Eq(amt) {
		return nil, 0, uniswap.ErrInsufficientLiquidity
	}
	return q.AmountOut, uniswap.GasV3Hop + uniswap.GasV3Tick*uint64(q.TicksCrossed), nil
}

func TestBestMatchesBruteForce(t *testing.T) {
	g := synthGraph(t, 12, 40, 7)
	rng := rand.New(rand.NewSource(8))
	checked, multi, errs := 0, 0, 0
	for _, gasPrice := range []uint64{0, 30e9, 1e15} {
		g.GasPrice = uint256.NewInt(gasPrice)
		for i := 0; i < 60; i++ {
			a, b := tokenAddr(rng.Intn(12)), tokenAddr(rng.Intn(12))
			if a == b {
				continue
			}
			amount := uint256.MustFromBig(randomAmount(rng, 24))
			hops := 1 + rng.Intn(3)
			r, err := g.Best(a, b, amount, hops)
			cost := func(gas uint64) *big.Int { return g.GasCost(b, gas).ToBig() }
			net, _ := bruteBest(g, a, b, amount, hops, cost)
			if err != nil {
				errs++
				if net != nil && errors.Is(err, uniswap.ErrNoRoute) {
					t.Errorf("%d hops %s→%s: %v, brute force found %s", hops, a, b, err, net)
				}
				continue
			}
			if net == nil {
				t.Fatalf("Best found %v where brute force found nothing", r)
			}
			got := new(big.Int).Sub(r.AmountOut.ToBig(), r.GasCost.ToBig())
			if net.Cmp(got) != 0 {
				t.Errorf("gas price %d, %d hops %s→%s amount %s: Best net %s (%d hops), brute force %s", gasPrice, hops, a, b, amount, got, len(r.Hops), net)
			}
			checkChain(t, g, r)
			checked++
			if len(r.Hops) > 1 {
				multi++
			}
		}
	}
	t.Logf("%d routes equal to brute force, %d of them multi-hop; %d errors", checked, multi, errs)
	if checked < 50 || multi == 0 {
		t.Errorf("too few routes checked")
	}
}

// checkChain re-quotes a route hop by hop.
func checkChain(t *testing.T, g *uniswap.Graph, r uniswap.Route) {
	t.Helper()
	amt := r.AmountIn
	var gas uint64
	for i, h := range r.Hops {
		var pool *uniswap.Pool
		for _, p := range g.Pools {
			if p.Address == h.Pool {
				pool = p
			}
		}
		o, hg, err := quoteOne(pool, h.TokenIn, amt)
		if err != nil || !o.Eq(h.AmountOut) || !h.AmountIn.Eq(amt) {
			t.Fatalf("hop %d: requote %v, %v; route says %s in, %s out", i, o, err, h.AmountIn, h.AmountOut)
		}
		if i > 0 && h.TokenIn != r.Hops[i-1].TokenOut {
			t.Fatalf("hop %d starts at %s, previous ends at %s", i, h.TokenIn, r.Hops[i-1].TokenOut)
		}
		amt, gas = o, gas+hg
	}
	if !amt.Eq(r.AmountOut) || gas != r.GasEstimate {
		t.Fatalf("chained %s gas %d, route %s gas %d", amt, gas, r.AmountOut, r.GasEstimate)
	}
}

func TestBestErrors(t *testing.T) {
	a, b, c, lone := tokenAddr(1), tokenAddr(2), tokenAddr(3), tokenAddr(99)
	g := uniswap.NewGraph(1, a, []*uniswap.Pool{
		synthPool(t, 1, a, b, big.NewInt(1000), big.NewInt(1000), false, 3000),
		synthPool(t, 2, b, c, big.NewInt(5), big.NewInt(5), false, 3000),
	})
	if _, err := g.Best(a, lone, uint256.NewInt(10), 3); !errors.Is(err, uniswap.ErrNoRoute) {
		t.Errorf("to a token without pools: %v, want ErrNoRoute", err)
	}
	if _, err := g.Best(a, c, uint256.NewInt(10), 1); !errors.Is(err, uniswap.ErrNoRoute) {
		t.Errorf("two hops away with maxHops 1: %v, want ErrNoRoute", err)
	}
	// 10 a → 9 b → 3 c; 1 a → 0 b: nothing comes out.
	if _, err := g.Best(a, c, uint256.NewInt(1), 3); !errors.Is(err, uniswap.ErrInsufficientLiquidity) {
		t.Errorf("dust: %v, want ErrInsufficientLiquidity", err)
	}
	if r, err := g.Best(a, c, uint256.NewInt(10), 3); err != nil || len(r.Hops) != 2 {
		t.Errorf("a→b→c: %+v, %v", r, err)
	}
	if _, err := g.Best(a, b, uint256.NewInt(0), 3); err == nil {
		t.Errorf("zero amount: no error")
	}
}

// BenchmarkRoute200 times Best over a synthetic graph of 200 pools (half V2,
// half V3 in all four fee tiers) among 40 tokens, with gas priced, 3 hops.
func BenchmarkRoute200(b *testing.B) {
	g := synthGraph(b, 40, 200, 1)
	g.GasPrice = uint256.NewInt(30e9)
	rng := rand.New(rand.NewSource(2))
	type pair struct{ in, out common.Address }
	pairs := make([]pair, 64)
	for i := range pairs {
		x := rng.Intn(40)
		pairs[i] = pair{tokenAddr(x), tokenAddr((x + 1 + rng.Intn(39)) % 40)}
	}
	amount := uint256.NewInt(1e18)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p := pairs[i%len(pairs)]
		if _, err := g.Best(p.in, p.out, amount, 3); err != nil && !errors.Is(err, uniswap.ErrNoRoute) {
			b.Fatal(err)
		}
	}
}
