package uniswap

import (
	"github.com/holiman/uint256"
)

var u1e6 = uint256.NewInt(1_000_000)

// SwapStep is the result of one SwapMath.computeSwapStep.
type SwapStep struct {
	SqrtPriceNextX96 *uint256.Int
	AmountIn         *uint256.Int // excluding the fee
	AmountOut        *uint256.Int
	FeeAmount        *uint256.Int
}

// ComputeSwapStep is SwapMath.computeSwapStep: how far one swap gets
// between the current price and target, within one liquidity range.
// amountRemaining is the magnitude of the int256 amountSpecifiedRemaining;
// exactIn says its sign (true: an input amount, false: an output amount).
func ComputeSwapStep(sqrtCur, sqrtTarget, liquidity, amountRemaining *uint256.Int, exactIn bool, feePips uint32) (SwapStep, error) {
	zeroForOne := !sqrtCur.Lt(sqrtTarget)
	fee := uint256.NewInt(uint64(feePips))
	oneMinusFee := new(uint256.Int).Sub(u1e6, fee)
	var (
		next, amountIn, amountOut *uint256.Int
		err                       error
	)
	if exactIn {
		lessFee, err := MulDiv(amountRemaining, oneMinusFee, u1e6)
		if err != nil {
			return SwapStep{}, err
		}
		if zeroForOne {
			amountIn, err = Amount0Delta(sqrtTarget, sqrtCur, liquidity, true)
		} else {
			amountIn, err = Amount1Delta(sqrtCur, sqrtTarget, liquidity, true)
		}
		if err != nil {
			return SwapStep{}, err
		}
		if !lessFee.Lt(amountIn) {
			next = sqrtTarget
		} else if next, err = NextSqrtPriceFromInput(sqrtCur, liquidity, lessFee, zeroForOne); err != nil {
			return SwapStep{}, err
		}
	} else {
		if zeroForOne {
			amountOut, err = Amount1Delta(sqrtTarget, sqrtCur, liquidity, false)
		} else {
			amountOut, err = Amount0Delta(sqrtCur, sqrtTarget, liquidity, false)
		}
		if err != nil {
			return SwapStep{}, err
		}
		if !amountRemaining.Lt(amountOut) {
			next = sqrtTarget
		} else if next, err = NextSqrtPriceFromOutput(sqrtCur, liquidity, amountRemaining, zeroForOne); err != nil {
			return SwapStep{}, err
		}
	}
	isMax := sqrtTarget.Eq(next)
	if zeroForOne {
		if !(isMax && exactIn) {
			if amountIn, err = Amount0Delta(next, sqrtCur, liquidity, true); err != nil {
				return SwapStep{}, err
			}
		}
		if !(isMax && !exactIn) {
			if amountOut, err = Amount1Delta(next, sqrtCur, liquidity, false); err != nil {
				return SwapStep{}, err
			}
		}
	} else {
		if !(isMax && exactIn) {
			if amountIn, err = Amount1Delta(sqrtCur, next, liquidity, true); err != nil {
				return SwapStep{}, err
			}
		}
		if !(isMax && !exactIn) {
			if amountOut, err = Amount0Delta(sqrtCur, next, liquidity, false); err != nil {
				return SwapStep{}, err
			}
		}
	}
	if !exactIn && amountOut.Gt(amountRemaining) {
		amountOut = new(uint256.Int).Set(amountRemaining)
	}
	var feeAmount *uint256.Int
	if exactIn && !next.Eq(sqrtTarget) {
		// The remainder is the fee: the pool keeps the dust that could not
		// move the price, as on chain.
		feeAmount = new(uint256.Int).Sub(amountRemaining, amountIn)
	} else if feeAmount, err = MulDivRoundingUp(amountIn, fee, oneMinusFee); err != nil {
		return SwapStep{}, err
	}
	return SwapStep{SqrtPriceNextX96: next, AmountIn: amountIn, AmountOut: amountOut, FeeAmount: feeAmount}, nil
}
