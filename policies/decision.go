package policies

import (
	"errors"
	"strings"
	"sync/atomic"
)

// Reason is one readable cause of a denial or of an ask: the text a person
// and the model see, and the policy rule that produced it.
type Reason struct {
	Rule string `json:"rule"` // e.g. "limits.per_tx.ETH", "recipients.allow", "rules.no-weekend-swaps"
	Text string `json:"text"` // e.g. "amount 2.5 ETH exceeds per-tx limit 1 ETH"
}

// String reads "<text> (rule <rule>)".
func (r Reason) String() string { return r.Text + " (rule " + r.Rule + ")" }

func reasonStrings(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func joinReasons(rs []Reason) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.String())
	}
	return b.String()
}

// Denied is the error Decide returns when the policy refuses an intent. It
// carries every failing reason, not only the first, so a person (or the
// model) can fix everything at once instead of retrying blindly.
type Denied struct {
	Reasons []Reason
}

func (d *Denied) Error() string { return "denied: " + joinReasons(d.Reasons) }

// Ask is the error Decide returns when the intent passes every check but a
// person must confirm it (its value is above ask.above_usd). Pass it to
// Engine.Confirm once they have.
type Ask struct {
	Reasons []Reason
	intent  Intent
	used    *atomic.Bool // shared by copies: an Ask is confirmed once
}

// ErrAskUsed is Confirm's error for an Ask already confirmed: one person's
// confirmation yields at most one approval.
var ErrAskUsed = errors.New("policies: this ask was already confirmed: an ask is confirmed once; Decide again for a new one")

func (a *Ask) Error() string { return "a person must confirm: " + joinReasons(a.Reasons) }

// Intent returns the intent awaiting confirmation.
func (a *Ask) Intent() Intent { return a.intent }

// Report is a dry-run decision, as Engine.Evaluate returns it and
// `mandate policy eval` prints it.
type Report struct {
	Decision Decision `json:"decision"`
	// Reasons says why the intent is denied, or (for DecisionAsk) why a
	// person must confirm it.
	Reasons []Reason `json:"reasons,omitempty"`
	// Digest is the hex digest an Approval for this intent would be bound to.
	Digest string `json:"digest"`
	// Spends is what an approval would charge, per ledger bucket.
	Spends []Spend `json:"spends,omitempty"`
	// Prices lists the USD prices used and their sources.
	Prices []string `json:"prices,omitempty"`
}
