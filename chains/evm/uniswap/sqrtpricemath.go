package uniswap

import (
	"errors"
	"fmt"

	"github.com/holiman/uint256"
)

// ErrZero is wrapped where SqrtPriceMath requires a non-zero price or
// liquidity, or where a price would leave its range.
var ErrZero = errors.New("uniswap: zero price or liquidity")

// nextSqrtPriceFromAmount0RoundingUp is
// SqrtPriceMath.getNextSqrtPriceFromAmount0RoundingUp. It rounds up so that
// the price moves less than exactly, never giving the trader more.
func nextSqrtPriceFromAmount0RoundingUp(sqrtPX96, liquidity, amount *uint256.Int, add bool) (*uint256.Int, error) {
	if amount.IsZero() {
		return new(uint256.Int).Set(sqrtPX96), nil
	}
	num1 := new(uint256.Int).Lsh(liquidity, 96)
	var product uint256.Int
	_, prodOverflow := product.MulOverflow(amount, sqrtPX96)
	if add {
		if !prodOverflow {
			den, o := new(uint256.Int).AddOverflow(num1, &product)
			if !o {
				// Solidity truncates to uint160 here without a check; the
				// result is below sqrtPX96, so it always fits.
				return MulDivRoundingUp(num1, sqrtPX96, den)
			}
		}
		q := new(uint256.Int).Div(num1, sqrtPX96)
		if _, o := q.AddOverflow(q, amount); o {
			return nil, errOverflow("getNextSqrtPriceFromAmount0RoundingUp")
		}
		return divRoundingUp(num1, q), nil
	}
	if prodOverflow || !num1.Gt(&product) {
		return nil, errOverflow("getNextSqrtPriceFromAmount0RoundingUp: output exceeds reserves")
	}
	den := new(uint256.Int).Sub(num1, &product)
	z, err := MulDivRoundingUp(num1, sqrtPX96, den)
	if err != nil {
		return nil, err
	}
	if z.Gt(maxUint160) {
		return nil, errOverflow("getNextSqrtPriceFromAmount0RoundingUp: uint160")
	}
	return z, nil
}

// nextSqrtPriceFromAmount1RoundingDown is
// SqrtPriceMath.getNextSqrtPriceFromAmount1RoundingDown.
func nextSqrtPriceFromAmount1RoundingDown(sqrtPX96, liquidity, amount *uint256.Int, add bool) (*uint256.Int, error) {
	var q *uint256.Int
	var err error
	if add {
		if !amount.Gt(maxUint160) {
			q = new(uint256.Int).Lsh(amount, 96)
			q.Div(q, liquidity)
		} else if q, err = MulDiv(amount, q96, liquidity); err != nil {
			return nil, err
		}
		z, o := new(uint256.Int).AddOverflow(sqrtPX96, q)
		if o || z.Gt(maxUint160) {
			return nil, errOverflow("getNextSqrtPriceFromAmount1RoundingDown: uint160")
		}
		return z, nil
	}
	if !amount.Gt(maxUint160) {
		q = divRoundingUp(new(uint256.Int).Lsh(amount, 96), liquidity)
	} else if q, err = MulDivRoundingUp(amount, q96, liquidity); err != nil {
		return nil, err
	}
	if !sqrtPX96.Gt(q) {
		return nil, fmt.Errorf("getNextSqrtPriceFromAmount1RoundingDown: output exceeds reserves: %w", ErrZero)
	}
	return new(uint256.Int).Sub(sqrtPX96, q), nil
}

// NextSqrtPriceFromInput is SqrtPriceMath.getNextSqrtPriceFromInput: the
// price after adding amountIn of token0 (zeroForOne) or token1.
func NextSqrtPriceFromInput(sqrtPX96, liquidity, amountIn *uint256.Int, zeroForOne bool) (*uint256.Int, error) {
	if sqrtPX96.IsZero() || liquidity.IsZero() {
		return nil, fmt.Errorf("getNextSqrtPriceFromInput: %w", ErrZero)
	}
	if zeroForOne {
		return nextSqrtPriceFromAmount0RoundingUp(sqrtPX96, liquidity, amountIn, true)
	}
	return nextSqrtPriceFromAmount1RoundingDown(sqrtPX96, liquidity, amountIn, true)
}

// NextSqrtPriceFromOutput is SqrtPriceMath.getNextSqrtPriceFromOutput: the
// price after taking amountOut of token1 (zeroForOne) or token0.
func NextSqrtPriceFromOutput(sqrtPX96, liquidity, amountOut *uint256.Int, zeroForOne bool) (*uint256.Int, error) {
	if sqrtPX96.IsZero() || liquidity.IsZero() {
		return nil, fmt.Errorf("getNextSqrtPriceFromOutput: %w", ErrZero)
	}
	if zeroForOne {
		return nextSqrtPriceFromAmount1RoundingDown(sqrtPX96, liquidity, amountOut, false)
	}
	return nextSqrtPriceFromAmount0RoundingUp(sqrtPX96, liquidity, amountOut, false)
}

// Amount0Delta is SqrtPriceMath.getAmount0Delta (unsigned): the token0
// between two prices for the liquidity, rounded up for what the pool is
// paid and down for what it pays out.
func Amount0Delta(sqrtA, sqrtB, liquidity *uint256.Int, roundUp bool) (*uint256.Int, error) {
	if sqrtA.Gt(sqrtB) {
		sqrtA, sqrtB = sqrtB, sqrtA
	}
	if sqrtA.IsZero() {
		return nil, fmt.Errorf("getAmount0Delta: %w", ErrZero)
	}
	num1 := new(uint256.Int).Lsh(liquidity, 96)
	num2 := new(uint256.Int).Sub(sqrtB, sqrtA)
	if roundUp {
		z, err := MulDivRoundingUp(num1, num2, sqrtB)
		if err != nil {
			return nil, err
		}
		return divRoundingUp(z, sqrtA), nil
	}
	z, err := MulDiv(num1, num2, sqrtB)
	if err != nil {
		return nil, err
	}
	return z.Div(z, sqrtA), nil
}

// Amount1Delta is SqrtPriceMath.getAmount1Delta (unsigned).
func Amount1Delta(sqrtA, sqrtB, liquidity *uint256.Int, roundUp bool) (*uint256.Int, error) {
	if sqrtA.Gt(sqrtB) {
		sqrtA, sqrtB = sqrtB, sqrtA
	}
	d := new(uint256.Int).Sub(sqrtB, sqrtA)
	if roundUp {
		return MulDivRoundingUp(liquidity, d, q96)
	}
	return MulDiv(liquidity, d, q96)
}
