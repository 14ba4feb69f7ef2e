package telegram

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate/policies"
)

// Approver asks a chat's owners to confirm what the policy sends to a
// person, with an Approve / Reject keyboard. Make it before the runtime
// (NewApprover), give it to mandate.Config.Approver and to Config.Approver;
// the bot binds it while it runs. Only an owner's press counts, a request
// expires after the bot's ApprovalTimeout, and a second press acts on
// nothing.
type Approver struct {
	mu      sync.Mutex
	bot     *Bot
	pending map[string]*request
}

// request is one question put to the owners.
type request struct {
	msgs    []sent    // the keyboards shown, one per chat asked
	answer  chan bool // buffered: the first owner's press
	state   string    // "", "approved", "rejected", "expired"
	expires time.Time // for the presses that come late
	text    string    // the question, for the edits that settle it
}

type sent struct {
	chat int64
	id   int
}

// NewApprover returns an approver with no bot yet: until one runs, it
// refuses (an error says why).
func NewApprover() *Approver { return &Approver{pending: map[string]*request{}} }

// ErrNoBot is an approval asked while no bot runs.
var ErrNoBot = errors.New("telegram: the bot is not running, so nobody can approve")

func (a *Approver) bind(b *Bot) {
	a.mu.Lock()
	a.bot = b
	a.mu.Unlock()
}

func (a *Approver) unbind(b *Bot) {
	a.mu.Lock()
	if a.bot == b {
		a.bot = nil
	}
	a.mu.Unlock()
}

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
	a.mu.Lock()
	b := a.bot
	a.mu.Unlock()
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
	id, err := newID()
	if err != nil {
		return false, err
	}
	timeout := b.cfg.ApprovalTimeout
	r := &request{answer: make(chan bool, 1), expires: time.Now().Add(timeout), text: question(in, why, timeout)}
	a.mu.Lock()
	a.pending[id] = r
	a.mu.Unlock()
	kb := &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{
		{Text: "Approve", CallbackData: "ap:" + id + ":y"},
		{Text: "Reject", CallbackData: "ap:" + id + ":n"},
	}}}
	for _, c := range chats {
		m, err := b.sendText(ctx, c, r.text, kb)
		if err != nil {
			b.sendFailed(c, err)
			continue
		}
		a.mu.Lock()
		r.msgs = append(r.msgs, sent{c, m.ID})
		a.mu.Unlock()
	}
	if len(r.msgs) == 0 {
		a.claim(id, "expired")
		return false, errors.New("telegram: could not show the approval to anyone")
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ok := <-r.answer:
		return ok, nil
	case <-timer.C:
		if !a.claim(id, "expired") {
			return <-r.answer, nil // an owner pressed just in time
		}
		a.show(context.WithoutCancel(ctx), b, id, "expired", "")
		return false, nil
	case <-ctx.Done():
		a.settle(context.WithoutCancel(ctx), b, id, "expired", "")
		return false, ctx.Err()
	}
}

// press answers a button press: every press is answered, only an owner's
// first one before expiry acts.
func (a *Approver) press(ctx context.Context, b *Bot, q *models.CallbackQuery) {
	reply := func(text string) {
		if _, err := b.api.AnswerCallbackQuery(ctx, &tg.AnswerCallbackQueryParams{CallbackQueryID: q.ID, Text: text}); err != nil {
			b.sendFailed(0, err)
		}
	}
	rest, ok := strings.CutPrefix(q.Data, "ap:")
	id, verdict, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || (verdict != "y" && verdict != "n") {
		reply("This button does nothing.")
		return
	}
	a.mu.Lock()
	r, known := a.pending[id]
	state := ""
	if known {
		state = r.state
		if state == "" && time.Now().After(r.expires) {
			state = "expired"
		}
	}
	a.mu.Unlock()
	switch {
	case !known:
		reply("This request has expired; nothing was done.")
		return
	case !b.owner(q.From.ID):
		reply("Only an owner can approve or reject this.")
		return
	case state == "expired":
		reply("This request has expired; nothing was done.")
		return
	case state != "":
		reply("Already " + state + ".")
		return
	}
	outcome := "approved"
	if verdict == "n" {
		outcome = "rejected"
	}
	if !a.claim(id, outcome) {
		reply("Already answered.")
		return
	}
	reply(capitalize(outcome) + ".")
	a.show(ctx, b, id, outcome, who(q.From))
}

// settle closes request id with state unless it is closed already, and
// shows how it ended.
func (a *Approver) settle(ctx context.Context, b *Bot, id, state, by string) {
	if a.claim(id, state) {
		a.show(ctx, b, id, state, by)
	}
}

// claim closes request id once with state, handing an owner's verdict to
// the waiting Approve; it reports whether this call was the one that did.
func (a *Approver) claim(id, state string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.pending[id]
	if !ok || r.state != "" {
		return false
	}
	r.state = state
	if state != "expired" {
		r.answer <- state == "approved"
	}
	// Kept a while, so a late press hears what happened rather than
	// nothing; then forgotten.
	time.AfterFunc(10*time.Minute, func() {
		a.mu.Lock()
		delete(a.pending, id)
		a.mu.Unlock()
	})
	return true
}

// show edits the request's keyboards away, saying how it ended.
func (a *Approver) show(ctx context.Context, b *Bot, id, state, by string) {
	a.mu.Lock()
	r := a.pending[id]
	var msgs []sent
	text := ""
	if r != nil {
		msgs, text = append([]sent(nil), r.msgs...), r.text
	}
	a.mu.Unlock()
	line := "Expired: nothing was done."
	switch state {
	case "approved":
		line = "Approved by " + by + "."
	case "rejected":
		line = "Rejected by " + by + "."
	}
	for _, m := range msgs {
		err := b.editText(ctx, m.chat, m.id, text+"\n\n"+line, &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{}})
		if err != nil {
			b.sendFailed(m.chat, err)
		}
	}
}

// question is the approval's text: what, why, until when.
func question(in policies.Intent, why []string, timeout time.Duration) string {
	var s strings.Builder
	fmt.Fprintf(&s, "The policy asks an owner to confirm this %s:\n", in.Kind())
	if h := headline(in); h != "" {
		s.WriteString(h + "\n")
	}
	s.WriteString("Exactly: " + describe(in) + "\n")
	if len(why) > 0 {
		s.WriteString("Because: " + strings.Join(why, "; ") + "\n")
	}
	fmt.Fprintf(&s, "Expires in %s.", timeout.Round(time.Second))
	return cutText(s.String(), maxText-200) // room for how it ended
}

// headline is the intent in words, for the kinds people approve most.
func headline(in policies.Intent) string {
	switch v := in.(type) {
	case policies.Transfer:
		return "Send " + amount(v.Amount, v.Token) + " to " + v.To
	case *policies.Transfer:
		return headline(*v)
	case policies.Swap:
		return "Swap " + amount(v.AmountIn, v.TokenIn) + " for at least " + amount(v.MinOut, v.TokenOut) + " on " + v.Venue
	case *policies.Swap:
		return headline(*v)
	}
	return ""
}

func amount(v *big.Int, t policies.Token) string {
	sym := t.Symbol
	if sym == "" {
		sym = t.Address
	}
	return policies.FormatUnits(v, t.Decimals) + " " + sym
}

// describe is the intent exactly, as its canonical JSON.
func describe(in policies.Intent) string {
	raw, err := policies.Marshal(in)
	if err != nil {
		return string(in.Kind())
	}
	return string(raw)
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

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("telegram: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
