package telegram

import (
	"context"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate/bots/flood"
)

// DefaultUserRate is how many messages (and edits) one user may send the
// bot in a minute unless configured.
const DefaultUserRate = flood.DefaultRate

// paced reports whether m may be handled under its sender's rate; the
// first message past it is answered with flood.SlowDown. Only messages for
// the bot count: a group's chatter the bot does not answer costs nobody.
func (b *Bot) paced(ctx context.Context, m *models.Message) bool {
	if m.From == nil || m.From.IsBot {
		return true // onMessage drops these
	}
	if _, addressed := b.addressed(m); !addressed {
		return true
	}
	switch b.flood.Check(m.From.ID, time.Now()) {
	case flood.Allow:
		return true
	case flood.Warn:
		b.log.Warn("telegram: a user is sending faster than allowed; ignoring them for the rest of the minute", "user", m.From.ID, "chat", m.Chat.ID)
		chat := m.Chat.ID
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.say(ctx, chat, flood.SlowDown)
		}()
	}
	return false
}
