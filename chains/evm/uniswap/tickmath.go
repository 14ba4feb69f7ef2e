package uniswap

import (
	"fmt"
	"math"

	"github.com/holiman/uint256"
)

// Tick range and the sqrt prices at its ends (TickMath.MIN_TICK, ...).
const (
	MinTick int32 = -887272
	MaxTick int32 = -MinTick
)

var (
	// MinSqrtRatio is getSqrtRatioAtTick(MinTick); prices below it do not exist.
	MinSqrtRatio = uint256.NewInt(4295128739)
	// MaxSqrtRatio is getSqrtRatioAtTick(MaxTick); a valid price is strictly below it.
	MaxSqrtRatio = uint256.MustFromDecimal("1461446703485210103287273052203988822378723970342")
)

// tickRatios are TickMath's magic numbers: 2^128 / sqrt(1.0001)^(2^i),
// rounded as v3-core has them, for bit i of |tick| (i ≥ 1; bit 0 seeds).
var tickRatios = func() [20]*uint256.Int {
	hex := [20]string{
		"0xfffcb933bd6fad37aa2d162d1a594001",
		"0xfff97272373d413259a46990580e213a",
		"0xfff2e50f5f656932ef12357cf3c7fdcc",
		"0xffe5caca7e10e4e61c3624eaa0941cd0",
		"0xffcb9843d60f6159c9db58835c926644",
		"0xff973b41fa98c081472e6896dfb254c0",
		"0xff2ea16466c96a3843ec78b326b52861",
		"0xfe5dee046a99a2a811c461f1969c3053",
		"0xfcbe86c7900a88aedcffc83b479aa3a4",
		"0xf987a7253ac413176f2b074cf7815e54",
		"0xf3392b0822b70005940c7a398e4b70f3",
		"0xe7159475a2c29b7443b29c7fa6e889d9",
		"0xd097f3bdfd2022b8845ad8f792aa5825",
		"0xa9f746462d870fdf8a65dc1f90e061e5",
		"0x70d869a156d2a1b890bb3df62baf32f7",
		"0x31be135f97d08fd981231505542fcfa6",
		"0x9aa508b5b7a84e1c677de54f3e99bc9",
		"0x5d6af8dedb81196699c329225ee604",
		"0x2216e584f5fa1ea926041bedfe98",
		"0x48a170391f7dc42444e8fa2",
	}
	var r [20]*uint256.Int
	for i, h := range hex {
		r[i] = uint256.MustFromHex(h)
	}
	return r
}()

var two128 = new(uint256.Int).Lsh(uint256.NewInt(1), 128)

// SqrtRatioAtTick is TickMath.getSqrtRatioAtTick: sqrt(1.0001^tick) as a
// Q64.96, rounded up, so that SqrtRatioAtTick and TickAtSqrtRatio are
// consistent with each other exactly as on chain.
func SqrtRatioAtTick(tick int32) (*uint256.Int, error) {
	if tick < MinTick || tick > MaxTick {
		return nil, fmt.Errorf("uniswap: tick %d out of range: %w", tick, ErrOverflow)
	}
	abs := uint32(tick)
	if tick < 0 {
		abs = uint32(-tick)
	}
	ratio := new(uint256.Int)
	if abs&1 != 0 {
		ratio.Set(tickRatios[0])
	} else {
		ratio.Set(two128)
	}
	for i := 1; i < 20; i++ {
		if abs&(1<<i) != 0 {
			ratio.Mul(ratio, tickRatios[i])
			ratio.Rsh(ratio, 128)
		}
	}
	if tick > 0 {
		ratio.Div(maxUint256, ratio)
	}
	// Round up from Q128.128 to Q128.96.
	rounded := ratio[0]&0xffffffff != 0
	ratio.Rsh(ratio, 32)
	if rounded {
		ratio.AddUint64(ratio, 1)
	}
	return ratio, nil
}

// TickAtSqrtRatio is TickMath.getTickAtSqrtRatio: the greatest tick whose
// sqrt ratio is ≤ sqrtPriceX96. v3-core gets there with a fixed-point log2;
// this starts from a float64 estimate and settles it with SqrtRatioAtTick,
// which yields the same tick by the definition both satisfy.
func TickAtSqrtRatio(sqrtPriceX96 *uint256.Int) (int32, error) {
	if sqrtPriceX96.Lt(MinSqrtRatio) || !sqrtPriceX96.Lt(MaxSqrtRatio) {
		return 0, fmt.Errorf("uniswap: sqrt price %s out of range: %w", sqrtPriceX96, ErrOverflow)
	}
	f := u256Float(sqrtPriceX96) / (1 << 96)
	tick := int32(math.Floor(2 * math.Log(f) / math.Log(1.0001)))
	tick = max(MinTick, min(MaxTick, tick))
	for {
		r, _ := SqrtRatioAtTick(tick)
		if r.Gt(sqrtPriceX96) {
			tick--
			continue
		}
		if tick == MaxTick {
			return tick, nil
		}
		next, _ := SqrtRatioAtTick(tick + 1)
		if next.Gt(sqrtPriceX96) {
			return tick, nil
		}
		tick++
	}
}

func u256Float(x *uint256.Int) float64 {
	return float64(x[3])*0x1p192 + float64(x[2])*0x1p128 + float64(x[1])*0x1p64 + float64(x[0])
}
