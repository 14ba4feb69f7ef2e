package telegram

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf16"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate/bots/sched"
)

// maxText is the Bot API's limit on a message's text, in UTF-16 code
// units.
const maxText = 4096

// Typing is repeated this often: the Bot API shows it for about five
// seconds. It starts only after typingDelay, so a quick answer sends none.
var (
	typingDelay = time.Second
	typingEvery = 4 * time.Second
)

// sendText sends text (at most maxText) to chat through the scheduler, so
// the Bot API's flood limits are kept and a 429 is waited out.
func (b *Bot) sendText(ctx context.Context, chat int64, text string, kb models.ReplyMarkup) (*models.Message, error) {
	var m *models.Message
	err := b.sch.Do(ctx, itoa(chat), chat < 0, func(ctx context.Context) error {
		var err error
		m, err = b.api.SendMessage(ctx, &tg.SendMessageParams{ChatID: chat, Text: text, ReplyMarkup: kb})
		return rateLimit(err)
	})
	return m, unwrapRate(err)
}

// editText replaces a message's text (and keyboard) through the scheduler.
// An edit that changes nothing is not an error.
func (b *Bot) editText(ctx context.Context, chat int64, id int, text string, kb models.ReplyMarkup) error {
	err := b.sch.Do(ctx, itoa(chat), chat < 0, func(ctx context.Context) error {
		_, err := b.api.EditMessageText(ctx, &tg.EditMessageTextParams{ChatID: chat, MessageID: id, Text: text, ReplyMarkup: kb})
		if err != nil && strings.Contains(err.Error(), "message is not modified") {
			return nil
		}
		return rateLimit(err)
	})
	return unwrapRate(err)
}

// chatAction shows "typing…"; it is not a message, so not scheduled.
func (b *Bot) chatAction(ctx context.Context, chat int64) {
	if _, err := b.api.SendChatAction(ctx, &tg.SendChatActionParams{ChatID: chat, Action: models.ChatActionTyping}); err != nil {
		b.sendFailed(chat, err)
	}
}

// rateLimit turns the client's 429 into the scheduler's, which waits and
// sends again.
func rateLimit(err error) error {
	var tm *tg.TooManyRequestsError
	if errors.As(err, &tm) {
		wait := time.Duration(tm.RetryAfter) * time.Second
		if wait <= 0 {
			wait = sched.DefaultRetryAfter
		}
		return &sched.RateLimitError{Wait: wait, Err: err}
	}
	return err
}

func unwrapRate(err error) error {
	var rl *sched.RateLimitError
	if errors.As(err, &rl) && rl.Err != nil {
		return rl.Err
	}
	return err
}

// split cuts text into pieces the Bot API takes, at line ends where it
// can.
func split(text string) []string {
	var out []string
	for utf16Len(text) > maxText {
		cut := cutAt(text, maxText)
		if nl := strings.LastIndexByte(text[:cut], '\n'); nl > cut/2 {
			cut = nl + 1
		}
		out = append(out, text[:cut])
		text = text[cut:]
	}
	if text != "" || len(out) == 0 {
		out = append(out, text)
	}
	return out
}

// cutAt is the byte offset of the longest prefix of s within n UTF-16 code
// units.
func cutAt(s string, n int) int {
	units := 0
	for i, r := range s {
		w := utf16.RuneLen(r)
		if w < 0 {
			w = 1
		}
		if units+w > n {
			return i
		}
		units += w
	}
	return len(s)
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if w := utf16.RuneLen(r); w > 0 {
			n += w
		} else {
			n++
		}
	}
	return n
}

// cutText is s within n UTF-16 code units.
func cutText(s string, n int) string { return s[:cutAt(s, n)] }
