package uniswap

import (
	"errors"

	"github.com/holiman/uint256"
)

// Errors of the V2 formulas; they are UniswapV2Library's require messages,
// so a local quote fails exactly where the router would revert.
var (
	ErrInsufficientInputAmount  = errors.New("uniswap: V2 insufficient input amount")
	ErrInsufficientOutputAmount = errors.New("uniswap: V2 insufficient output amount")
	ErrInsufficientLiquidity    = errors.New("uniswap: V2 insufficient liquidity")
)

var (
	u997  = uint256.NewInt(997)
	u1000 = uint256.NewInt(1000)
	u1    = uint256.NewInt(1)
)

// V2AmountOut is UniswapV2Library.getAmountOut: the output of a swap of
// amountIn against a pair with the given reserves, with the 0.3% fee taken
// from the input and the result rounded down (the pair's K check demands it).
// A product that overflows 256 bits is an error, as SafeMath reverts there.
func V2AmountOut(amountIn, reserveIn, reserveOut *uint256.Int) (*uint256.Int, error) {
	if amountIn.IsZero() {
		return nil, ErrInsufficientInputAmount
	}
	if reserveIn.IsZero() || reserveOut.IsZero() {
		return nil, ErrInsufficientLiquidity
	}
	var inWithFee, num, den uint256.Int
	if _, o := inWithFee.MulOverflow(amountIn, u997); o {
		return nil, errOverflow("V2AmountOut")
	}
	if _, o := num.MulOverflow(&inWithFee, reserveOut); o {
		return nil, errOverflow("V2AmountOut")
	}
	if _, o := den.MulOverflow(reserveIn, u1000); o {
		return nil, errOverflow("V2AmountOut")
	}
	if _, o := den.AddOverflow(&den, &inWithFee); o {
		return nil, errOverflow("V2AmountOut")
	}
	return new(uint256.Int).Div(&num, &den), nil
}

// V2AmountIn is UniswapV2Library.getAmountIn: the input needed to receive
// amountOut, rounded up by one unit as the library does so the pair's K
// check always passes.
func V2AmountIn(amountOut, reserveIn, reserveOut *uint256.Int) (*uint256.Int, error) {
	if amountOut.IsZero() {
		return nil, ErrInsufficientOutputAmount
	}
	if reserveIn.IsZero() || reserveOut.IsZero() {
		return nil, ErrInsufficientLiquidity
	}
	var num, den uint256.Int
	if _, o := num.MulOverflow(reserveIn, amountOut); o {
		return nil, errOverflow("V2AmountIn")
	}
	if _, o := num.MulOverflow(&num, u1000); o {
		return nil, errOverflow("V2AmountIn")
	}
	// reserveOut - amountOut underflows (SafeMath reverts) when the pair
	// cannot pay amountOut at all.
	if _, o := den.SubOverflow(reserveOut, amountOut); o || den.IsZero() {
		if o {
			return nil, ErrInsufficientLiquidity
		}
		return nil, ErrInsufficientLiquidity // division by zero in the library
	}
	if _, o := den.MulOverflow(&den, u997); o {
		return nil, errOverflow("V2AmountIn")
	}
	z := new(uint256.Int).Div(&num, &den)
	if _, o := z.AddOverflow(z, u1); o {
		return nil, errOverflow("V2AmountIn")
	}
	return z, nil
}
