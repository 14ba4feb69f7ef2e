package orders_test

import (
	"math/big"
	"testing"

	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/policies"
)

func TestPriceFromUSD(t *testing.T) {
	eth := policies.Token{Symbol: "ETH", Decimals: 18}
	usdc := policies.Token{Symbol: "USDC", Address: "0x2000000000000000000000000000000000000002", Decimals: 6}
	dai := policies.Token{Symbol: "DAI", Address: "0x3000000000000000000000000000000000000003", Decimals: 18}
	r := func(s string) *big.Rat { v, _ := new(big.Rat).SetString(s); return v }
	for _, tt := range []struct {
		name           string
		subject        string
		from, to       policies.Token
		fromUSD, toUSD *big.Rat
		want           string // "" for nil
	}{
		{"selling ETH, priced in USDC", "ETH", eth, usdc, r("2500"), r("1"), "2500"},
		{"buying ETH with USDC", "eth", usdc, eth, r("1"), r("2500"), "2500"},
		{"the price of USDC in ETH", "USDC", usdc, eth, r("1"), r("2500"), "0.0004"},
		{"DAI a little off its peg", "DAI", dai, usdc, r("0.998"), r("1"), "0.998"},
		{"no price", "ETH", eth, usdc, nil, r("1"), ""},
		{"a zero price", "ETH", eth, usdc, r("2500"), r("0"), ""},
		{"a negative price", "ETH", eth, usdc, r("-1"), r("1"), ""},
	} {
		got := orders.PriceFromUSD(tt.subject, tt.from, tt.to, tt.fromUSD, tt.toUSD)
		switch {
		case tt.want == "" && got != nil:
			t.Errorf("%s: %s, want none", tt.name, got.RatString())
		case tt.want != "" && (got == nil || got.Cmp(r(tt.want)) != 0):
			t.Errorf("%s: %v, want %s", tt.name, got, tt.want)
		}
	}
}
