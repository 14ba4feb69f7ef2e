package devnet

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// The market built after the contracts and their first liquidity (see the
// package documentation, "Market"): more concentrated V3 positions, direct
// USDC/DAI pools pushed off their peg so the two-hop route through WETH
// beats them, and a trader's swap history.

// traderKey is the key of the account whose swaps make up the devnet's
// history: keccak256("mandate devnet trader"). It is none of the funded
// accounts, so their balances are untouched.
var traderKey = mustKey("mandate devnet trader")

// Trader returns the address of the account whose swaps, sent during New,
// make up the devnet's block history. Tests and tools reading that history
// can find its swaps by this recipient.
func Trader() common.Address { return crypto.PubkeyToAddress(traderKey.PublicKey) }

// Trader's funding: ETH at genesis (for gas), tokens from the deployer.
var (
	TraderETH  = ether(1_000)
	traderWETH = ether(1_000)
	traderUSDC = units(3_000_000, 6)
	traderDAI  = units(3_000_000, 18)
)

// DirectUSDCDAIPrice is where the deployment leaves the direct USDC/DAI
// pools (V2 and V3 0.01%): 985 DAI for 1,000 USDC, 1.5% off the 1:1 peg the
// WETH pools imply, as if a large DAI buyer had just swept them and nobody
// had arbitraged the gap yet. USDC→WETH→DAI therefore pays more DAI than
// either direct pool for ordinary amounts (see the package documentation).
var DirectUSDCDAIPrice = [2]int64{1_000, 985} // USDC, DAI

// v2SkewUSDC is what the deployer swaps USDC→DAI in the V2 USDC/DAI pair
// (10M/10M) to move its price to about 985 DAI per 1,000 USDC:
// 10M·(1/√0.985 − 1)/0.997 ≈ 76,080 USDC.
var v2SkewUSDC = units(76_080, 6)

// v3Range is a concentrated position relative to the pool's starting tick:
// [tick+lo, tick+hi], rounded to the tick spacing. A range entirely above
// or below the price holds one token only.
type v3Range struct {
	lo, hi           int
	amountA, amountB *big.Int // desired amounts of the spec's tokens A and B
}

// Extra positions in the WETH/USDC pools (A = WETH, B = USDC), so swaps of
// a few to a few thousand WETH cross several initialized ticks: narrow ones
// at the price, wider ones, and one-sided ones above and below it.
var v3ExtraPositions = []struct {
	a, b   string
	fee    uint32
	ranges []v3Range
}{
	{WETH, USDC, 500, []v3Range{
		{-20, 20, ether(5), units(15_000, 6)},          // ±0.2%
		{-100, 100, ether(20), units(60_000, 6)},       // ±1%
		{-300, 100, ether(30), units(90_000, 6)},       // lopsided, mostly below
		{-2_000, 2_000, ether(300), units(900_000, 6)}, // ±20%
		{300, 1_500, ether(100), units(300_000, 6)},    // above the price: one token only
		{-1_500, -300, ether(100), units(300_000, 6)},  // below the price: the other only
		{-5_000, 5_000, ether(200), units(600_000, 6)}, // about -40%..+65%
	}},
	{WETH, USDC, 3000, []v3Range{
		{-120, 120, ether(10), units(30_000, 6)},
		{-600, 600, ether(60), units(180_000, 6)},
		{600, 3_000, ether(100), units(300_000, 6)},
		{-3_000, -600, ether(100), units(300_000, 6)},
		{-6_000, 6_000, ether(200), units(600_000, 6)},
	}},
}

// ObservationCardinality is how many oracle observations each seeded V3
// pool keeps (increaseObservationCardinalityNext, sent before the extra
// positions and the history): a new pool keeps one, which leaves no history
// to average a TWAP over. A pool writes at most one observation per block,
// when the first swap or in-range position change of the block touches it,
// and the devnet's blocks are at least a second apart, so a full ring spans
// at least ObservationCardinality-1 seconds: twice OracleAge keeps the
// pools' history at least OracleAge long however fast swaps come.
const ObservationCardinality = 2 * OracleAge

// OracleAge is how much oracle history, in seconds, the seeded V3 pools
// hold when New returns: the chain cannot be backdated, so after the
// market's history New seals one empty block OracleAge seconds later (the
// chain then runs about OracleAge seconds ahead of the wall clock until the
// clock catches up; a swap's deadline, minutes from the wall clock, still
// lies ahead of it). A price source on a devnet must accept TWAPs this
// short (uniswap.WithMinTWAPWindow(OracleAge)) where a real chain's
// would use the whole window.
//
// Bound: a price pushed for k seconds weighs k/window in the TWAP's mean
// tick, so it moves the TWAP by the push's factor to the power k/window,
// and the window here may be as short as OracleAge. Devnet blocks come a
// second apart while the chain is ahead of the clock, so a push that
// doubles a seeded pool's price for one block moves its TWAP by 2^(1/120),
// about 0.6%, well inside a policy's max_loss_bps of 300; held for 12 s (a
// mainnet block) it would move it by 2^(12/120), about 7%. On a real chain
// the whole 1800 s window makes a 12 s block weigh 0.7%. Nobody arbitrages
// a devnet, so a push held for minutes does move its TWAP: the minimum
// guards against the one-block push, not against owning the market.
const OracleAge = 120

// historySwap is one swap of the trader's history: amountIn of tokenIn for
// tokenOut on a V2 pair (fee 0) or a V3 pool.
type historySwap struct {
	in, out  string
	fee      uint32 // 0: V2
	amountIn *big.Int
}

// historyBlocks and the venues below make the history: in each block one
// swap on each venue; a venue alternates direction block by block, and each
// pair of blocks swaps the same value there and back, so prices end where
// they started (less the fees the pools kept).
const historyBlocks = 6

var historyVenues = []struct {
	stable string
	fee    uint32
}{
	{USDC, 0}, {USDC, 500}, {USDC, 3000}, {DAI, 0}, {DAI, 3000},
}

// historySizes are swap sizes in thousandths of a WETH.
var historySizes = []int64{1_000, 5_000, 500, 12_000, 2_000, 8_000, 250}

// HistorySwaps is how many swaps the trader makes during New.
const HistorySwaps = historyBlocks * 5

func historyPlan() [][]historySwap {
	var plan [][]historySwap
	for k := 0; k < historyBlocks; k++ {
		var blk []historySwap
		for j, v := range historyVenues {
			milli := historySizes[(k/2+2*j)%len(historySizes)]
			weth := new(big.Int).Mul(big.NewInt(milli), units(1, 15))
			stable := new(big.Int).Mul(big.NewInt(milli*3), units(1, 3)) // 3,000 per WETH, in whole units
			if v.stable == USDC {
				stable.Mul(stable, units(1, 6))
			} else {
				stable.Mul(stable, units(1, 18))
			}
			stable.Quo(stable, big.NewInt(1_000))
			s := historySwap{in: WETH, out: v.stable, fee: v.fee, amountIn: weth}
			if (k+j)%2 == 1 {
				s = historySwap{in: v.stable, out: WETH, fee: v.fee, amountIn: stable}
			}
			blk = append(blk, s)
		}
		plan = append(plan, blk)
	}
	return plan
}

// exactInputSingleParams is SwapRouter02.exactInputSingle's argument.
type exactInputSingleParams struct {
	TokenIn, TokenOut common.Address
	Fee               *big.Int
	Recipient         common.Address
	AmountIn          *big.Int
	AmountOutMinimum  *big.Int
	SqrtPriceLimitX96 *big.Int
}

// Fixed gas limits for transactions whose estimate would depend on one
// sent in the same block (and to spare the estimates' round trips).
const (
	approveGas = 80_000
	swapGas    = 600_000
)

// buildMarket adds, after the deployment proper: one block with the extra
// V3 positions, the skew of the direct USDC/DAI pools and the trader's
// funding and approvals; then historyBlocks blocks of the trader's swaps.
func (d *Devnet) buildMarket(ctx context.Context, b *txBatch, c map[string]common.Address, deadline *big.Int) error {
	a := d.arts
	erc20 := a["DevnetERC20"]
	npm := a["NonfungiblePositionManager"]
	me := b.from
	maxUint := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

	// Round 4, deployer: oracle history, positions, skew, trader's tokens.
	// The oracle slots come first: the positions minted after them in the
	// same block write the first observation into the larger buffer.
	for _, p := range v3Pools {
		t0, t1 := sortTokens(c[p.a], c[p.b])
		b.call(fmt.Sprintf("grow V3 oracle %s/%s %d", p.a, p.b, p.fee), V3PoolAddress(c[UniswapV3Factory], t0, t1, p.fee), a["UniswapV3Pool"],
			"increaseObservationCardinalityNext", nil, uint16(ObservationCardinality))
	}
	for _, p := range v3ExtraPositions {
		t0, t1 := sortTokens(c[p.a], c[p.b])
		flip := t0 != c[p.a]
		spec := findV3Spec(p.a, p.b, p.fee)
		price0, price1 := spec.priceUnit, spec.priceA
		if flip {
			price0, price1 = spec.priceA, spec.priceUnit
		}
		spacing := tickSpacing(p.fee)
		tick := priceTick(price0, price1)
		for _, r := range p.ranges {
			lo, hi := floorTo(tick+r.lo, spacing), floorTo(tick+r.hi, spacing)
			if flip { // a range in A's price is the mirror image in token1/token0
				lo, hi = floorTo(tick-r.hi, spacing), floorTo(tick-r.lo, spacing)
			}
			amt0, amt1 := r.amountA, r.amountB
			if flip {
				amt0, amt1 = r.amountB, r.amountA
			}
			b.call(fmt.Sprintf("mint V3 position %s/%s %d [%d,%d]", p.a, p.b, p.fee, lo, hi), c[NonfungiblePositionManager], npm, "mint", nil,
				v3MintParams{
					Token0: t0, Token1: t1, Fee: big.NewInt(int64(p.fee)),
					TickLower: big.NewInt(int64(lo)), TickUpper: big.NewInt(int64(hi)),
					Amount0Desired: amt0, Amount1Desired: amt1,
					Amount0Min: new(big.Int), Amount1Min: new(big.Int),
					Recipient: me, Deadline: deadline,
				})
		}
	}

	// The direct USDC/DAI pools: buy DAI with USDC until the price is
	// DirectUSDCDAIPrice. V3 stops at the price limit and takes only the
	// USDC it needed; V2 gets the amount that lands there.
	b.callGas("approve USDC to SwapRouter02", approveGas, c[USDC], erc20, "approve", nil, c[SwapRouter02], maxUint)
	d0, d1 := units(DirectUSDCDAIPrice[1], 18), units(DirectUSDCDAIPrice[0], 6) // DAI, USDC
	if t0, _ := sortTokens(c[USDC], c[DAI]); t0 == c[USDC] {
		d0, d1 = d1, d0
	}
	b.callGas("skew V3 USDC/DAI 100", swapGas, c[SwapRouter02], a["SwapRouter02"], "exactInputSingle", nil, exactInputSingleParams{
		TokenIn: c[USDC], TokenOut: c[DAI], Fee: big.NewInt(100), Recipient: me,
		AmountIn: units(10_000_000, 6), AmountOutMinimum: new(big.Int), SqrtPriceLimitX96: sqrtPriceX96(d0, d1),
	})
	b.callGas("skew V2 USDC/DAI", swapGas, c[UniswapV2Router02], a["UniswapV2Router02"], "swapExactTokensForTokens", nil,
		v2SkewUSDC, new(big.Int), []common.Address{c[USDC], c[DAI]}, me, deadline)

	trader := Trader()
	b.call("pay trader WETH", c[WETH], erc20, "transfer", nil, trader, traderWETH)
	b.call("pay trader USDC", c[USDC], erc20, "transfer", nil, trader, traderUSDC)
	b.call("pay trader DAI", c[DAI], erc20, "transfer", nil, trader, traderDAI)

	// The trader's approvals go in the same block, from its own nonces.
	tb := d.newBatch(ctx, traderKey)
	for _, tok := range []string{WETH, USDC, DAI} {
		for _, spender := range []string{UniswapV2Router02, SwapRouter02} {
			tb.callGas("trader approves "+tok+" to "+spender, approveGas, c[tok], erc20, "approve", nil, c[spender], maxUint)
		}
	}
	if err := mineAll(b, tb); err != nil {
		return err
	}

	// Rounds 5..: the history, one block per row of the plan.
	for _, blk := range historyPlan() {
		for _, s := range blk {
			what := fmt.Sprintf("history swap %s→%s fee %d", s.in, s.out, s.fee)
			if s.fee == 0 {
				tb.callGas(what, swapGas, c[UniswapV2Router02], a["UniswapV2Router02"], "swapExactTokensForTokens", nil,
					s.amountIn, new(big.Int), []common.Address{c[s.in], c[s.out]}, trader, deadline)
			} else {
				tb.callGas(what, swapGas, c[SwapRouter02], a["SwapRouter02"], "exactInputSingle", nil, exactInputSingleParams{
					TokenIn: c[s.in], TokenOut: c[s.out], Fee: big.NewInt(int64(s.fee)), Recipient: trader,
					AmountIn: s.amountIn, AmountOutMinimum: new(big.Int), SqrtPriceLimitX96: new(big.Int),
				})
			}
		}
		if err := tb.mine(); err != nil {
			return err
		}
	}
	return nil
}

// mineAll mines the transactions of several batches sent for the same
// blocks.
func mineAll(bs ...*txBatch) error {
	for _, b := range bs {
		if b.err != nil {
			return b.err
		}
	}
	for i := 1; i < len(bs); i++ { // fold the others' transactions into the first
		bs[0].order = append(bs[0].order, bs[i].order...)
		for h, w := range bs[i].what {
			bs[0].what[h] = w
		}
		bs[i].order, bs[i].what = nil, map[common.Hash]string{}
	}
	return bs[0].mine()
}

func findV3Spec(a, b string, fee uint32) v3Spec {
	for _, s := range v3Pools {
		if s.a == a && s.b == b && s.fee == fee {
			return s
		}
	}
	panic(fmt.Sprintf("devnet: no V3 pool %s/%s %d", a, b, fee))
}
