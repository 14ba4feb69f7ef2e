package uniswap_test

import (
	"math/big"
	"math/rand"
	"testing"

	"github.com/holiman/uint256"

	"github.com/mandatehq/mandate/chains/evm/uniswap"
)

// BenchmarkQuote sets local V2 and V3 quotes beside QuoterV2 over eth_call
// (in-process RPC, so the figure is the EVM's work, not network latency) for
// the same WETH→USDC amounts.
func BenchmarkQuote(b *testing.B) {
	o := newOnChain(b)
	ctx := b.Context()
	v3 := o.pools(b, "uniswap-v3", "WETH", "USDC")[0]
	v2 := o.pools(b, "uniswap-v2", "WETH", "USDC")[0]
	pool, err := uniswap.FetchV3Pool(ctx, o.c, v3.Address, fetchWords)
	if err != nil {
		b.Fatal(err)
	}
	pair, err := uniswap.FetchV2Pair(ctx, o.c, v2.Address)
	if err != nil {
		b.Fatal(err)
	}
	weth, _ := o.d.Deployment().Token("WETH")
	zeroForOne := v3.Token0 == weth.Address
	rng := rand.New(rand.NewSource(4))
	amounts := make([]*big.Int, 1024)
	u := make([]*uint256.Int, len(amounts))
	for i := range amounts {
		amounts[i] = randomAmount(rng, 21) // up to 1,000 WETH
		u[i] = uint256.MustFromBig(amounts[i])
	}
	b.Run("local-v2", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := pair.AmountOut(weth.Address, u[i%len(u)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("local-v3", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, _, err := pool.QuoteExactInput(zeroForOne, u[i%len(u)], nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("quoter-eth_call", func(b *testing.B) {
		b.ReportAllocs()
		zero := new(big.Int)
		for i := 0; b.Loop(); i++ {
			if _, _, _, err := o.quoterV2(ctx, v3, zeroForOne, amounts[i%len(amounts)], zero); err != nil {
				b.Fatal(err)
			}
		}
	})
}
