package uniswap

import (
	"errors"
	"fmt"

	"github.com/holiman/uint256"
)

// ErrOverflow is wrapped by every error where the Solidity code would revert
// on an arithmetic overflow or a failed require on a result's range.
var ErrOverflow = errors.New("uniswap: arithmetic overflow")

func errOverflow(where string) error { return fmt.Errorf("%s: %w", where, ErrOverflow) }

// MulDiv is FullMath.mulDiv: floor(a*b/d) with a 512-bit intermediate, so
// it is exact where a*b does not fit 256 bits. It fails where FullMath
// reverts: d == 0 or a result that does not fit 256 bits.
func MulDiv(a, b, d *uint256.Int) (*uint256.Int, error) {
	if d.IsZero() {
		return nil, errOverflow("MulDiv: division by zero")
	}
	z, o := new(uint256.Int).MulDivOverflow(a, b, d)
	if o {
		return nil, errOverflow("MulDiv")
	}
	return z, nil
}

// MulDivRoundingUp is FullMath.mulDivRoundingUp: ceil(a*b/d).
func MulDivRoundingUp(a, b, d *uint256.Int) (*uint256.Int, error) {
	z, err := MulDiv(a, b, d)
	if err != nil {
		return nil, err
	}
	var m uint256.Int
	if !m.MulMod(a, b, d).IsZero() {
		if z.Eq(maxUint256) {
			return nil, errOverflow("MulDivRoundingUp")
		}
		z.AddUint64(z, 1)
	}
	return z, nil
}

// divRoundingUp is UnsafeMath.divRoundingUp (d != 0 is the caller's duty).
func divRoundingUp(x, d *uint256.Int) *uint256.Int {
	var q, r uint256.Int
	q.DivMod(x, d, &r)
	if !r.IsZero() {
		q.AddUint64(&q, 1)
	}
	return &q
}

var (
	maxUint256 = new(uint256.Int).SetAllOne()
	maxUint160 = new(uint256.Int).Sub(new(uint256.Int).Lsh(uint256.NewInt(1), 160), uint256.NewInt(1))
	maxUint128 = new(uint256.Int).Sub(new(uint256.Int).Lsh(uint256.NewInt(1), 128), uint256.NewInt(1))
	q96        = new(uint256.Int).Lsh(uint256.NewInt(1), 96)
)
