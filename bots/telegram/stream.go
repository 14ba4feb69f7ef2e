package telegram

import (
	"context"
	"strconv"

	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate/bots/stream"
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
	out := &stream.Answer{To: chatMessages{b, chat}, Every: b.cfg.EditInterval, Parts: split}
	out.Turn(ctx, ag.Session(session(chat, m.From.ID, owner)).Send(b.turnContext(ctx, chat), text), !owner)
	stop()
	out.Flush(ctx, true)
}

// chatMessages are a chat's plain-text messages, for a streamed answer.
type chatMessages struct {
	b    *Bot
	chat int64
}

func (c chatMessages) Send(ctx context.Context, text string) (string, error) {
	m, err := c.b.sendText(ctx, c.chat, text, nil)
	if err != nil {
		return "", err
	}
	return strconv.Itoa(m.ID), nil
}

func (c chatMessages) Edit(ctx context.Context, id, text string) error {
	n, err := strconv.Atoi(id)
	if err != nil {
		return err
	}
	return c.b.editText(ctx, c.chat, n, text, nil)
}

func (c chatMessages) Failed(err error) { c.b.sendFailed(c.chat, err) }
