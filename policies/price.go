package policies

import (
	"context"
	"math/big"
)

// PriceSource gives USD prices for the policy's USD limits and ask
// threshold. Implementations live outside this package (an on-chain oracle,
// a DEX quote, a price API); errors must not carry API keys, since the engine
// logs them.
type PriceSource interface {
	// PriceUSD returns the USD price of one whole token t (not one base
	// unit) on chain, which is spelled as in Header.Chain.
	PriceUSD(ctx context.Context, chain string, t Token) (Price, error)
}

// Price is an exact USD price per whole token and where it came from, which
// the ledger keeps beside the decision it was used for.
type Price struct {
	USD    *big.Rat
	Source string
}

// pow10s caches 10^n for every token decimals value.
var pow10s = func() (t [78]*big.Int) {
	t[0] = big.NewInt(1)
	for i := 1; i < len(t); i++ {
		t[i] = new(big.Int).Mul(t[i-1], big.NewInt(10))
	}
	return t
}()

var microPerUSD = big.NewInt(1_000_000)
