package solana

import (
	"fmt"
	"math"
	"math/big"

	"github.com/mandatehq/mandate/policies"
)

// maxU64 is the largest amount a Solana instruction can carry.
var maxU64 = new(big.Int).SetUint64(math.MaxUint64)

// u64 checks that an amount in base units fits the u64 every System and
// Token instruction carries; field names the argument in the error.
func u64(v *big.Int, field string) (uint64, error) {
	switch {
	case v == nil:
		return 0, fmt.Errorf("solana: %s is missing; give an amount in base units", field)
	case v.Sign() < 0:
		return 0, fmt.Errorf("solana: %s %s is negative; give an amount of zero or more", field, v)
	case v.Cmp(maxU64) > 0:
		return 0, fmt.Errorf("solana: %s %s is beyond a u64 (at most %s base units); send less", field, v, maxU64)
	}
	return v.Uint64(), nil
}

// ParseAmount reads a decimal amount in token units ("1.5") as base units
// with decimals (9 for SOL, the mint's for a token), exactly. An amount
// with more decimals than the token has, or beyond a u64, is an error
// naming field.
func ParseAmount(s string, decimals uint8, field string) (*big.Int, error) {
	v, err := policies.ParseUnits(s, decimals)
	if err != nil {
		return nil, fmt.Errorf("solana: %s: %w", field, err)
	}
	if _, err := u64(v, field); err != nil {
		return nil, err
	}
	return v, nil
}
