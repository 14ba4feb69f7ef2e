package policies

import (
	"strings"
	"testing"
)

// lintHead defines two tokens on line 4 and 5; each case adds the rest.
const lintHead = `version: 1
chains: [1]
tokens:
  USDC: {chain: 1, address: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", decimals: 6}
  WETH: {chain: 1, address: "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", decimals: 18}
`

type wantWarning struct {
	line  int
	field string
	text  string // a part of the text
}

func checkWarnings(t *testing.T, got []Warning, want []wantWarning) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("warnings %v, want %d: %v", got, len(want), want)
	}
	for i, w := range want {
		g := got[i]
		if g.Line != w.line || g.Field != w.field || !strings.Contains(g.Text, w.text) {
			t.Fatalf("warning %d is %v, want line %d, %s, saying %q", i, g, w.line, w.field, w.text)
		}
		if strings.Contains(g.String(), "\n") {
			t.Fatalf("warning spans lines: %q", g)
		}
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name, body string
		want       []wantWarning
	}{
		{"none", `limits:
  per_tx: {USDC: "100", WETH: "1"}
  daily: {USDC: "500", WETH: "3"}
approvals: {max: {USDC: "100"}}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800, max_loss_bps: 300}
`, nil},
		{"a token no limit covers", `limits:
  per_tx: {USDC: "100"}
  daily: {USDC: "500"}
`, []wantWarning{{5, "tokens.WETH", "no limit covers WETH (no limits.per_tx.WETH or limits.daily.WETH, and no USD limit), so every transfer, approval or swap that spends it is denied"}}},
		{"a USD limit covers every token", `limits: {per_tx_usd: 100, daily_usd: 1000}
`, nil},
		{"approvals with no daily limit", `limits:
  per_tx: {USDC: "100", WETH: "1"}
  daily: {WETH: "3"}
approvals:
  max: {USDC: "100", WETH: "1"}
`, []wantWarning{{10, "approvals.max.USDC", "USDC may be approved, but nothing bounds it per day (no limits.daily.USDC, no limits.daily_usd)"}}},
		{"approvals bounded per day in USD", `limits:
  per_tx: {USDC: "100", WETH: "1"}
  daily_usd: 1000
approvals: {max: {USDC: "100"}}
`, nil},
		{"unlimited approvals allow nothing", `limits:
  per_tx: {USDC: "100", WETH: "1"}
  daily: {USDC: "500", WETH: "3"}
approvals:
  max: {USDC: "100"}
  unlimited: true
`, []wantWarning{{11, "approvals.unlimited", "an unlimited approval is charged as a spend larger than any limit, so it is denied for every token a limit bounds, which is every token here"}}},
		{"unlimited approvals of a token nothing bounds", `limits:
  per_tx: {USDC: "100"}
  daily: {USDC: "500"}
approvals: {max: {USDC: "100"}, unlimited: true}
`, []wantWarning{
			{5, "tokens.WETH", "no limit covers WETH"},
			{9, "approvals.unlimited", "denied for every token a limit bounds (USDC), and lets a spender take the whole balance of WETH, which nothing bounds"},
		}},
		{"swaps without max_loss_bps", `limits:
  per_tx: {USDC: "100", WETH: "1"}
  daily: {USDC: "500", WETH: "3"}
swaps:
  max_slippage_bps: 100
  max_deadline_seconds: 1800
`, []wantWarning{{9, "swaps", "there is no max_loss_bps, so a swap is judged only against its own quote"}}},
		{"in file order", `swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800}
limits:
  per_tx: {USDC: "100"}
`, []wantWarning{
			{5, "tokens.WETH", "no limit covers WETH"},
			{6, "swaps", "max_loss_bps"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(lintHead + tt.body))
			if err != nil {
				t.Fatal(err)
			}
			checkWarnings(t, p.Warnings(), tt.want)
		})
	}
}

func TestPriceWarnings(t *testing.T) {
	usd := `version: 1
chains: [1, solana-devnet]
limits:
  per_tx_usd: 100
  daily_usd: 1000
ask: {above_usd: 50}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800, max_loss_bps: 300}
`
	tests := []struct {
		name   string
		policy string
		priced func(string) bool
		want   []wantWarning
	}{
		{"no chain priced", usd, func(string) bool { return false }, []wantWarning{
			{4, "limits.per_tx_usd", "needs a USD price source and no chain of the policy has one, so every intent it applies to is denied"},
			{5, "limits.daily_usd", "no chain of the policy has one"},
			{6, "ask.above_usd", "every intent it applies to is denied"},
			{7, "swaps.max_loss_bps", "so every swap is denied"},
		}},
		{"one chain priced", usd, func(c string) bool { return c == "1" }, []wantWarning{
			{4, "limits.per_tx_usd", "needs a USD price source and chain solana-devnet has none, so every intent it applies to there is denied"},
			{5, "limits.daily_usd", "chain solana-devnet has none"},
			{6, "ask.above_usd", "chain solana-devnet has none"},
			{7, "swaps.max_loss_bps", "so every swap there is denied"},
		}},
		{"every chain priced", usd, func(string) bool { return true }, nil},
		{"no USD setting", "version: 1\nchains: [solana-devnet]\nlimits: {per_tx: {SOL: \"1\"}}\n", func(string) bool { return false }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.policy))
			if err != nil {
				t.Fatal(err)
			}
			checkWarnings(t, p.PriceWarnings(tt.priced), tt.want)
		})
	}
}
