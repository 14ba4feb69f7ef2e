package discord

import (
	"context"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/mandatehq/mandate/agent"
)

// converse runs text through the agent the sender may use and shows the answer as it
// streams in.
func (b *Bot) converse(ctx context.Context, channel, user, text string) {
	owner := b.owner(user)
	ag := b.rt.Agent()
	if !owner {
		ag = b.guests
	}
	stop := b.typing(ctx, channel)
	defer stop()
	out := &reply{b: b, channel: channel, every: b.cfg.EditInterval}
	used := false // a tool answered: the guest got what they asked for
	for ev, err := range ag.Session(session(channel, user, owner)).Send(b.turnContext(ctx, channel), text) {
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

// typingEvery repeats the typing indicator, which Discord shows for about ten seconds.
const typingEvery = 8 * time.Second

// typing shows "typing…" in channel until the returned stop is called. It is not a
// message, so not paced.
func (b *Bot) typing(ctx context.Context, channel string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if err := b.client.ChannelTyping(channel); err != nil {
				b.sendFailed(channel, err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(typingEvery):
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// reply is one answer shown as it grows: sent once, then edited, no more often than
// every, with the rest sent as new messages once it outgrows one.
type reply struct {
	b       *Bot
	channel string
	every   time.Duration

	body   strings.Builder
	midRun bool // the body ends inside streamed text
	msg    string
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

// flush shows the body: at once when final, else only when every has passed since the
// last time.
func (r *reply) flush(ctx context.Context, final bool) {
	body := strings.TrimSpace(r.body.String())
	if body == "" {
		if !final || r.msg != "" {
			return
		}
		body = "(no answer)"
	}
	if !final && r.msg != "" && time.Since(r.last) < r.every {
		return
	}
	parts := pieces(escape(body), maxContent)
	if !final {
		parts = parts[:1] // the rest is sent once, at the end
	}
	if !r.show(ctx, parts[0]) || !final {
		return
	}
	for _, p := range parts[1:] {
		if _, err := r.b.send(ctx, r.channel, &discordgo.MessageSend{Content: p}); err != nil {
			r.b.sendFailed(r.channel, err)
			return
		}
	}
}

// show puts part in the answer's one message: sent the first time, edited after.
func (r *reply) show(ctx context.Context, part string) bool {
	if r.msg == "" {
		m, err := r.b.send(ctx, r.channel, &discordgo.MessageSend{Content: part})
		if err != nil {
			r.b.sendFailed(r.channel, err)
			return false
		}
		r.msg, r.shown, r.last = m.ID, part, time.Now()
		return true
	}
	if part == r.shown {
		return true
	}
	if err := r.b.edit(ctx, r.channel, r.msg, part, nil); err != nil {
		r.b.sendFailed(r.channel, err)
		return false
	}
	r.shown, r.last = part, time.Now()
	return true
}
