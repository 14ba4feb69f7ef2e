// Package flood limits how many messages each person may send a chat bot in a minute.
//
// Past the limit the person is told once to slow down and the rest of what they send that
// minute is ignored, so that one person's flood costs neither the others their answers nor
// the bot its queues. The Telegram and Discord bots apply the same rule over their own
// kinds of user id, hence the type parameter.
package flood

import (
	"sync"
	"time"
)

// DefaultRate is how many messages (and edits, and commands) one person may send in a
// Window unless configured.
const DefaultRate = 20

// Window is the span a person's rate is counted over.
const Window = time.Minute

// maxTracked is how many people's windows are kept before the ended ones are swept: a
// crowd of one-message people costs a sweep, not memory forever.
const maxTracked = 10000

// SlowDown is the one answer to a flood.
const SlowDown = "Slow down: you sent more than the bot takes in a minute. The rest of what you send this minute is ignored; try again in a minute."

// Verdict is what to do with one message.
type Verdict int

const (
	Allow  Verdict = iota
	Warn           // the first message past the limit: say SlowDown once
	Ignore         // past the limit and already told
)

// Limiter counts each person's messages in their current window.
type Limiter[K comparable] struct {
	mu    sync.Mutex
	rate  int
	users map[K]*window
}

// window is one person's count in their current window.
type window struct {
	start  time.Time
	n      int
	warned bool
}

// New returns a limiter of rate messages a Window per person; rate <= 0 is DefaultRate.
func New[K comparable](rate int) *Limiter[K] {
	if rate <= 0 {
		rate = DefaultRate
	}
	return &Limiter[K]{rate: rate, users: map[K]*window{}}
}

// Check counts one message from user at now and says what to do with it.
func (f *Limiter[K]) Check(user K, now time.Time) Verdict {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.users[user]
	if w == nil || now.Sub(w.start) >= Window {
		if w == nil && len(f.users) >= maxTracked {
			f.sweepLocked(now)
		}
		w = &window{start: now}
		f.users[user] = w
	}
	w.n++
	switch {
	case w.n <= f.rate:
		return Allow
	case !w.warned:
		w.warned = true
		return Warn
	}
	return Ignore
}

// sweepLocked forgets the people whose window has ended.
func (f *Limiter[K]) sweepLocked(now time.Time) {
	for id, w := range f.users {
		if now.Sub(w.start) >= Window {
			delete(f.users, id)
		}
	}
}

// tracked is how many people's windows are kept.
func (f *Limiter[K]) tracked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.users)
}
