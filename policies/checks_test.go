package policies

import (
	"math/big"
	"testing"
)

func TestRatEqual(t *testing.T) {
	unnorm := new(big.Rat).SetInt64(3)
	unnorm.Num().SetInt64(6) // 6/1: Num hands out x's numerator
	half := big.NewRat(1, 2)
	halfUnnorm := big.NewRat(1, 2)
	halfUnnorm.Num().SetInt64(2) // 2/2
	for _, tc := range []struct {
		name string
		a, b *big.Rat
		want bool
	}{
		{"equal integers", big.NewRat(3000, 1), big.NewRat(3000, 1), true},
		{"different integers", big.NewRat(3000, 1), big.NewRat(3001, 1), false},
		{"equal fractions", big.NewRat(1, 3), big.NewRat(2, 6), true},
		{"different fractions", big.NewRat(1, 3), big.NewRat(1, 4), false},
		{"integer and fraction", big.NewRat(1, 1), half, false},
		{"zero value and zero", new(big.Rat), big.NewRat(0, 5), true},
		{"unnormalised integer", unnorm, big.NewRat(6, 1), true},
		{"unnormalised 2/2 and 1", halfUnnorm, big.NewRat(1, 1), true},
		{"unnormalised 2/2 and 1/2", halfUnnorm, half, false},
	} {
		if got := ratEqual(tc.a, tc.b); got != tc.want || ratEqual(tc.b, tc.a) != tc.want {
			t.Errorf("%s: ratEqual(%s, %s) = %v, want %v", tc.name, tc.a, tc.b, got, tc.want)
		}
	}
}
