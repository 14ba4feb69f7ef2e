// Package uniswap holds exact Uniswap V2 and V3 pool math and reads pool
// state from the chain.
//
// The math is a line-by-line port of UniswapV2Library and of v3-core's
// libraries (FullMath, TickMath, SqrtPriceMath, SwapMath) and of the loop in
// UniswapV3Pool.swap, on 256-bit integers (holiman/uint256) with the same
// rounding at every step. That is the point of the package: a swap's minimum
// output is derived from the quote, so a quote that is off by one base unit
// either leaves value on the table or makes the swap revert. The tests check
// the results against the deployed QuoterV2 and UniswapV2Router02 bytecode
// on the devnet, bit for bit.
package uniswap
