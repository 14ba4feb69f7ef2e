package uniswap_test

import (
	"context"
	"errors"
	"math"
	"math/big"
	"math/rand"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
)

// fetchWords is how many tick bitmap words around the price the tests read:
// enough for the largest amounts below, which move the price by tens of percent.
const fetchWords = 8

type onChain struct {
	d      *devnet.Devnet
	c      *evm.Client
	quoter abi.ABI
	router abi.ABI
}

func newOnChain(t testing.TB) *onChain {
	t.Helper()
	d := devnettest.Shared(t)
	c, err := evm.NewClient(context.Background(), d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	q, err := d.ABI(devnet.QuoterV2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := d.ABI(devnet.UniswapV2Router02)
	if err != nil {
		t.Fatal(err)
	}
	return &onChain{d: d, c: c, quoter: q, router: r}
}

type quoteParams struct {
	TokenIn           common.Address
	TokenOut          common.Address
	AmountIn          *big.Int
	Fee               *big.Int
	SqrtPriceLimitX96 *big.Int
}

// quoterV2 calls QuoterV2.quoteExactInputSingle with eth_call. QuoterV2
// catches the pool's revert-with-data itself and returns normally.
func (o *onChain) quoterV2(ctx context.Context, p devnet.Pool, zeroForOne bool, amountIn, limit *big.Int) (*big.Int, *big.Int, uint32, error) {
	in, out := p.Token0, p.Token1
	if !zeroForOne {
		in, out = out, in
	}
	data, err := o.quoter.Pack("quoteExactInputSingle", quoteParams{in, out, amountIn, big.NewInt(int64(p.Fee)), limit})
	if err != nil {
		return nil, nil, 0, err
	}
	res, err := o.c.Call(ctx, common.Address{}, policies.Call{To: o.d.Address(devnet.QuoterV2).Hex(), Value: new(big.Int), Data: data})
	if err != nil {
		return nil, nil, 0, err
	}
	vals, err := o.quoter.Unpack("quoteExactInputSingle", res)
	if err != nil {
		return nil, nil, 0, err
	}
	return vals[0].(*big.Int), vals[1].(*big.Int), vals[2].(uint32), nil
}

func (o *onChain) routerAmountsOut(ctx context.Context, amountIn *big.Int, path []common.Address) (*big.Int, error) {
	data, err := o.router.Pack("getAmountsOut", amountIn, path)
	if err != nil {
		return nil, err
	}
	res, err := o.c.Call(ctx, common.Address{}, policies.Call{To: o.d.Address(devnet.UniswapV2Router02).Hex(), Value: new(big.Int), Data: data})
	if err != nil {
		return nil, err
	}
	vals, err := o.router.Unpack("getAmountsOut", res)
	if err != nil {
		return nil, err
	}
	amts := vals[0].([]*big.Int)
	return amts[len(amts)-1], nil
}

func (o *onChain) routerAmountsIn(ctx context.Context, amountOut *big.Int, path []common.Address) (*big.Int, error) {
	data, err := o.router.Pack("getAmountsIn", amountOut, path)
	if err != nil {
		return nil, err
	}
	res, err := o.c.Call(ctx, common.Address{}, policies.Call{To: o.d.Address(devnet.UniswapV2Router02).Hex(), Value: new(big.Int), Data: data})
	if err != nil {
		return nil, err
	}
	vals, err := o.router.Unpack("getAmountsIn", res)
	if err != nil {
		return nil, err
	}
	return vals[0].([]*big.Int)[0], nil
}

func (o *onChain) pools(t testing.TB, protocol string, a, b string) []devnet.Pool {
	t.Helper()
	ta, _ := o.d.Deployment().Token(a)
	tb, _ := o.d.Deployment().Token(b)
	var ps []devnet.Pool
	for _, p := range o.d.Deployment().Pools {
		if p.Protocol == protocol && (p.Token0 == ta.Address && p.Token1 == tb.Address || p.Token0 == tb.Address && p.Token1 == ta.Address) {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		t.Fatalf("no %s pool %s/%s on the devnet", protocol, a, b)
	}
	return ps
}

// randomAmount is log-uniform from 1 to 10^maxDigits, so dust, ordinary
// and pool-moving amounts are all well represented.
func randomAmount(rng *rand.Rand, maxDigits float64) *big.Int {
	f := math.Pow(10, rng.Float64()*maxDigits)
	a, _ := new(big.Float).SetFloat64(f).Int(nil)
	return a.Add(a, big.NewInt(1))
}

// maxDigits sizes amounts of a token to at most about 3,000 WETH or
// 9,000,000 USDC: enough to cross the concentrated positions' ends.
func (o *onChain) maxDigits(tok common.Address) float64 {
	if usdc, _ := o.d.Deployment().Token("USDC"); tok == usdc.Address {
		return math.Log10(9e12)
	}
	return math.Log10(3e21)
}

func TestV3QuoteMatchesQuoterV2(t *testing.T) {
	o := newOnChain(t)
	ctx := t.Context()
	const n = 1000
	for _, p := range o.pools(t, "uniswap-v3", "WETH", "USDC") {
		pool, err := uniswap.FetchV3Pool(ctx, o.c, p.Address, fetchWords)
		if err != nil {
			t.Fatal(err)
		}
		if tick, err := uniswap.TickAtSqrtRatio(pool.SqrtPriceX96); err != nil || tick != pool.Tick {
			t.Errorf("pool %d: TickAtSqrtRatio(slot0 price) = %d, %v; slot0 tick %d", p.Fee, tick, err, pool.Tick)
		}
		rng := rand.New(rand.NewSource(int64(p.Fee)))
		maxCrossed, multi, quirks := 0, 0, 0
		for i := 0; i < n; i++ {
			zeroForOne := rng.Intn(2) == 0
			tokIn := p.Token1
			if zeroForOne {
				tokIn = p.Token0
			}
			amount := randomAmount(rng, o.maxDigits(tokIn))
			// One in ten quotes stops at a price limit within ±20%.
			limit := new(big.Int)
			if rng.Intn(10) == 0 {
				f := 1 + rng.Float64()*0.1
				if zeroForOne {
					f = 1 / f
				}
				lf, _ := new(big.Float).Mul(new(big.Float).SetInt(pool.SqrtPriceX96.ToBig()), big.NewFloat(f)).Int(nil)
				limit = lf
			}
			want, wantPrice, wantCrossed, qerr := o.quoterV2(ctx, p, zeroForOne, amount, limit)
			q, err := pool.Quote(zeroForOne, uint256.MustFromBig(amount), uint256.MustFromBig(limit))
			if qerr != nil || err != nil {
				if qerr == nil || err == nil {
					t.Errorf("pool %d zeroForOne=%v amount %s limit %s: quoter err %v, local err %v", p.Fee, zeroForOne, amount, limit, qerr, err)
				}
				continue
			}
			got, crossed := q.AmountOut, q.TicksCrossed
			if got.ToBig().Cmp(want) != 0 || q.SqrtPriceX96After.ToBig().Cmp(wantPrice) != 0 {
				t.Errorf("pool %d zeroForOne=%v amount %s limit %s: local %s at price %s, QuoterV2 %s at %s", p.Fee, zeroForOne, amount, limit, got, q.SqrtPriceX96After, want, wantPrice)
			}
			qc, err := pool.QuoterTicksCrossed(pool.Tick, q.TickAfter)
			if err != nil || qc != int(wantCrossed) {
				t.Errorf("pool %d zeroForOne=%v amount %s: QuoterTicksCrossed %d (%v), QuoterV2 %d", p.Fee, zeroForOne, amount, qc, err, wantCrossed)
			}
			if crossed != int(wantCrossed) {
				// PoolTicksCounter's truncating division (see QuoterTicksCrossed):
				// it may count one tick next to the end price, never fewer.
				quirks++
				if int(wantCrossed)-crossed != 1 {
					t.Errorf("pool %d zeroForOne=%v amount %s: swap crossed %d initialized ticks, QuoterV2 says %d", p.Fee, zeroForOne, amount, crossed, wantCrossed)
				}
			}
			maxCrossed = max(maxCrossed, crossed)
			if crossed >= 1 {
				multi++
			}
		}
		t.Logf("pool %s fee %d tick %d: %d quotes equal; %d crossed initialized ticks, at most %d; QuoterV2 counted one more in %d", p.Address.Hex(), p.Fee, pool.Tick, n, multi, maxCrossed, quirks)
		if multi == 0 {
			t.Errorf("pool %d: no quote crossed an initialized tick; the amounts are too small to test crossing", p.Fee)
		}
	}
}

func TestV2QuoteMatchesRouter(t *testing.T) {
	o := newOnChain(t)
	ctx := t.Context()
	const n = 1000
	for _, p := range o.pools(t, "uniswap-v2", "WETH", "USDC") {
		pair, err := uniswap.FetchV2Pair(ctx, o.c, p.Address)
		if err != nil {
			t.Fatal(err)
		}
		if pair.Token0 != p.Token0 || pair.Token1 != p.Token1 {
			t.Fatalf("pair tokens %s/%s, deployment says %s/%s", pair.Token0, pair.Token1, p.Token0, p.Token1)
		}
		rng := rand.New(rand.NewSource(3))
		for i := 0; i < n; i++ {
			in, out := p.Token0, p.Token1
			if rng.Intn(2) == 0 {
				in, out = out, in
			}
			amount := randomAmount(rng, o.maxDigits(in)+1)
			want, err := o.routerAmountsOut(ctx, amount, []common.Address{in, out})
			if err != nil {
				t.Fatalf("getAmountsOut(%s): %v", amount, err)
			}
			got, err := pair.AmountOut(in, uint256.MustFromBig(amount))
			if err != nil {
				t.Fatalf("AmountOut(%s): %v", amount, err)
			}
			if got.ToBig().Cmp(want) != 0 {
				t.Errorf("amount %s %s→%s: local %s, router %s", amount, in, out, got, want)
			}
			if got.IsZero() {
				continue
			}
			// And back: the input the router asks for that output.
			wantIn, err := o.routerAmountsIn(ctx, got.ToBig(), []common.Address{in, out})
			if err != nil {
				t.Fatalf("getAmountsIn(%s): %v", got, err)
			}
			rIn, rOut := pair.Reserve0, pair.Reserve1
			if in == pair.Token1 {
				rIn, rOut = rOut, rIn
			}
			gotIn, err := uniswap.V2AmountIn(got, rIn, rOut)
			if err != nil || gotIn.ToBig().Cmp(wantIn) != 0 {
				t.Errorf("V2AmountIn(%s) = %v, %v; router %s", got, gotIn, err, wantIn)
			}
		}
	}
}

// TestV3StateIncomplete checks that a quote running past the fetched bitmap
// fails instead of guessing.
func TestV3StateIncomplete(t *testing.T) {
	o := newOnChain(t)
	p := o.pools(t, "uniswap-v3", "WETH", "USDC")[0]
	pool, err := uniswap.FetchV3Pool(t.Context(), o.c, p.Address, 0)
	if err != nil {
		t.Fatal(err)
	}
	huge := uint256.MustFromDecimal("1000000000000000000000000000000")
	if _, _, err := pool.QuoteExactInput(true, huge, nil); !errors.Is(err, uniswap.ErrStateIncomplete) {
		t.Errorf("quote beyond the fetched words: err = %v, want ErrStateIncomplete", err)
	}
	if _, _, err := pool.QuoteExactInput(true, uint256.NewInt(0), nil); !errors.Is(err, uniswap.ErrZeroAmount) {
		t.Errorf("zero amount: err = %v, want ErrZeroAmount", err)
	}
	if _, _, err := pool.QuoteExactInput(true, uint256.NewInt(1), new(uint256.Int).AddUint64(pool.SqrtPriceX96, 1)); !errors.Is(err, uniswap.ErrPriceLimit) {
		t.Errorf("limit above price selling token0: err = %v, want ErrPriceLimit", err)
	}
}

// TestV3QuoteWholeRange fetches every bitmap word of each devnet V3 pool and
// quotes amounts big enough to push the price past the full-range
// positions' ends: both initialized ticks on the way are crossed, liquidity
// drops to zero and the swap runs on to the price limit, as on chain.
func TestV3QuoteWholeRange(t *testing.T) {
	o := newOnChain(t)
	ctx := t.Context()
	for _, p := range o.d.Deployment().Pools {
		if p.Protocol != "uniswap-v3" {
			continue
		}
		pool, err := uniswap.FetchV3Pool(ctx, o.c, p.Address, 1<<15)
		if err != nil {
			t.Fatal(err)
		}
		for _, zeroForOne := range []bool{true, false} {
			for _, digits := range []int{18, 22, 26, 30, 34, 38} {
				amount := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(digits)), nil)
				want, wantPrice, wantCrossed, qerr := o.quoterV2(ctx, p, zeroForOne, amount, new(big.Int))
				q, err := pool.Quote(zeroForOne, uint256.MustFromBig(amount), nil)
				if qerr != nil && err == nil && strings.Contains(qerr.Error(), "out of gas") {
					// Tick spacing 1 makes the walk to the price limit
					// thousands of bitmap words long: more than the node's
					// eth_call gas cap, a limit of the chain, not of the math.
					t.Logf("pool %d zeroForOne=%v 1e%d: QuoterV2 ran out of gas; local quote %s", p.Fee, zeroForOne, digits, q.AmountOut)
					continue
				}
				if qerr != nil || err != nil {
					if qerr == nil || err == nil {
						t.Errorf("pool %s/%d zeroForOne=%v 1e%d: quoter err %v, local err %v", p.Address.Hex(), p.Fee, zeroForOne, digits, qerr, err)
					}
					continue
				}
				qc, _ := pool.QuoterTicksCrossed(pool.Tick, q.TickAfter)
				if q.AmountOut.ToBig().Cmp(want) != 0 || q.SqrtPriceX96After.ToBig().Cmp(wantPrice) != 0 || qc != int(wantCrossed) {
					t.Errorf("pool %s/%d zeroForOne=%v 1e%d: local %s at %s (%d ticks), QuoterV2 %s at %s (%d ticks)",
						p.Address.Hex(), p.Fee, zeroForOne, digits, q.AmountOut, q.SqrtPriceX96After, qc, want, wantPrice, wantCrossed)
				}
				if digits == 38 {
					t.Logf("pool %d zeroForOne=%v 1e38: out %s, crossed %d (QuoterV2 %d), tick after %d", p.Fee, zeroForOne, q.AmountOut, q.TicksCrossed, wantCrossed, q.TickAfter)
				}
			}
		}
	}
}
