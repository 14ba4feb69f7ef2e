package telegram

import (
	"context"

	"github.com/go-telegram/bot/models"
)

// editIgnored is the answer to an edited message. A request is acted on as
// it was first sent: by the time an edit arrives the bot may have quoted,
// asked for approval of or sent the original, and an edit that changed an
// amount must not change what is being done behind the owner's back.
const editIgnored = "Edits are not acted on: your original message stands as it was sent (it has been or is being handled). To ask for something different, send a new message."

// onEdit answers an edited message with editIgnored, where the original
// was for the bot; it never runs the edited text.
func (b *Bot) onEdit(ctx context.Context, m *models.Message) {
	if m.From == nil || m.From.IsBot || !b.allowed(m) {
		return
	}
	if text, addressed := b.addressed(m); !addressed || text == "" {
		return
	}
	b.say(ctx, m.Chat.ID, editIgnored)
}
