package jupiter

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/mandatehq/mandate/policies"
)

// usdPrices is an independent price source: what the policy's max_loss_bps
// compares a swap's floor with, never the swap's own quote.
type usdPrices map[string]*big.Rat

func (p usdPrices) PriceUSD(_ context.Context, chain string, t policies.Token) (policies.Price, error) {
	k := t.Address
	if t.Native() {
		k = "SOL"
	}
	if r, ok := p[k]; ok && chain == "solana-mainnet" {
		return policies.Price{USD: r, Source: "test oracle"}, nil
	}
	return policies.Price{}, fmt.Errorf("no price for %s on %s", k, chain)
}

func swapPolicy(t testing.TB) *policies.Policy {
	t.Helper()
	p, err := policies.Parse([]byte(`version: 1
chains: [solana-mainnet]
tokens:
  USDC: {chain: solana-mainnet, mint: "` + mintUSDC.String() + `", decimals: 6}
limits:
  per_tx: {SOL: "2", USDC: "1000"}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800, max_loss_bps: 300}
`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A verified swap is decided by the policy file like any other: slippage,
// limits and the loss against an independent price.
func TestVerifiedSwapDecidedByPolicy(t *testing.T) {
	w := newWorld(t)
	eng := policies.NewEngine(swapPolicy(t), policies.NewMemLedger(),
		policies.WithClock(clock), policies.WithPrices(usdPrices{"SOL": big.NewRat(150, 1), mintUSDC.String(): big.NewRat(1, 1)}))
	ctx := context.Background()
	cases := []struct {
		name string
		s    func() swapTx
		rule string // "" = approved
	}{
		{"1 SOL for 150 USDC at 50 bps", w.goodSOLtoUSDC, ""},
		{"slippage above max_slippage_bps", func() swapTx { s := w.goodSOLtoUSDC(); s.slippageBps = 300; return s }, "swaps.max_slippage_bps"},
		{"price far below the oracle's", func() swapTx { s := w.goodSOLtoUSDC(); s.quotedOut = 100_000_000; return s }, "swaps.max_loss_bps"},
		{"over the per-tx SOL limit", func() swapTx {
			s := w.goodSOLtoUSDC()
			s.inAmount, s.wrap, s.quotedOut = 3_000_000_000, 3_000_000_000, 450_000_000
			return s
		}, "limits.per_tx.SOL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := c.s()
			in, err := w.verify(t, s, quoteJSON(s))
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			_, err = eng.Decide(ctx, in)
			if c.rule == "" {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			var d *policies.Denied
			if !errors.As(err, &d) {
				t.Fatalf("decision %v, want denied by %s", err, c.rule)
			}
			var rules []string
			for _, r := range d.Reasons {
				rules = append(rules, r.Rule)
			}
			if !slices.Contains(rules, c.rule) {
				t.Fatalf("denied by %v, want %s (%v)", rules, c.rule, err)
			}
		})
	}
}
