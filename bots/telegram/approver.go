package telegram

import (
	"context"
	"errors"
	"fmt"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate/bots/approval"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
)

// Approver asks a chat's owners to confirm what the policy sends to a
// person, with an Approve / Reject keyboard. Make it before the runtime
// (NewApprover), give it to mandate.Config.Approver and to Config.Approver;
// the bot binds it while it runs. Only an owner's press counts, a request
// expires after the bot's ApprovalTimeout, and a second press acts on
// nothing.
//
// The question lives in the database (bots/approval), not in this
// process: with replicas behind a load balancer the press may reach
// another replica than the one waiting, and the database's conditional
// update lets exactly one press settle it.
type Approver struct {
	seat approval.Seat[Bot]
}

// sent is where a question was shown, kept with it in the database.
type sent struct {
	Chat int64 `json:"chat"`
	ID   int   `json:"id"`
}

// NewApprover returns an approver with no bot yet: until one runs, it
// refuses (an error says why).
func NewApprover() *Approver { return &Approver{} }

// ErrNoBot is an approval asked while no bot runs.
var ErrNoBot = errors.New("telegram: the bot is not running, so nobody can approve")

type chatKey struct{}

// withChat marks ctx as a request from chat, where its approval is asked.
func withChat(ctx context.Context, chat int64) context.Context {
	return context.WithValue(ctx, chatKey{}, chat)
}

func chatFrom(ctx context.Context) (int64, bool) {
	c, ok := ctx.Value(chatKey{}).(int64)
	return c, ok
}

// Approve asks in the chat the request came from, or, for one that came
// from no chat (a standing order), in each owner's private chat, and waits
// for an owner's press, the timeout or ctx. Expiry declines.
func (a *Approver) Approve(ctx context.Context, in policies.Intent, why []string) (bool, error) {
	b := a.seat.Bot()
	if b == nil {
		return false, ErrNoBot
	}
	var chats []int64
	if c, ok := chatFrom(ctx); ok {
		chats = []int64{c}
	} else {
		chats = b.cfg.Owners
	}
	if len(chats) == 0 {
		return false, errors.New("telegram: no owner is configured, so nobody can approve")
	}
	timeout := b.cfg.ApprovalTimeout
	text := cutText(approval.Question(in, why, timeout), maxText-200) // room for how it ended
	return b.book.Ask(ctx, text, timeout, func(ctx context.Context, id string) []sent {
		return b.ask(ctx, id, text, chats)
	})
}

// ask shows question id's text with its keyboard in chats and returns
// where it reached.
func (b *Bot) ask(ctx context.Context, id, text string, chats []int64) []sent {
	kb := &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{
		{Text: "Approve", CallbackData: approval.Button(id, true)},
		{Text: "Reject", CallbackData: approval.Button(id, false)},
	}}}
	var shown []sent
	for _, c := range chats {
		m, err := b.sendText(ctx, c, text, kb)
		if err != nil {
			b.sendFailed(c, err)
			continue
		}
		shown = append(shown, sent{c, m.ID})
	}
	return shown
}

// press answers a button press: every press is answered, only an owner's
// first one before expiry acts.
func (a *Approver) press(ctx context.Context, b *Bot, q *models.CallbackQuery) {
	answer, settled := b.book.Press(ctx, q.Data, b.owner(q.From.ID), who(q.From))
	if _, err := b.api.AnswerCallbackQuery(ctx, &tg.AnswerCallbackQueryParams{CallbackQueryID: q.ID, Text: answer}); err != nil {
		b.sendFailed(0, err)
	}
	if settled != nil {
		b.settled(ctx, *settled, b.book.Where(*settled))
	}
}

// settled edits question q's keyboards away, saying how it ended.
func (b *Bot) settled(ctx context.Context, q memory.BotApproval, where []sent) {
	text := q.Question + "\n\n" + approval.Ending(q, func(s string) string { return s })
	for _, m := range where {
		if err := b.editText(ctx, m.Chat, m.ID, text, &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{}}); err != nil {
			b.sendFailed(m.Chat, err)
		}
	}
}

func who(u models.User) string {
	if u.Username != "" {
		return "@" + u.Username
	}
	if u.FirstName != "" {
		return u.FirstName
	}
	return fmt.Sprintf("user %d", u.ID)
}
