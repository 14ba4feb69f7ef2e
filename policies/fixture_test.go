package policies

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Addresses the tests speak of. The policy in testdata/policy.yaml allows
// alice and bob, denies dead, and allows the router as a contract.
const (
	wallet    = "0x3333333333333333333333333333333333333333"
	alice     = "0x1111111111111111111111111111111111111111"
	bob       = "0x2222222222222222222222222222222222222222"
	stranger  = "0x4444444444444444444444444444444444444444"
	dead      = "0x000000000000000000000000000000000000dEaD"
	usdcAddr  = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
	daiAddr   = "0x6B175474E89094C44Da98b954EedeAC495271d0F"
	wethAddr  = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
	router    = "0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45"
	multisend = "0x40A2aCCbd92BCA938b02010E17A5b8929b49130D"
	safeAddr  = "0x5555555555555555555555555555555555555555"
)

var (
	eth  = Token{Symbol: "ETH", Decimals: 18}
	usdc = Token{Symbol: "USDC", Address: usdcAddr, Decimals: 6}
	dai  = Token{Symbol: "DAI", Address: daiAddr, Decimals: 18}
	weth = Token{Symbol: "WETH", Address: wethAddr, Decimals: 18}

	// wednesday noon is the tests' default clock; saturday is a weekend.
	wednesday = time.Date(2025, 1, 8, 12, 0, 0, 0, time.UTC)
	saturday  = time.Date(2025, 1, 11, 12, 0, 0, 0, time.UTC)
)

// testPrices is a fixed-price source: ETH and WETH at 1,000 USD, the
// stablecoins at 1 USD.
type testPrices map[string]*big.Rat

func (p testPrices) PriceUSD(ctx context.Context, chain string, t Token) (Price, error) {
	if r, ok := p[t.Symbol]; ok {
		return Price{USD: r, Source: "test"}, nil
	}
	return Price{}, fmt.Errorf("no price for %s", t.Symbol)
}

func defaultPrices() testPrices {
	return testPrices{"ETH": big.NewRat(1000, 1), "WETH": big.NewRat(1000, 1), "USDC": big.NewRat(1, 1), "DAI": big.NewRat(1, 1)}
}

var policyText = sync.OnceValue(func() string {
	b, err := os.ReadFile("testdata/policy.yaml")
	if err != nil {
		panic(err)
	}
	return string(b)
})

// mustPolicy parses the test policy after applying replacements (old, new
// pairs) to its text, so each case states only how it differs.
func mustPolicy(t testing.TB, replace ...string) *Policy {
	t.Helper()
	text := policyText()
	for i := 0; i+1 < len(replace); i += 2 {
		if key, ok := strings.CutPrefix(replace[i], "drop:"); ok {
			text = dropSection(t, text, key)
			continue
		}
		if !strings.Contains(text, replace[i]) {
			t.Fatalf("test policy has no %q to replace", replace[i])
		}
		text = strings.Replace(text, replace[i], replace[i+1], 1)
	}
	p, err := Parse([]byte(text))
	if err != nil {
		t.Fatalf("parse test policy: %v", err)
	}
	return p
}

// dropSection removes a top-level section (its key line and the indented
// lines after it) from a policy's text.
func dropSection(t testing.TB, text, key string) string {
	var out []string
	dropping, found := false, false
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, key+":"):
			dropping, found = true, true
			continue
		case dropping && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")):
			continue
		}
		dropping = false
		out = append(out, line)
	}
	if !found {
		t.Fatalf("test policy has no section %q", key)
	}
	return strings.Join(out, "\n")
}

func units(s string, decimals uint8) *big.Int {
	v, err := ParseUnits(s, decimals)
	if err != nil {
		panic(err)
	}
	return v
}

func hdr() Header { return Header{Chain: "1", From: wallet} }

func transfer(tok Token, to, amount string) Transfer {
	return Transfer{Header: hdr(), To: to, Token: tok, Amount: units(amount, tok.Decimals)}
}

// swapETHForUSDC is a valid swap of 0.1 ETH at a quote of 100 USDC with
// 1% slippage, deadline ten minutes after the test clock.
func swapETHForUSDC(now time.Time) Swap {
	return Swap{
		Header:      hdr(),
		Venue:       "uniswap-v3",
		TokenIn:     eth,
		AmountIn:    units("0.1", 18),
		TokenOut:    usdc,
		Quoted:      units("100", 6),
		MinOut:      units("99", 6),
		Recipient:   wallet,
		SlippageBps: 100,
		Deadline:    now.Unix() + 600,
		Tx:          &Call{To: router, Value: units("0.1", 18), Data: HexBytes{0x5a, 0xe4, 0x01, 0xdc}},
	}
}

func approveUSDC(spender, amount string) Approve {
	return Approve{Header: hdr(), Method: MethodApprove, Token: usdc, Spender: spender, Amount: units(amount, 6)}
}

func newTestEngine(t testing.TB, p *Policy, now time.Time, opts ...Option) (*Engine, *MemLedger) {
	t.Helper()
	l := NewMemLedger()
	all := append([]Option{WithClock(func() time.Time { return now }), WithPrices(defaultPrices())}, opts...)
	return NewEngine(p, l, all...), l
}

func big1() *big.Int { return big.NewInt(1) }
