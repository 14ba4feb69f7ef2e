package telegram

import (
	"context"
	"sync"
	"time"

	"github.com/go-telegram/bot/models"
)

// DefaultUserRate is how many messages (and edits) one user may send the
// bot in a minute unless configured.
const DefaultUserRate = 20

// floodWindow is the span a user's rate is counted over.
const floodWindow = time.Minute

// maxTracked is how many users' windows are kept before the ended ones are
// swept: a crowd of one-message users costs a sweep, not memory forever.
const maxTracked = 10000

// flood limits the updates each user may send per window: past the limit
// the user is told once to slow down and the rest is ignored until the
// window ends. One user's flood thus costs neither the other users their
// answers nor the bot its queues.
type flood struct {
	mu    sync.Mutex
	rate  int
	users map[int64]*window
}

// window is one user's count in the current window.
type window struct {
	start  time.Time
	n      int
	warned bool
}

// verdict is what to do with one update.
type verdict int

const (
	allow  verdict = iota
	warn           // the first update past the limit: say "slow down" once
	ignore         // past the limit and already told
)

func newFlood(rate int) *flood {
	if rate <= 0 {
		rate = DefaultUserRate
	}
	return &flood{rate: rate, users: map[int64]*window{}}
}

// check counts one update from user at now.
func (f *flood) check(user int64, now time.Time) verdict {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.users[user]
	if w == nil || now.Sub(w.start) >= floodWindow {
		if w == nil && len(f.users) >= maxTracked {
			f.sweepLocked(now)
		}
		w = &window{start: now}
		f.users[user] = w
	}
	w.n++
	switch {
	case w.n <= f.rate:
		return allow
	case !w.warned:
		w.warned = true
		return warn
	}
	return ignore
}

// sweepLocked forgets the users whose window has ended.
func (f *flood) sweepLocked(now time.Time) {
	for id, w := range f.users {
		if now.Sub(w.start) >= floodWindow {
			delete(f.users, id)
		}
	}
}

// slowDown is the one answer to a flood.
const slowDown = "Slow down: you sent more than the bot takes in a minute. The rest of what you send this minute is ignored; try again in a minute."

// paced reports whether m may be handled under its sender's rate; the
// first message past it is answered with slowDown. Only messages for the
// bot count: a group's chatter the bot does not answer costs nobody.
func (b *Bot) paced(ctx context.Context, m *models.Message) bool {
	if m.From == nil || m.From.IsBot {
		return true // onMessage drops these
	}
	if _, addressed := b.addressed(m); !addressed {
		return true
	}
	switch b.flood.check(m.From.ID, time.Now()) {
	case allow:
		return true
	case warn:
		b.log.Warn("telegram: a user is sending faster than allowed; ignoring them for the rest of the minute", "user", m.From.ID, "chat", m.Chat.ID)
		chat := m.Chat.ID
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.say(ctx, chat, slowDown)
		}()
	}
	return false
}
