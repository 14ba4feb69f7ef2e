// Package render turns what the tools and the policy answer into the words a chat shows:
// a result with its decision and transaction, a failure a person can act on, an intent
// in words, the policy in force.
//
// The Telegram and Discord bots say the same things in the same words, so the words live
// here once; what differs per platform (escaping, cutting to a message's size) is applied
// by each bot to the plain text this package returns. Nothing here escapes: a caller that
// puts these lines inside markup escapes the whole of them.
package render

import (
	"errors"
	"math/big"
	"strings"

	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// Result is a tool's answer for a chat: its text, the decision and the transaction, or
// the error in one line. It never returns "": an answer with nothing to say is "Done.".
func Result(res tools.Result, err error) string {
	var s strings.Builder
	s.WriteString(strings.TrimSpace(res.Text))
	// A failure's own line says why; the outcome adds only what happened.
	if o := res.Outcome; o != nil && (err == nil || o.Tx != nil) {
		if line := Outcome(o); line != "" && !strings.Contains(s.String(), line) {
			if s.Len() > 0 {
				s.WriteString("\n")
			}
			s.WriteString(line)
		}
	}
	if err != nil {
		if s.Len() > 0 {
			s.WriteString("\n")
		}
		s.WriteString(Error(err))
	}
	if s.Len() == 0 {
		return "Done."
	}
	return s.String()
}

// Outcome is a value-moving tool's outcome in one line: the policy's decision and why,
// the transaction and what it brought in.
func Outcome(o *tools.Outcome) string {
	var parts []string
	if o.Decision != "" {
		d := "Policy: " + string(o.Decision)
		if len(o.Reasons) > 0 {
			d += " (" + strings.Join(o.Reasons, "; ") + ")"
		}
		parts = append(parts, d)
	}
	if o.Tx != nil && o.Tx.Hash != "" {
		parts = append(parts, "tx "+o.Tx.Hash+" "+o.Tx.Status)
	}
	if o.Received != nil {
		parts = append(parts, "received "+o.Received.String())
	}
	return strings.Join(parts, ", ")
}

// Error is a failure in words a person can act on: the argument that was wrong, each of
// the policy's reasons on its own line, an approval that did not come, or the error.
func Error(err error) string {
	msg := OneLine(err.Error())
	var ae *tools.ArgError
	if errors.As(err, &ae) {
		return "That did not work: " + ae.Msg
	}
	var d *policies.Denied
	if errors.As(err, &d) && len(d.Reasons) > 0 {
		var s strings.Builder
		s.WriteString("Denied by the policy:")
		for _, r := range d.Reasons {
			s.WriteString("\n- " + OneLine(r.String()))
		}
		return s.String()
	}
	if errors.Is(err, tools.ErrNotConfirmed) {
		return "Not done: an owner did not approve it (" + msg + ")."
	}
	return "Failed: " + msg
}

// Policy is the policy in force, for /policy; nil is said to allow nothing, since with no
// policy the runtime moves no value.
func Policy(p *policies.Policy) string {
	if p == nil {
		return "No policy is configured: nothing that moves value is allowed."
	}
	return "The policy in force:\n" + p.Summary()
}

// Headline is the intent in words, for the kinds people approve most; "" for the others,
// which Exact still shows.
func Headline(in policies.Intent) string {
	switch v := in.(type) {
	case policies.Transfer:
		return "Send " + Amount(v.Amount, v.Token) + " to " + v.To
	case *policies.Transfer:
		return Headline(*v)
	case policies.Swap:
		return "Swap " + Amount(v.AmountIn, v.TokenIn) + " for at least " + Amount(v.MinOut, v.TokenOut) + " on " + v.Venue
	case *policies.Swap:
		return Headline(*v)
	}
	return ""
}

// Amount is v base units of t in token units with its symbol (or, for a token without
// one, its address): exact, never rounded.
func Amount(v *big.Int, t policies.Token) string {
	sym := t.Symbol
	if sym == "" {
		sym = t.Address
	}
	return policies.FormatUnits(v, t.Decimals) + " " + sym
}

// Exact is the intent exactly, as its canonical JSON: what an owner approves is what is
// signed, not a summary of it.
func Exact(in policies.Intent) string {
	raw, err := policies.Marshal(in)
	if err != nil {
		return string(in.Kind())
	}
	return string(raw)
}

// OneLine puts s on one line, so that an error's own line breaks cannot pass for the
// bot's own lines.
func OneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", "; ")
}
