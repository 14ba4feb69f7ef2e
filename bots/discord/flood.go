package discord

import (
	"sync"
	"time"
)

// DefaultUserRate is how many messages and commands one user may send the bot in a minute
// unless configured.
const DefaultUserRate = 20

// floodWindow is the span a user's rate is counted over.
const floodWindow = time.Minute

// maxTracked is how many users' windows are kept before the ended ones are swept.
const maxTracked = 10000

// flood limits what each user may send per window: past the limit the user is told once to
// slow down and the rest is ignored until the window ends. One user's flood thus costs
// neither the other users their answers nor the bot its queues. (The same rule as
// bots/telegram's, over Discord's string ids.)
type flood struct {
	mu    sync.Mutex
	rate  int
	users map[string]*window
}

type window struct {
	start  time.Time
	n      int
	warned bool
}

type verdict int

const (
	allow  verdict = iota
	warn           // the first one past the limit: say "slow down" once
	ignore         // past the limit and already told
)

func newFlood(rate int) *flood {
	if rate <= 0 {
		rate = DefaultUserRate
	}
	return &flood{rate: rate, users: map[string]*window{}}
}

// check counts one message from user at now.
func (f *flood) check(user string, now time.Time) verdict {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.users[user]
	if w == nil || now.Sub(w.start) >= floodWindow {
		if w == nil && len(f.users) >= maxTracked {
			for id, w := range f.users {
				if now.Sub(w.start) >= floodWindow {
					delete(f.users, id)
				}
			}
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

// slowDown is the one answer to a flood.
const slowDown = "Slow down: you sent more than the bot takes in a minute. The rest of what you send this minute is ignored; try again in a minute."

// paced reports whether a message or command from user in channel may be handled; the
// first one past the rate is answered with slowDown in the channel.
func (b *Bot) paced(channel, user string) bool {
	switch b.flood.check(user, time.Now()) {
	case allow:
		return true
	case warn:
		b.log.Warn("discord: a user is sending faster than allowed; ignoring them for the rest of the minute", "user", user, "channel", channel)
		b.queues.push(channel, func() { b.say(b.ctx, channel, slowDown) })
	}
	return false
}
