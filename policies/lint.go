package policies

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Warning is a likely mistake in a valid policy: the file means something,
// probably not what its owner meant. Parse still succeeds; `policy check`
// shows the warnings.
type Warning struct {
	Line  int    `json:"line"`  // 1-based; 0 when not on one line
	Field string `json:"field"` // where in the policy, e.g. "approvals.max.USDC"
	Text  string `json:"text"`
}

func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", w.Line, w.Field, w.Text)
	}
	return w.Field + ": " + w.Text
}

// lintNotes is what Parse found for Warnings and PriceWarnings.
type lintNotes struct {
	warnings []Warning
	usd      []Warning // the settings that need a USD price, Text empty
}

// Warnings returns the policy's likely mistakes, in file order: tokens no
// limit covers (everything that spends them is denied), approvals with no
// daily bound, approvals.unlimited (an unlimited approval is charged as a
// spend, so it passes only for tokens no limit bounds), and swaps without
// max_loss_bps. Settings that need a price source the runtime may lack are
// PriceWarnings'.
func (p *Policy) Warnings() []Warning { return slices.Clone(p.lint.warnings) }

// PriceWarnings warns about each setting that needs USD prices
// (limits.per_tx_usd, limits.daily_usd, ask.above_usd, swaps.max_loss_bps)
// when some of the policy's chains have no price source: there the engine
// cannot price an intent and denies it. priced reports whether the runtime
// has a price source for a chain (as Header.Chain spells it); only the
// caller knows.
func (p *Policy) PriceWarnings(priced func(chain string) bool) []Warning {
	var unpriced []string
	for _, c := range p.chains {
		if !priced(c) {
			unpriced = append(unpriced, c)
		}
	}
	if len(unpriced) == 0 {
		return nil
	}
	where := "no chain of the policy has one"
	if len(unpriced) < len(p.chains) {
		where = "chain " + strings.Join(unpriced, ", ") + " has none"
		if len(unpriced) > 1 {
			where = "chains " + strings.Join(unpriced, ", ") + " have none"
		}
	}
	out := make([]Warning, 0, len(p.lint.usd))
	for _, s := range p.lint.usd {
		what := "every intent it applies to"
		if s.Field == "swaps.max_loss_bps" {
			what = "every swap"
		}
		if len(unpriced) < len(p.chains) {
			what += " there"
		}
		s.Text = fmt.Sprintf("needs a USD price source and %s, so %s is denied; use a chain with Uniswap V3 pools, or remove the setting", where, what)
		out = append(out, s)
	}
	return out
}

// lint finds the likely mistakes in a parsed policy; root is its YAML,
// already validated, for the lines.
func lint(p *Policy, root *yaml.Node) lintNotes {
	var n lintNotes
	warn := func(line int, field, format string, args ...any) {
		n.warnings = append(n.warnings, Warning{Line: line, Field: field, Text: fmt.Sprintf(format, args...)})
	}
	usdLimit := p.perTxUSD != nil || p.dailyUSD != nil
	bounded := func(t *tokenSpec) bool { return t.perTx != nil || t.daily != nil || usdLimit }
	for _, t := range p.tokens {
		if !bounded(t) {
			warn(t.line, "tokens."+t.symbol, "no limit covers %s (no limits.per_tx.%s or limits.daily.%s, and no USD limit), so every transfer, approval or swap that spends it is denied; add limits.per_tx.%s and limits.daily.%s",
				t.symbol, t.symbol, t.symbol, t.symbol, t.symbol)
		}
	}
	if p.approvals {
		lintApprovals(p, root, bounded, warn)
	}
	if p.swaps != nil && p.swaps.maxLossBps < 0 {
		warn(keyLine(root, "swaps"), "swaps", "there is no max_loss_bps, so a swap is judged only against its own quote, which a moved pool or a poor route can make arbitrarily bad; add max_loss_bps (e.g. 300) to bound its loss against an independent price")
	}
	for _, key := range [][]string{{"limits", "per_tx_usd"}, {"limits", "daily_usd"}, {"ask", "above_usd"}, {"swaps", "max_loss_bps"}} {
		if line := keyLine(root, key...); line > 0 {
			n.usd = append(n.usd, Warning{Line: line, Field: strings.Join(key, ".")})
		}
	}
	slices.SortStableFunc(n.warnings, func(a, b Warning) int { return a.Line - b.Line })
	return n
}

// lintApprovals warns about approvals that nothing bounds per day, and
// about approvals.unlimited.
func lintApprovals(p *Policy, root *yaml.Node, bounded func(*tokenSpec) bool, warn func(int, string, string, ...any)) {
	for _, t := range p.limitSpecs() {
		// A token nothing bounds is warned about under tokens: everything
		// that spends it, approvals included, is denied.
		if t.approveMax == nil || t.daily != nil || p.dailyUSD != nil || !bounded(t) {
			continue
		}
		warn(keyLine(root, "approvals", "max", t.symbol), "approvals.max."+t.symbol,
			"%s may be approved, but nothing bounds it per day (no limits.daily.%s, no limits.daily_usd), so approvals, each within the per-transaction limit, can repeat without end; add limits.daily.%s",
			t.symbol, t.symbol, t.symbol)
	}
	if !p.unlimited {
		return
	}
	var limited, free []string
	for _, t := range p.tokens {
		if bounded(t) {
			limited = append(limited, t.symbol)
		} else {
			free = append(free, t.symbol)
		}
	}
	text := "an unlimited approval is charged as a spend larger than any limit, so it is denied for every token a limit bounds"
	switch {
	case len(free) == 0:
		text += ", which is every token here: this setting allows nothing; set it to false and approve exact amounts"
	case len(limited) == 0:
		text += "; here no token has a limit, so a spender may be approved for the whole balance of " + strings.Join(free, ", ") + "; set it to false and approve exact amounts"
	default:
		text += " (" + strings.Join(limited, ", ") + "), and lets a spender take the whole balance of " + strings.Join(free, ", ") + ", which nothing bounds; set it to false and approve exact amounts"
	}
	warn(keyLine(root, "approvals", "unlimited"), "approvals.unlimited", "%s", text)
}

// keyLine is the line of the key at path in the YAML mapping root; 0 when
// there is none.
func keyLine(root *yaml.Node, path ...string) int {
	n := root
	line := 0
	for _, key := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return 0
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				line, next = n.Content[i].Line, n.Content[i+1]
				break
			}
		}
		if next == nil {
			return 0
		}
		n = next
	}
	return line
}
