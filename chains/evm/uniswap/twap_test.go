package uniswap_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
)

// actor sends transactions on a devnet from a funded account of its own.
type actor struct {
	t    testing.TB
	d    *devnet.Devnet
	key  *ecdsa.PrivateKey
	from common.Address
}

func newActor(t testing.TB, d *devnet.Devnet) *actor {
	t.Helper()
	acct, key := devnettest.Account(t, d)
	return &actor{t: t, d: d, key: key, from: acct.Address}
}

// send signs, sends and waits for one transaction, and fails the test if
// it reverts.
func (a *actor) send(to common.Address, value *big.Int, data []byte) *types.Receipt {
	a.t.Helper()
	return devnettest.Send(a.t, a.d, a.key, to, value, data)
}

// call packs a method of the named contract's ABI and sends it.
func (a *actor) call(contract string, to common.Address, value *big.Int, method string, args ...any) *types.Receipt {
	a.t.Helper()
	ab, err := a.d.ABI(contract)
	if err != nil {
		a.t.Fatal(err)
	}
	data, err := ab.Pack(method, args...)
	if err != nil {
		a.t.Fatalf("%s.%s: %v", contract, method, err)
	}
	return a.send(to, value, data)
}

// view eth_calls a method of the named contract's ABI.
func view(t testing.TB, d *devnet.Devnet, contract string, to common.Address, method string, args ...any) []any {
	t.Helper()
	ab, err := d.ABI(contract)
	if err != nil {
		t.Fatal(err)
	}
	data, err := ab.Pack(method, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Client().CallContract(context.Background(), ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		t.Fatalf("%s.%s: %v", contract, method, err)
	}
	v, err := ab.Unpack(method, out)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// slot0Tick reads a V3 pool's current tick through the deployed ABI.
func slot0Tick(t testing.TB, d *devnet.Devnet, pool common.Address) int64 {
	t.Helper()
	return view(t, d, "UniswapV3Pool", pool, "slot0")[1].(*big.Int).Int64()
}

func blockTime(t testing.TB, d *devnet.Devnet, n *big.Int) uint64 {
	t.Helper()
	h, err := d.Client().HeaderByNumber(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	return h.Time
}

func seededPool(t testing.TB, d *devnet.Devnet, protocol, a, b string, fee uint32) common.Address {
	t.Helper()
	ta, tb := d.Address(a), d.Address(b)
	for _, p := range d.Deployment().Pools {
		if p.Protocol == protocol && p.Fee == fee && (p.Token0 == ta && p.Token1 == tb || p.Token0 == tb && p.Token1 == ta) {
			return p.Address
		}
	}
	t.Fatalf("no %s pool %s/%s %d", protocol, a, b, fee)
	return common.Address{}
}

func newClient(t testing.TB, d *devnet.Devnet) *evm.Client {
	t.Helper()
	c, err := evm.NewClient(context.Background(), d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exactInputSingle is SwapRouter02's ExactInputSingleParams.
type exactInputSingle struct {
	TokenIn, TokenOut common.Address
	Fee               *big.Int
	Recipient         common.Address
	AmountIn          *big.Int
	AmountOutMinimum  *big.Int
	SqrtPriceLimitX96 *big.Int
}

func ether(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1e18)) }

// floorDiv is OracleLibrary.consult's rounding, written as it is there:
// truncate, then one down for a negative quotient with a remainder.
func floorDiv(d, w int64) int64 {
	q := d / w
	if d < 0 && d%w != 0 {
		q--
	}
	return q
}

func TestMeanTickRounding(t *testing.T) {
	for _, tc := range []struct{ then, now, w int64 }{
		{0, 5 * 1800, 1800}, {0, 1799, 1800}, {0, -1, 1800}, {0, -1800, 1800}, {0, -3601, 1800},
		{-1_000_000, 1_000_007, 13}, {5_000_000, -7_000_001, 17}, {123, 123, 1},
	} {
		got, err := uniswap.MeanTick(big.NewInt(tc.then), big.NewInt(tc.now), uint32(tc.w))
		if err != nil {
			t.Fatal(err)
		}
		if want := floorDiv(tc.now-tc.then, tc.w); int64(got) != want {
			t.Errorf("MeanTick(%d, %d, %d) = %d, want %d", tc.then, tc.now, tc.w, got, want)
		}
	}
	if _, err := uniswap.MeanTick(big.NewInt(0), big.NewInt(10), 0); err == nil {
		t.Error("MeanTick over 0 seconds: no error")
	}
	if _, err := uniswap.MeanTick(big.NewInt(0), big.NewInt(1_000_000_000), 1); !errors.Is(err, uniswap.ErrOverflow) {
		t.Errorf("a mean tick past MaxTick: %v", err)
	}
}

func TestPriceAtTick(t *testing.T) {
	one, err := uniswap.PriceAtTick(0)
	if err != nil || one.Cmp(big.NewRat(1, 1)) != 0 {
		t.Fatalf("PriceAtTick(0) = %v, %v; want exactly 1", one, err)
	}
	for _, tick := range []int32{1, -1, 60, -887272, 887272, 200_000, -276_324} {
		p, err := uniswap.PriceAtTick(tick)
		if err != nil {
			t.Fatal(err)
		}
		f, _ := p.Float64()
		want := math.Pow(1.0001, float64(tick))
		if math.Abs(math.Log(f/want)) > 1e-9 {
			t.Errorf("PriceAtTick(%d) = %g, 1.0001^tick = %g", tick, f, want)
		}
	}
	if _, err := uniswap.PriceAtTick(uniswap.MaxTick + 1); err == nil {
		t.Error("a tick past MaxTick has a price")
	}
}

// The oracle on a private devnet: a history shorter than the window is
// used whole and said to be; a pool whose only observation is from the
// block read has none, which is an error; after time passes, one large
// swap held for one block moves the spot price far and the TWAP by exactly
// its share of the window.
func TestTWAP(t *testing.T) {
	d := devnettest.New(t)
	c := newClient(t, d)
	ctx := t.Context()
	pool := seededPool(t, d, "uniswap-v3", devnet.WETH, devnet.USDC, 500)
	weth, usdc := d.Address(devnet.WETH), d.Address(devnet.USDC)
	const window = 1800

	// 1. A fresh devnet's history is devnet.OracleAge seconds and a few
	// more: the pool's oldest observation is its first position's block
	// (the oracle kept one observation until the market grew it).
	mint := crypto.Keccak256Hash([]byte("Mint(address,address,int24,int24,uint128,uint256,uint256)"))
	mints, err := d.Client().FilterLogs(ctx, ethereum.FilterQuery{FromBlock: big.NewInt(0), Addresses: []common.Address{pool}, Topics: [][]common.Hash{{mint}}})
	if err != nil || len(mints) == 0 {
		t.Fatalf("the pool's Mint logs: %d, %v", len(mints), err)
	}
	short, err := uniswap.ObserveTWAP(ctx, c, pool, window)
	if err != nil {
		t.Fatal(err)
	}
	oldest := blockTime(t, d, new(big.Int).SetUint64(mints[0].BlockNumber))
	if short.Requested != window || uint64(short.Window) != short.Time-oldest || !short.Shortened() || short.Window < devnet.OracleAge {
		t.Errorf("fresh devnet: window %d of %d asked (shortened %v), want the %ds since the first mint", short.Window, short.Requested, short.Shortened(), short.Time-oldest)
	}
	if !strings.Contains(short.Note(), "covers only") || short.Cardinality != devnet.ObservationCardinality {
		t.Errorf("note %q, cardinality %d (want %d)", short.Note(), short.Cardinality, devnet.ObservationCardinality)
	}
	if (short.Token0 != weth || short.Token1 != usdc) && (short.Token0 != usdc || short.Token1 != weth) || short.Fee != 500 || short.Kind != uniswap.KindTWAP {
		t.Errorf("pool described as %s/%s fee %d kind %s", short.Token0.Hex(), short.Token1.Hex(), short.Fee, short.Kind)
	}
	wethUSD, err := short.Of(weth)
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := wethUSD.Float64(); f < 2_900 || f > 3_100 {
		t.Errorf("WETH in USDC over the short history: %g, want about 3,000", f)
	}

	// 2. A window of 0 is refused; so is a pool created in the block read.
	if _, err := uniswap.ObserveTWAP(ctx, c, pool, 0); err == nil || !strings.Contains(err.Error(), "0 seconds") {
		t.Errorf("window 0: %v", err)
	}
	me := newActor(t, d)
	t0, t1 := weth, usdc
	if t0.Cmp(t1) > 0 {
		t0, t1 = t1, t0
	}
	npm := d.Address(devnet.NonfungiblePositionManager)
	sqrt := view(t, d, "UniswapV3Pool", pool, "slot0")[0].(*big.Int)
	r := me.call(devnet.NonfungiblePositionManager, npm, nil, "createAndInitializePoolIfNecessary", t0, t1, big.NewInt(10_000), sqrt)
	fresh := common.BytesToAddress(view(t, d, devnet.UniswapV3Factory, d.Address(devnet.UniswapV3Factory), "getPool", t0, t1, big.NewInt(10_000))[0].(common.Address).Bytes())
	_, err = uniswap.ObserveTWAPAt(ctx, c, r.BlockNumber.Uint64(), fresh, window)
	if !errors.Is(err, uniswap.ErrNoOracleHistory) || strings.Contains(err.Error(), "\n") {
		t.Errorf("a pool created in the block read: %v, want ErrNoOracleHistory on one line", err)
	}

	// 3. Half an hour and more without swaps: the TWAP is the spot tick.
	me.call(devnet.WETH, weth, ether(3_000), "deposit")
	me.call(devnet.WETH, weth, nil, "approve", d.Address(devnet.SwapRouter02), ether(3_000))
	if err := d.AdjustTime(time.Hour); err != nil {
		t.Fatal(err)
	}
	before, err := uniswap.ObserveTWAP(ctx, c, pool, window)
	if err != nil {
		t.Fatal(err)
	}
	tick0 := slot0Tick(t, d, pool)
	if before.Window != window || before.Shortened() || int64(before.MeanTick) != tick0 || int64(before.Tick) != tick0 {
		t.Fatalf("after an hour: window %d, mean tick %d, tick %d; want %d, both %d", before.Window, before.MeanTick, before.Tick, window, tick0)
	}

	// 4. One swap of 3,000 WETH, then one block 12 seconds on.
	swap := me.call(devnet.SwapRouter02, d.Address(devnet.SwapRouter02), nil, "exactInputSingle", exactInputSingle{
		TokenIn: weth, TokenOut: usdc, Fee: big.NewInt(500), Recipient: me.from,
		AmountIn: ether(3_000), AmountOutMinimum: new(big.Int), SqrtPriceLimitX96: new(big.Int),
	})
	if err := d.AdjustTime(12 * time.Second); err != nil {
		t.Fatal(err)
	}
	after, err := uniswap.ObserveTWAP(ctx, c, pool, window)
	if err != nil {
		t.Fatal(err)
	}
	tick1 := slot0Tick(t, d, pool)
	held := int64(after.Time - blockTime(t, d, swap.BlockNumber))
	// The oracle saw tick0 for window-held seconds and tick1 for held.
	want := floorDiv((window-held)*tick0+held*tick1, window)
	if int64(after.MeanTick) != want || int64(after.Tick) != tick1 {
		t.Errorf("mean tick %d (spot %d), want %d: %ds of tick %d and %ds of tick %d", after.MeanTick, after.Tick, want, window-held, tick0, held, tick1)
	}
	spotMove := math.Abs(float64(tick1 - tick0))
	twapMove := math.Abs(float64(int64(after.MeanTick) - tick0))
	if spotMove < 1_000 || twapMove*float64(window) > spotMove*float64(held)+float64(window) {
		t.Errorf("spot moved %v ticks, TWAP %v ticks in %ds held: want a large spot move and a TWAP move of its %d/%d share", spotMove, twapMove, held, held, window)
	}
	ratio := func(a, b *big.Rat) float64 { f, _ := new(big.Rat).Quo(a, b).Float64(); return f }
	spotRatio, twapRatio := ratio(after.Spot, before.Spot), ratio(after.Price, before.Price)
	t.Logf("3,000 WETH sold: spot ×%.4f (tick %d→%d), %ds TWAP ×%.5f (tick %d→%d), held %ds", spotRatio, tick0, tick1, window, twapRatio, before.MeanTick, after.MeanTick, held)
	if math.Abs(spotRatio-1) < 0.1 || math.Abs(twapRatio-1) > math.Abs(spotRatio-1)/20 {
		t.Errorf("spot price ×%.4f, TWAP ×%.5f: want the spot moved over 10%% and the TWAP under a twentieth of that", spotRatio, twapRatio)
	}
}

// A V2 pair's price is its reserves' ratio, and says it is spot.
func TestV2Spot(t *testing.T) {
	d := devnettest.Shared(t)
	c := newClient(t, d)
	pair := seededPool(t, d, "uniswap-v2", devnet.WETH, devnet.USDC, 3000)
	p, err := uniswap.V2Spot(t.Context(), c, pair)
	if err != nil {
		t.Fatal(err)
	}
	res, err := uniswap.FetchV2Pair(t.Context(), c, pair)
	if err != nil {
		t.Fatal(err)
	}
	dec := map[common.Address]int64{d.Address(devnet.WETH): 18, d.Address(devnet.USDC): 6}
	want := new(big.Rat).SetFrac(
		new(big.Int).Mul(res.Reserve1.ToBig(), new(big.Int).Exp(big.NewInt(10), big.NewInt(dec[res.Token0]), nil)),
		new(big.Int).Mul(res.Reserve0.ToBig(), new(big.Int).Exp(big.NewInt(10), big.NewInt(dec[res.Token1]), nil)))
	if p.Kind != uniswap.KindSpot || p.Price.Cmp(want) != 0 || p.Spot.Cmp(want) != 0 || p.Token0 != res.Token0 || !strings.Contains(p.Note(), "spot") {
		t.Errorf("V2 spot %s (%s, %q), want %s", p.Price.FloatString(6), p.Kind, p.Note(), want.FloatString(6))
	}
	if _, err := uniswap.ObserveTWAP(t.Context(), c, pair, 1800); err == nil {
		t.Error("a V2 pair observed as a V3 pool")
	}
}
