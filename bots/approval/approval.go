// Package approval keeps the Approve / Reject questions a chat bot puts to its owners in
// the database (memory.BotState's approvals), not in the process that asked.
//
// A question outlives the process: after a restart, or on another replica behind a load
// balancer, a press is still checked against the question's rules (only an owner, only
// before it expires), and the database's conditional update lets exactly one press settle
// it, so a double press, or presses reaching two processes, act once. The process that
// asked waits for the settlement: at once when the press lands in the same process, by
// polling the database when it lands elsewhere.
//
// The Telegram and Discord bots share this; each shows the question and its buttons, and
// edits them away once it is settled, in its own way.
package approval

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mandatehq/mandate/bots/render"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
)

// How a question ends.
const (
	Approved = "approved"
	Rejected = "rejected"
	Expired  = "expired"
)

// settledPoll is how often a waiting Ask looks for a press another process settled.
const settledPoll = 250 * time.Millisecond

// Keep is how long a question is kept after it expired, answered or not: long enough to
// tell a late press what happened rather than nothing.
const Keep = 48 * time.Hour

// buttonPrefix starts the data of every approval button: "ap:<question>:y" or ":n".
const buttonPrefix = "ap:"

// Button is the data of question id's Approve (yes) or Reject button.
func Button(id string, yes bool) string {
	if yes {
		return buttonPrefix + id + ":y"
	}
	return buttonPrefix + id + ":n"
}

// parseButton reads a button's data; ok is false for data no approval button carries.
func parseButton(data string) (id, verdict string, ok bool) {
	rest, ok1 := strings.CutPrefix(data, buttonPrefix)
	id, v, ok2 := strings.Cut(rest, ":")
	if !ok1 || !ok2 || id == "" {
		return "", "", false
	}
	switch v {
	case "y":
		return id, Approved, true
	case "n":
		return id, Rejected, true
	}
	return "", "", false
}

// Question is an approval's text: what, why, until when, and then the intent exactly,
// last, so that cutting a long one to a platform's limit loses only the end of its JSON.
func Question(in policies.Intent, why []string, timeout time.Duration) string {
	var s strings.Builder
	fmt.Fprintf(&s, "The policy asks an owner to confirm this %s:\n", in.Kind())
	if h := render.Headline(in); h != "" {
		s.WriteString(h + "\n")
	}
	if len(why) > 0 {
		s.WriteString("Because: " + strings.Join(why, "; ") + "\n")
	}
	fmt.Fprintf(&s, "Expires in %s.\n", timeout.Round(time.Second))
	s.WriteString("Exactly: " + render.Exact(in))
	return s.String()
}

// Ending is the line that says how q ended, the settler's name passed through esc (the
// platform's escaping; the question's own text is stored escaped already).
func Ending(q memory.BotApproval, esc func(string) string) string {
	switch q.State {
	case Approved:
		return "Approved by " + esc(q.By) + "."
	case Rejected:
		return "Rejected by " + esc(q.By) + "."
	}
	return "Expired: nothing was done."
}

// Book is one bot's questions. P is where the bot showed one (a chat and a message id):
// kept with the question as JSON, so whichever process settles it can edit them all.
type Book[P any] struct {
	st  *memory.BotState
	bot string
	log *slog.Logger
	// closed edits the places q was shown to say how it ended (Ending) and removes its
	// buttons.
	closed func(ctx context.Context, q memory.BotApproval, where []P)

	mu      sync.Mutex
	waiting map[string]chan struct{} // questions waited on here: poked when settled here
}

// NewBook is bot's questions in st; closed shows a question's end where it was shown.
// bot is the bot's id in st (no colon), the same on every process that runs the bot.
func NewBook[P any](st *memory.BotState, bot string, log *slog.Logger, closed func(ctx context.Context, q memory.BotApproval, where []P)) *Book[P] {
	if log == nil {
		log = slog.Default()
	}
	return &Book[P]{st: st, bot: bot, log: log, closed: closed, waiting: map[string]chan struct{}{}}
}

// Ask stores a question of text, open for timeout, shows it with show (which returns the
// places it reached), and waits for an owner's press, the timeout or ctx. Expiry and ctx
// decline; a question shown nowhere is an error.
func (b *Book[P]) Ask(ctx context.Context, text string, timeout time.Duration, show func(ctx context.Context, id string) []P) (bool, error) {
	id, err := newID()
	if err != nil {
		return false, err
	}
	q := memory.BotApproval{ID: id, Bot: b.bot, Question: text, Expires: time.Now().Add(timeout)}
	if err := b.st.PutApproval(ctx, q); err != nil {
		return false, fmt.Errorf("approval: could not record the question, so it was not asked: %w", err)
	}
	poke := make(chan struct{}, 1)
	b.mu.Lock()
	b.waiting[id] = poke
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.waiting, id)
		b.mu.Unlock()
	}()
	where := show(ctx, id)
	if len(where) == 0 {
		b.close(context.WithoutCancel(ctx), id)
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, errors.New("approval: could not show the question to anyone")
	}
	raw, err := json.Marshal(where)
	if err == nil {
		err = b.st.SetShown(ctx, id, string(raw))
	}
	if err != nil {
		// The buttons stay after the question closes; the presses still act once.
		b.log.Warn("approval: could not record where a question was shown", "error", err.Error())
	} else if q, ok, err := b.st.Approval(ctx, id); err == nil && ok && q.State != "" {
		// Pressed before where it was shown was recorded: that press could not show
		// the end everywhere, so it is shown from here.
		b.closed(ctx, q, where)
	}
	return b.wait(ctx, id, timeout, poke)
}

// wait waits for question id to be settled: by a press here (poke), by one elsewhere
// (seen by polling), by the timeout or by ctx.
func (b *Book[P]) wait(ctx context.Context, id string, timeout time.Duration, poke chan struct{}) (bool, error) {
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
			b.close(context.WithoutCancel(ctx), id)
		case <-ctx.Done():
			b.close(context.WithoutCancel(ctx), id)
			return false, ctx.Err()
		}
		q, ok, err := b.st.Approval(context.WithoutCancel(ctx), id)
		if err != nil || !ok {
			b.log.Warn("approval: could not read a question; it counts as declined", "error", fmt.Sprint(err))
			return false, nil
		}
		if q.State != "" || expired {
			return q.State == Approved, nil
		}
	}
}

// close settles question id as expired unless an owner settled it first, and shows it.
func (b *Book[P]) close(ctx context.Context, id string) {
	ok, err := b.st.Settle(ctx, id, Expired, "")
	if err != nil {
		b.log.Warn("approval: could not close a question", "error", err.Error())
		return
	}
	if !ok {
		return
	}
	if q, found, err := b.st.Approval(ctx, id); err == nil && found {
		b.closed(ctx, q, b.Where(q))
	}
}

// Where are the places q was shown.
func (b *Book[P]) Where(q memory.BotApproval) []P {
	var where []P
	if err := json.Unmarshal([]byte(q.Shown), &where); err != nil {
		return nil
	}
	return where
}

// Press answers a press of a button with data by a person (owner: whether they are one;
// by: their name, recorded as who settled it). Every press gets an answer for the
// presser; only an owner's first press before expiry settles the question, and then
// settled is the question as it ended (nil otherwise). Showing the end where the
// question was shown is the caller's, since the press's own message may be edited
// through the press.
func (b *Book[P]) Press(ctx context.Context, data string, owner bool, by string) (answer string, settled *memory.BotApproval) {
	const gone = "This request has expired; nothing was done."
	id, verdict, ok := parseButton(data)
	if !ok {
		return "This button does nothing.", nil
	}
	q, known, err := b.st.Approval(ctx, id)
	switch {
	case err != nil:
		return "Could not read this request; nothing was done. Press again in a moment.", nil
	case !known || q.Bot != b.bot:
		return gone, nil
	case !owner:
		return "Only an owner can approve or reject this.", nil
	case q.State == Expired || q.State == "" && time.Now().After(q.Expires):
		return gone, nil
	case q.State != "":
		return "Already " + q.State + ".", nil
	}
	done, err := b.st.Settle(ctx, id, verdict, by)
	if err != nil {
		return "Could not record the answer; nothing was done. Press again in a moment.", nil
	}
	q, _, err = b.st.Approval(ctx, id)
	if !done {
		if err == nil && q.State != "" && q.State != Expired {
			return "Already " + q.State + ".", nil
		}
		return gone, nil
	}
	b.mu.Lock()
	if poke, ok := b.waiting[id]; ok {
		select {
		case poke <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
	if err != nil {
		// Settled, but not read back: the end is shown from what this press knows.
		q = memory.BotApproval{ID: id, Bot: b.bot, State: verdict, By: by}
	}
	return capitalize(verdict) + ".", &q
}

// Prune forgets the questions that expired more than Keep ago.
func (b *Book[P]) Prune(ctx context.Context) error {
	return b.st.Prune(ctx, b.bot, time.Now().Add(-Keep))
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
		return "", fmt.Errorf("approval: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Seat is the bot an approver asks through while one runs. An approver is made before
// the runtime (which takes it) and so before the bot (which takes the runtime): the bot
// takes the seat when it starts and leaves it when it stops, and an approval asked while
// the seat is empty is refused.
type Seat[B any] struct {
	mu  sync.Mutex
	bot *B
}

// Take seats b.
func (s *Seat[B]) Take(b *B) {
	s.mu.Lock()
	s.bot = b
	s.mu.Unlock()
}

// Leave empties the seat if b holds it; a bot that started since keeps it.
func (s *Seat[B]) Leave(b *B) {
	s.mu.Lock()
	if s.bot == b {
		s.bot = nil
	}
	s.mu.Unlock()
}

// Bot is the seated bot, or nil.
func (s *Seat[B]) Bot() *B {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bot
}
