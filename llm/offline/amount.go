package offline

import (
	"math/big"
	"strings"
)

// amountPattern is a decimal as people type it: "10", "0.000001", ".5",
// "1,000.5". Commas are accepted only as thousands separators, so "1,5"
// (a decimal comma in much of the world) never matches and cannot be
// misread as fifteen.
const amountPattern = `(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)`

// canonicalAmount returns the amount as an exact decimal string: separators
// removed, a leading zero added or redundant ones dropped, every significant
// digit kept. It never goes through float64, so "0.000001" stays itself.
func canonicalAmount(s string) string {
	s = strings.ReplaceAll(s, ",", "")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	if hasFrac {
		return intPart + "." + frac
	}
	return intPart
}

// slippageBps converts a slippage written as a percentage or in basis points
// into whole basis points, exactly. ok is false when the value is not a whole
// number of basis points (e.g. "0.005%"), which the tools cannot express.
func slippageBps(value, unit string) (bps string, ok bool) {
	r, good := new(big.Rat).SetString(canonicalAmount(value))
	if !good {
		return "", false
	}
	if unit == "%" || unit == "percent" {
		r.Mul(r, big.NewRat(100, 1))
	}
	if !r.IsInt() {
		return "", false
	}
	return r.Num().String(), true
}
