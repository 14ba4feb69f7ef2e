package uniswap

import (
	"errors"
	"math"
	"math/big"
	"math/rand"
	"testing"

	"github.com/holiman/uint256"
)

func TestSqrtRatioAtTickVectors(t *testing.T) {
	for _, tc := range []struct {
		tick int32
		want string
	}{
		{MinTick, "4295128739"},
		{MaxTick, "1461446703485210103287273052203988822378723970342"},
		{0, "79228162514264337593543950336"}, // 2^96
		{MinTick + 1, "4295343490"},
		{MaxTick - 1, "1461373636630004318706518188784493106690254656249"},
	} {
		got, err := SqrtRatioAtTick(tc.tick)
		if err != nil {
			t.Fatalf("SqrtRatioAtTick(%d): %v", tc.tick, err)
		}
		if got.Dec() != tc.want {
			t.Errorf("SqrtRatioAtTick(%d) = %s, want %s", tc.tick, got.Dec(), tc.want)
		}
	}
	for _, bad := range []int32{MinTick - 1, MaxTick + 1} {
		if _, err := SqrtRatioAtTick(bad); !errors.Is(err, ErrOverflow) {
			t.Errorf("SqrtRatioAtTick(%d) err = %v, want ErrOverflow", bad, err)
		}
	}
}

// TestSqrtRatioAtTickMagnitude checks every magic constant through random
// ticks against sqrt(1.0001^tick) in float: a wrong constant is off by far
// more than float rounding.
func TestSqrtRatioAtTickMagnitude(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < 5000; i++ {
		tick := MinTick + int32(rng.Intn(int(MaxTick-MinTick+1)))
		got, _ := SqrtRatioAtTick(tick)
		want := new(big.Float).SetPrec(200).SetFloat64(math.Pow(1.0001, float64(tick)/2))
		want.Mul(want, new(big.Float).SetInt(new(big.Int).Lsh(big.NewInt(1), 96)))
		rel, _ := new(big.Float).Quo(new(big.Float).Sub(new(big.Float).SetInt(got.ToBig()), want), want).Float64()
		if math.Abs(rel) > 1e-9 {
			t.Fatalf("SqrtRatioAtTick(%d) = %s, want about %s (rel %g)", tick, got, want.Text('g', 20), rel)
		}
	}
}

func TestTickAtSqrtRatio(t *testing.T) {
	if tick, err := TickAtSqrtRatio(MinSqrtRatio); err != nil || tick != MinTick {
		t.Errorf("TickAtSqrtRatio(MIN_SQRT_RATIO) = %d, %v; want %d", tick, err, MinTick)
	}
	if tick, err := TickAtSqrtRatio(MaxSqrtRatioMinusOne); err != nil || tick != MaxTick-1 {
		t.Errorf("TickAtSqrtRatio(MAX_SQRT_RATIO-1) = %d, %v; want %d", tick, err, MaxTick-1)
	}
	for _, bad := range []*uint256.Int{new(uint256.Int).SubUint64(MinSqrtRatio, 1), MaxSqrtRatio} {
		if _, err := TickAtSqrtRatio(bad); !errors.Is(err, ErrOverflow) {
			t.Errorf("TickAtSqrtRatio(%s) err = %v, want ErrOverflow", bad, err)
		}
	}
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 2000; i++ {
		tick := MinTick + 1 + int32(rng.Intn(int(MaxTick-MinTick-1)))
		r, _ := SqrtRatioAtTick(tick)
		if got, _ := TickAtSqrtRatio(r); got != tick {
			t.Fatalf("TickAtSqrtRatio(SqrtRatioAtTick(%d)) = %d", tick, got)
		}
		if got, _ := TickAtSqrtRatio(new(uint256.Int).SubUint64(r, 1)); got != tick-1 {
			t.Fatalf("TickAtSqrtRatio(SqrtRatioAtTick(%d)-1) = %d, want %d", tick, got, tick-1)
		}
	}
}

func TestV2Formulas(t *testing.T) {
	n := uint256.NewInt
	// 1e18 in against 10e18/30e9: 997e18*30e9 / (10000e18 + 997e18)
	out, err := V2AmountOut(n(1e18), n(10e18), n(30e9))
	if err != nil || out.Uint64() != 2_719_832_681 {
		t.Errorf("V2AmountOut = %v, %v; want 2719832681", out, err)
	}
	in, err := V2AmountIn(out, n(10e18), n(30e9))
	if err != nil {
		t.Fatal(err)
	}
	if back, _ := V2AmountOut(in, n(10e18), n(30e9)); back.Lt(out) {
		t.Errorf("V2AmountIn(%s) = %s gives only %s", out, in, back)
	}
	if _, err := V2AmountOut(n(0), n(1), n(1)); !errors.Is(err, ErrInsufficientInputAmount) {
		t.Errorf("zero input: %v", err)
	}
	if _, err := V2AmountOut(n(1), n(0), n(1)); !errors.Is(err, ErrInsufficientLiquidity) {
		t.Errorf("empty pair: %v", err)
	}
	if _, err := V2AmountIn(n(0), n(1), n(1)); !errors.Is(err, ErrInsufficientOutputAmount) {
		t.Errorf("zero output: %v", err)
	}
	if _, err := V2AmountIn(n(5), n(10), n(5)); !errors.Is(err, ErrInsufficientLiquidity) {
		t.Errorf("output = reserve: %v", err)
	}
	if _, err := V2AmountOut(new(uint256.Int).SetAllOne(), n(1), n(1)); !errors.Is(err, ErrOverflow) {
		t.Errorf("overflow: %v", err)
	}
}
