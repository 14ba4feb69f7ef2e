package uniswap

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"

	"github.com/holiman/uint256"
)

// Errors of a V3 quote.
var (
	// ErrPriceLimit is UniswapV3Pool.swap's 'SPL': the limit is on the wrong
	// side of the current price or outside the price range.
	ErrPriceLimit = errors.New("uniswap: V3 sqrt price limit invalid (SPL)")
	// ErrZeroAmount is the pool's 'AS': a swap of nothing.
	ErrZeroAmount = errors.New("uniswap: V3 amount specified is zero (AS)")
	// ErrStateIncomplete means the swap walked into a tick bitmap word that
	// was not fetched, so the local state cannot say what the chain would do.
	// Fetch more words (FetchV3Pool's words) and quote again.
	ErrStateIncomplete = errors.New("uniswap: V3 pool state does not cover the swap")
)

// TickInfo is what a swap needs of an initialized tick.
type TickInfo struct {
	// LiquidityNet is the int128 liquidity added when the price crosses the
	// tick upwards (and removed downwards).
	LiquidityNet *big.Int
}

// V3Pool is a snapshot of a Uniswap V3 pool's swap state: slot0's price and
// tick, the active liquidity and the initialized ticks of the bitmap words
// that were read. A quote is only as good as the snapshot: it is exact for
// the block it was read at.
type V3Pool struct {
	SqrtPriceX96 *uint256.Int
	Tick         int32
	Liquidity    *uint256.Int // uint128
	Fee          uint32       // hundredths of a bip
	TickSpacing  int32
	Ticks        map[int32]TickInfo
	// Bitmap holds the tickBitmap words that were read, by word position;
	// a word that is absent is unknown, not empty.
	Bitmap map[int16]*uint256.Int
}

// MinSqrtRatioPlusOne and MaxSqrtRatioMinusOne are the price limits QuoterV2
// and SwapRouter use when the caller gives none (0).
var (
	MinSqrtRatioPlusOne  = new(uint256.Int).AddUint64(MinSqrtRatio, 1)
	MaxSqrtRatioMinusOne = new(uint256.Int).SubUint64(MaxSqrtRatio, 1)
)

// QuoteExactInput quotes an exact-input swap the way UniswapV3Pool.swap
// executes it: step by step to the next initialized tick, crossing ticks and
// changing liquidity, until the input is spent or the price reaches
// sqrtPriceLimitX96 (nil or zero: no limit, as QuoterV2 treats 0). ticksCrossed
// counts the initialized ticks the swap crossed (V3Quote.TicksCrossed; see
// QuoterTicksCrossed for QuoterV2's figure). The pool is not modified.
func (p *V3Pool) QuoteExactInput(zeroForOne bool, amountIn, sqrtPriceLimitX96 *uint256.Int) (amountOut *uint256.Int, ticksCrossed int, err error) {
	q, err := p.Quote(zeroForOne, amountIn, sqrtPriceLimitX96)
	if err != nil {
		return nil, 0, err
	}
	return q.AmountOut, q.TicksCrossed, nil
}

// V3Quote is the outcome of an exact-input swap on a V3Pool.
type V3Quote struct {
	AmountIn          *uint256.Int // what the swap takes: less than asked when it stops at the price limit
	AmountOut         *uint256.Int
	SqrtPriceX96After *uint256.Int
	TickAfter         int32
	// TicksCrossed is the number of initialized ticks the pool's swap loop
	// crosses, each one costing the swap a tick update's gas.
	TicksCrossed int
}

// Quote is QuoteExactInput with the price and tick the swap leaves behind,
// as QuoterV2 reports them.
func (p *V3Pool) Quote(zeroForOne bool, amountIn, sqrtPriceLimitX96 *uint256.Int) (V3Quote, error) {
	var ticksCrossed int
	if amountIn.IsZero() {
		return V3Quote{}, ErrZeroAmount
	}
	if amountIn[3] >= 1<<63 { // QuoterV2's toInt256
		return V3Quote{}, errOverflow("QuoteExactInput: amount exceeds int256")
	}
	limit := sqrtPriceLimitX96
	if limit == nil || limit.IsZero() {
		limit = MaxSqrtRatioMinusOne
		if zeroForOne {
			limit = MinSqrtRatioPlusOne
		}
	}
	if zeroForOne {
		if !limit.Lt(p.SqrtPriceX96) || !limit.Gt(MinSqrtRatio) {
			return V3Quote{}, ErrPriceLimit
		}
	} else if !limit.Gt(p.SqrtPriceX96) || !limit.Lt(MaxSqrtRatio) {
		return V3Quote{}, ErrPriceLimit
	}

	remaining := new(uint256.Int).Set(amountIn)
	out := new(uint256.Int)
	price := new(uint256.Int).Set(p.SqrtPriceX96)
	tick := p.Tick
	liquidity := new(uint256.Int).Set(p.Liquidity)
	for !remaining.IsZero() && !price.Eq(limit) {
		start := price
		tickNext, initialized, err := p.nextInitializedTickWithinOneWord(tick, zeroForOne)
		if err != nil {
			return V3Quote{}, err
		}
		tickNext = max(MinTick, min(MaxTick, tickNext))
		sqrtNext, err := SqrtRatioAtTick(tickNext)
		if err != nil {
			return V3Quote{}, err
		}
		target := sqrtNext
		if (zeroForOne && sqrtNext.Lt(limit)) || (!zeroForOne && sqrtNext.Gt(limit)) {
			target = limit
		}
		step, err := ComputeSwapStep(price, target, liquidity, remaining, true, p.Fee)
		if err != nil {
			return V3Quote{}, fmt.Errorf("uniswap: V3 swap step at tick %d: %w", tick, err)
		}
		price = step.SqrtPriceNextX96
		// amountIn+fee never exceeds remaining (computeSwapStep caps it).
		remaining.Sub(remaining, step.AmountIn)
		remaining.Sub(remaining, step.FeeAmount)
		out.Add(out, step.AmountOut)
		if price.Eq(sqrtNext) {
			if initialized {
				if err := p.cross(liquidity, tickNext, zeroForOne); err != nil {
					return V3Quote{}, err
				}
				ticksCrossed++
			}
			tick = tickNext
			if zeroForOne {
				tick--
			}
		} else if !price.Eq(start) {
			if tick, err = TickAtSqrtRatio(price); err != nil {
				return V3Quote{}, err
			}
		}
	}
	return V3Quote{AmountIn: new(uint256.Int).Sub(amountIn, remaining), AmountOut: out, SqrtPriceX96After: price, TickAfter: tick, TicksCrossed: ticksCrossed}, nil
}

// cross applies an initialized tick's liquidityNet the way the pool does
// (negated when moving down), with LiquidityMath.addDelta's checks.
func (p *V3Pool) cross(liquidity *uint256.Int, tick int32, zeroForOne bool) error {
	info, ok := p.Ticks[tick]
	if !ok || info.LiquidityNet == nil {
		return fmt.Errorf("uniswap: V3 tick %d is in the bitmap but its data was not fetched: %w", tick, ErrStateIncomplete)
	}
	neg := info.LiquidityNet.Sign() < 0
	if zeroForOne {
		neg = !neg
	}
	var d uint256.Int
	if d.SetFromBig(new(big.Int).Abs(info.LiquidityNet)) {
		return errOverflow("liquidityNet")
	}
	if neg {
		if _, o := liquidity.SubOverflow(liquidity, &d); o {
			return fmt.Errorf("uniswap: V3 crossing tick %d: liquidity underflow (LS): %w", tick, ErrOverflow)
		}
		return nil
	}
	liquidity.Add(liquidity, &d)
	if liquidity.Gt(maxUint128) {
		return fmt.Errorf("uniswap: V3 crossing tick %d: liquidity overflow (LA): %w", tick, ErrOverflow)
	}
	return nil
}

// nextInitializedTickWithinOneWord is TickBitmap.nextInitializedTickWithinOneWord:
// the next initialized tick in the direction of the swap within the current
// bitmap word, or the word's last tick when there is none, which keeps each
// step to one word of state as on chain.
func (p *V3Pool) nextInitializedTickWithinOneWord(tick int32, lte bool) (int32, bool, error) {
	compressed := tick / p.TickSpacing
	if tick < 0 && tick%p.TickSpacing != 0 {
		compressed--
	}
	if lte {
		wordPos, bitPos := int16(compressed>>8), uint(uint8(compressed))
		word, ok := p.Bitmap[wordPos]
		if !ok {
			return 0, false, fmt.Errorf("uniswap: V3 tick bitmap word %d not fetched: %w", wordPos, ErrStateIncomplete)
		}
		// mask = all bits at or below bitPos
		var mask, masked uint256.Int
		mask.Lsh(u1, bitPos)
		mask.Add(&mask, &mask)
		mask.SubUint64(&mask, 1)
		if bitPos == 255 {
			mask.SetAllOne()
		}
		masked.And(word, &mask)
		if !masked.IsZero() {
			msb := int32(masked.BitLen() - 1)
			return (compressed - (int32(bitPos) - msb)) * p.TickSpacing, true, nil
		}
		return (compressed - int32(bitPos)) * p.TickSpacing, false, nil
	}
	c1 := compressed + 1
	wordPos, bitPos := int16(c1>>8), uint(uint8(c1))
	word, ok := p.Bitmap[wordPos]
	if !ok {
		return 0, false, fmt.Errorf("uniswap: V3 tick bitmap word %d not fetched: %w", wordPos, ErrStateIncomplete)
	}
	var mask, masked uint256.Int
	mask.Lsh(u1, bitPos)
	mask.SubUint64(&mask, 1)
	mask.Not(&mask)
	masked.And(word, &mask)
	if !masked.IsZero() {
		return (c1 + int32(lsb(&masked)) - int32(bitPos)) * p.TickSpacing, true, nil
	}
	return (c1 + int32(255-bitPos)) * p.TickSpacing, false, nil
}

func lsb(x *uint256.Int) int {
	for i, w := range x {
		if w != 0 {
			return i*64 + bits.TrailingZeros64(w)
		}
	}
	return 256
}

// QuoterTicksCrossed is QuoterV2's initializedTicksCrossed for a swap from
// tickBefore to tickAfter, a port of v3-periphery's PoolTicksCounter. It
// is kept apart from V3Quote.TicksCrossed because it is not the same number:
// PoolTicksCounter locates ticks with truncating division, so for negative
// ticks it can count an initialized tick next to the end price that the swap
// never crossed. Gas estimates calibrated on QuoterV2 use this figure.
func (p *V3Pool) QuoterTicksCrossed(tickBefore, tickAfter int32) (int, error) {
	word := func(w int16) (*uint256.Int, error) {
		v, ok := p.Bitmap[w]
		if !ok {
			return nil, fmt.Errorf("uniswap: V3 tick bitmap word %d not fetched: %w", w, ErrStateIncomplete)
		}
		return v, nil
	}
	qb, qa := tickBefore/p.TickSpacing, tickAfter/p.TickSpacing // truncating, as Solidity
	wordPos, bitPos := int16(qb>>8), uint(uint8(qb))
	wordPosAfter, bitPosAfter := int16(qa>>8), uint(uint8(qa))
	wb, err := word(wordPos)
	if err != nil {
		return 0, err
	}
	wa, err := word(wordPosAfter)
	if err != nil {
		return 0, err
	}
	afterInit := wa[bitPosAfter/64]&(1<<(bitPosAfter%64)) != 0 && tickAfter%p.TickSpacing == 0 && tickBefore > tickAfter
	beforeInit := wb[bitPos/64]&(1<<(bitPos%64)) != 0 && tickBefore%p.TickSpacing == 0 && tickBefore < tickAfter
	lo, loBit, hi, hiBit := wordPos, bitPos, wordPosAfter, bitPosAfter
	if !(wordPos < wordPosAfter || (wordPos == wordPosAfter && bitPos <= bitPosAfter)) {
		lo, loBit, hi, hiBit = wordPosAfter, bitPosAfter, wordPos, bitPos
	}
	var count uint32 // uint32 arithmetic, wrapping as in Solidity 0.7
	var mask uint256.Int
	mask.Lsh(maxUint256, loBit)
	for w := int(lo); w <= int(hi); w++ {
		if w == int(hi) {
			var m uint256.Int
			mask.And(&mask, m.Rsh(maxUint256, 255-hiBit))
		}
		v, err := word(int16(w))
		if err != nil {
			return 0, err
		}
		var masked uint256.Int
		masked.And(v, &mask)
		for _, limb := range masked {
			count += uint32(bits.OnesCount64(limb))
		}
		mask.SetAllOne()
	}
	if afterInit {
		count--
	}
	if beforeInit {
		count--
	}
	return int(count), nil
}
