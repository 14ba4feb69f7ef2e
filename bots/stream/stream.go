// Package stream shows an agent's answer in a chat as it grows: one message, sent when
// the first words come and then edited, no more often than a set interval, so that a
// model streaming tokens costs a few edits and not one per token (the platforms allow
// about one message or edit a second per chat). What outgrows one message is sent as more
// messages once the answer is done, never edited in between.
//
// The Telegram and Discord bots share it; each supplies how to send and edit a message
// and how to cut (and escape) a body into messages.
package stream

import (
	"context"
	"iter"
	"strings"
	"time"

	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/bots/access"
	"github.com/mandatehq/mandate/bots/render"
)

// Messages is where an answer is shown. Ids are the platform's message ids, as text.
type Messages interface {
	Send(ctx context.Context, text string) (id string, err error)
	Edit(ctx context.Context, id, text string) error
	// Failed hears a send or an edit that failed; the answer stops there.
	Failed(err error)
}

// Answer is one answer being shown. Set To, Every and Parts; the zero rest is ready.
type Answer struct {
	To    Messages
	Every time.Duration // the least time between two edits
	// Parts cuts the body into the messages that show it (escaping it first where the
	// platform needs that); it returns at least one.
	Parts func(body string) []string

	body   strings.Builder
	midRun bool // the body ends inside streamed text
	msg    string
	sent   bool
	shown  string
	last   time.Time
}

// Text adds a piece of the model's streamed answer.
func (a *Answer) Text(s string) {
	if !a.midRun && a.body.Len() > 0 {
		a.body.WriteString("\n")
	}
	a.body.WriteString(s)
	a.midRun = true
}

// Line adds a line of its own (a decision, a transaction).
func (a *Answer) Line(s string) {
	if s = strings.TrimSpace(s); s == "" {
		return
	}
	if a.body.Len() > 0 {
		a.body.WriteString("\n")
	}
	a.body.WriteString(s)
	a.midRun = false
}

// Event adds what an agent's event shows: streamed text, a policy decision, a
// transaction, a refusal or a tool that failed. It reports whether a tool answered, which
// tells a guest's bot that they got what they asked for.
func (a *Answer) Event(ev agent.Event) (answered bool) {
	switch ev.Kind {
	case agent.EventText:
		a.Text(ev.Text)
	case agent.EventDecision:
		d := "Policy on " + ev.Tool + ": " + ev.Decision
		if len(ev.Reasons) > 0 {
			d += " (" + strings.Join(ev.Reasons, "; ") + ")"
		}
		a.Line(d)
	case agent.EventTx:
		a.Line("Transaction " + ev.TxHash + ": " + ev.TxStatus)
	case agent.EventToolResult:
		if ev.Err != "" {
			a.Line(ev.Tool + " failed: " + render.OneLine(ev.Err))
		} else {
			return true
		}
	case agent.EventRefused:
		a.Line(ev.Text)
	}
	return false
}

// Turn shows a turn's events as they come, flushing after each, until they end or one
// fails (its error becomes the last line). A guest who got no tool's answer is told what
// only an owner may do. The final Flush is the caller's, once its typing indicator stops.
func (a *Answer) Turn(ctx context.Context, events iter.Seq2[agent.Event, error], guest bool) {
	answered := false // a tool answered: the guest got what they asked for
	for ev, err := range events {
		if err != nil {
			a.Line(render.Error(err))
			break
		}
		if a.Event(ev) {
			answered = true
		}
		a.Flush(ctx, false)
	}
	if guest && !answered {
		a.Line(access.OwnersOnly)
	}
}

// Flush shows the body: at once when final, else only when Every has passed since the
// last time it was shown.
func (a *Answer) Flush(ctx context.Context, final bool) {
	body := strings.TrimSpace(a.body.String())
	if body == "" {
		if !final || a.sent {
			return
		}
		body = "(no answer)"
	}
	if !final && a.sent && time.Since(a.last) < a.Every {
		return
	}
	parts := a.Parts(body)
	if !final {
		parts = parts[:1] // the rest is sent once, at the end
	}
	if !a.show(ctx, parts[0]) || !final {
		return
	}
	for _, p := range parts[1:] {
		if _, err := a.To.Send(ctx, p); err != nil {
			a.To.Failed(err)
			return
		}
	}
}

// show puts part in the answer's one message: sent the first time, edited after.
func (a *Answer) show(ctx context.Context, part string) bool {
	if !a.sent {
		id, err := a.To.Send(ctx, part)
		if err != nil {
			a.To.Failed(err)
			return false
		}
		a.msg, a.sent, a.shown, a.last = id, true, part, time.Now()
		return true
	}
	if part == a.shown {
		return true
	}
	if err := a.To.Edit(ctx, a.msg, part); err != nil {
		a.To.Failed(err)
		return false
	}
	a.shown, a.last = part, time.Now()
	return true
}
