package telegram

import (
	"context"
	"strings"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate/agent"
)

// converse runs free text through the agent the sender may use and shows
// the answer as it streams in.
func (b *Bot) converse(ctx context.Context, m *models.Message, text string) {
	chat, owner := m.Chat.ID, b.owner(m.From.ID)
	ag := b.rt.Agent()
	if !owner {
		ag = b.guests
	}
	stop := b.typing(ctx, chat)
	defer stop()
	out := &reply{b: b, chat: chat, every: b.cfg.EditInterval}
	used := false // a tool answered: the guest got what they asked for
	for ev, err := range ag.Session(session(chat, m.From.ID, owner)).Send(b.turnContext(ctx, chat), text) {
		if err != nil {
			out.line(errorLine(err))
			break
		}
		switch ev.Kind {
		case agent.EventText:
			out.text(ev.Text)
		case agent.EventDecision:
			d := "Policy on " + ev.Tool + ": " + ev.Decision
			if len(ev.Reasons) > 0 {
				d += " (" + strings.Join(ev.Reasons, "; ") + ")"
			}
			out.line(d)
		case agent.EventTx:
			out.line("Transaction " + ev.TxHash + ": " + ev.TxStatus)
		case agent.EventToolResult:
			if ev.Err != "" {
				out.line(ev.Tool + " failed: " + oneLine(ev.Err))
			} else {
				used = true
			}
		case agent.EventRefused:
			out.line(ev.Text)
		}
		out.flush(ctx, false)
	}
	if !owner && !used {
		out.line(ownersOnly)
	}
	stop()
	out.flush(ctx, true)
}

// reply is one answer shown as it grows: sent once, then edited, no more
// often than every, with the rest sent as new messages once it outgrows
// one.
type reply struct {
	b     *Bot
	chat  int64
	every time.Duration

	body   strings.Builder
	midRun bool // the body ends inside streamed text
	msg    *models.Message
	shown  string
	last   time.Time
}

// text adds a piece of the model's streamed answer.
func (r *reply) text(s string) {
	if !r.midRun && r.body.Len() > 0 {
		r.body.WriteString("\n")
	}
	r.body.WriteString(s)
	r.midRun = true
}

// line adds a line of its own (a decision, a transaction).
func (r *reply) line(s string) {
	if s = strings.TrimSpace(s); s == "" {
		return
	}
	if r.body.Len() > 0 {
		r.body.WriteString("\n")
	}
	r.body.WriteString(s)
	r.midRun = false
}

// flush shows the body: at once when final, else only when every has
// passed since the last time.
func (r *reply) flush(ctx context.Context, final bool) {
	body := strings.TrimSpace(r.body.String())
	if body == "" {
		if final && r.msg == nil {
			body = "(no answer)"
		} else {
			return
		}
	}
	if !final && r.msg != nil && time.Since(r.last) < r.every {
		return
	}
	parts := split(body)
	if !final {
		parts = parts[:1] // the rest is sent once, at the end
	}
	if r.msg == nil {
		m, err := r.b.sendText(ctx, r.chat, parts[0], nil)
		if err != nil {
			r.b.sendFailed(r.chat, err)
			return
		}
		r.msg, r.shown, r.last = m, parts[0], time.Now()
	} else if parts[0] != r.shown {
		if err := r.b.editText(ctx, r.chat, r.msg.ID, parts[0], nil); err != nil {
			r.b.sendFailed(r.chat, err)
			return
		}
		r.shown, r.last = parts[0], time.Now()
	}
	if final {
		for _, p := range parts[1:] {
			if _, err := r.b.sendText(ctx, r.chat, p, nil); err != nil {
				r.b.sendFailed(r.chat, err)
				return
			}
		}
	}
}

func oneLine(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r", " "), "\n", "; ")
}
