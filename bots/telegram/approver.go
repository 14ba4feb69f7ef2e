package telegram

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

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
// The question lives in the database (memory.BotState's approvals), not
// in this process: with replicas behind a load balancer the press may
// reach another replica than the one waiting, and the database's
// conditional update lets exactly one press settle it.
type Approver struct {
	mu      sync.Mutex
	bot     *Bot
	waiting map[string]chan struct{} // questions waited on here: poked when settled here
}

type sent struct {
	Chat int64 `json:"chat"`
	ID   int   `json:"id"`
}

// NewApprover returns an approver with no bot yet: until one runs, it
// refuses (an error says why).
func NewApprover() *Approver { return &Approver{waiting: map[string]chan struct{}{}} }

// ErrNoBot is an approval asked while no bot runs.
var ErrNoBot = errors.New("telegram: the bot is not running, so nobody can approve")

// settledPoll is how often a waiting Approve looks for a press another
// replica settled.
const settledPoll = 250 * time.Millisecond

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
	st := b.rt.Store().BotState()
	q := memory.BotApproval{ID: id, Bot: b.id, Question: question(in, why, timeout), Expires: time.Now().Add(timeout)}
	if err := st.PutApproval(ctx, q); err != nil {
		return false, fmt.Errorf("telegram: could not record the approval, so it was not asked: %w", err)
	}
	poke := make(chan struct{}, 1)
	a.mu.Lock()
	a.waiting[id] = poke
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.waiting, id)
		a.mu.Unlock()
	}()
	if !a.ask(ctx, b, q, chats) {
		a.close(context.WithoutCancel(ctx), b, id)
		return false, errors.New("telegram: could not show the approval to anyone")
	}
	return a.wait(ctx, b, id, timeout, poke)
}

// ask shows question q with its keyboard in chats and records where; false:
// it reached nobody.
func (a *Approver) ask(ctx context.Context, b *Bot, q memory.BotApproval, chats []int64) bool {
	kb := &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{
		{Text: "Approve", CallbackData: "ap:" + q.ID + ":y"},
		{Text: "Reject", CallbackData: "ap:" + q.ID + ":n"},
	}}}
	var shown []sent
	for _, c := range chats {
		m, err := b.sendText(ctx, c, q.Question, kb)
		if err != nil {
			b.sendFailed(c, err)
			continue
		}
		shown = append(shown, sent{c, m.ID})
	}
	if len(shown) == 0 {
		return false
	}
	raw, _ := json.Marshal(shown)
	if err := b.rt.Store().BotState().SetShown(ctx, q.ID, string(raw)); err != nil {
		// The keyboards stay after the question closes; the presses still
		// act once.
		b.log.Warn("telegram: could not record where an approval was shown", "error", err.Error())
	}
	return true
}

// wait waits for question id to be settled: by a press here (poke), by one
// on another replica (seen by polling), by the timeout or by ctx.
func (a *Approver) wait(ctx context.Context, b *Bot, id string, timeout time.Duration, poke chan struct{}) (bool, error) {
	st := b.rt.Store().BotState()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	tick := time.NewTicker(settledPoll)
	defer tick.Stop()
	for expired := false; ; {
		select {
		case <-poke:
		case <-tick.C:
		case <-timer.C:
			expired = true
			a.close(context.WithoutCancel(ctx), b, id)
		case <-ctx.Done():
			a.close(context.WithoutCancel(ctx), b, id)
			return false, ctx.Err()
		}
		q, ok, err := st.Approval(context.WithoutCancel(ctx), id)
		if err != nil || !ok {
			b.log.Warn("telegram: could not read an approval; it counts as declined", "error", fmt.Sprint(err))
			return false, nil
		}
		if q.State != "" || expired {
			return q.State == "approved", nil
		}
	}
}

// close settles question id as expired unless an owner settled it first,
// and shows it.
func (a *Approver) close(ctx context.Context, b *Bot, id string) {
	ok, err := b.rt.Store().BotState().Settle(ctx, id, "expired", "")
	if err != nil {
		b.log.Warn("telegram: could not close an approval", "error", err.Error())
		return
	}
	if ok {
		a.show(ctx, b, id)
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
	st := b.rt.Store().BotState()
	r, known, err := st.Approval(ctx, id)
	switch {
	case err != nil:
		reply("Could not read this request; nothing was done. Press again in a moment.")
		return
	case !known || r.Bot != b.id:
		reply("This request has expired; nothing was done.")
		return
	case !b.owner(q.From.ID):
		reply("Only an owner can approve or reject this.")
		return
	case r.State == "expired" || r.State == "" && time.Now().After(r.Expires):
		reply("This request has expired; nothing was done.")
		return
	case r.State != "":
		reply("Already " + r.State + ".")
		return
	}
	outcome := "approved"
	if verdict == "n" {
		outcome = "rejected"
	}
	settled, err := st.Settle(ctx, id, outcome, who(q.From))
	if err != nil {
		reply("Could not record the answer; nothing was done. Press again in a moment.")
		return
	}
	if !settled {
		if r, _, err := st.Approval(ctx, id); err == nil && r.State != "" && r.State != "expired" {
			reply("Already " + r.State + ".")
		} else {
			reply("This request has expired; nothing was done.")
		}
		return
	}
	reply(capitalize(outcome) + ".")
	a.mu.Lock()
	if poke, ok := a.waiting[id]; ok {
		select {
		case poke <- struct{}{}:
		default:
		}
	}
	a.mu.Unlock()
	a.show(ctx, b, id)
}

// show edits question id's keyboards away, saying how it ended.
func (a *Approver) show(ctx context.Context, b *Bot, id string) {
	r, ok, err := b.rt.Store().BotState().Approval(ctx, id)
	if err != nil || !ok {
		return
	}
	var shown []sent
	_ = json.Unmarshal([]byte(r.Shown), &shown)
	line := "Expired: nothing was done."
	switch r.State {
	case "approved":
		line = "Approved by " + r.By + "."
	case "rejected":
		line = "Rejected by " + r.By + "."
	}
	for _, m := range shown {
		err := b.editText(ctx, m.Chat, m.ID, r.Question+"\n\n"+line, &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{}})
		if err != nil {
			b.sendFailed(m.Chat, err)
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
