package tgtest

import (
	"fmt"
	"math"
	"time"
)

// Limits are Telegram's flood limits for messages (sends and edits; chat actions, callback
// answers and deletions do not count). A zero count turns that limit off. Windows are sliding.
type Limits struct {
	Global         int // messages across all chats per GlobalWindow (Telegram: 30 per second)
	GlobalWindow   time.Duration
	PerChat        int // messages in one chat per PerChatWindow (Telegram: 1 per second)
	PerChatWindow  time.Duration
	PerGroup       int // messages in one group or supergroup per PerGroupWindow (Telegram: 20 per minute)
	PerGroupWindow time.Duration
}

// DefaultLimits are the limits Telegram documents in its bot FAQ.
func DefaultLimits() Limits {
	return Limits{
		Global: 30, GlobalWindow: time.Second,
		PerChat: 1, PerChatWindow: time.Second,
		PerGroup: 20, PerGroupWindow: time.Minute,
	}
}

// NoLimits turns flood control off.
func NoLimits() Limits { return Limits{} }

// window is one sliding limit: at most max hits in any span, each timed when its request
// reached the server. A hit stops counting exactly span after it, so messages exactly a
// second apart keep "one per second"; bots/sched counts the same way, from the moment the
// answer left here, which is never before the server timed the request.
type window struct {
	max  int
	span time.Duration
	hits []time.Time
}

// wait is how long until one more hit fits, or 0 if it fits now.
func (w *window) wait(now time.Time) time.Duration {
	if w.max <= 0 {
		return 0
	}
	cut := 0
	for cut < len(w.hits) && now.Sub(w.hits[cut]) >= w.span {
		cut++
	}
	w.hits = w.hits[cut:]
	if len(w.hits) < w.max {
		return 0
	}
	return w.hits[len(w.hits)-w.max].Add(w.span).Sub(now)
}

type limiter struct {
	l      Limits
	global window
	chats  map[int64]*window
	groups map[int64]*window
}

func newLimiter(l Limits) *limiter {
	return &limiter{l: l, global: window{max: l.Global, span: l.GlobalWindow}, chats: map[int64]*window{}, groups: map[int64]*window{}}
}

// take records one message for chat if every window has room; otherwise it returns the 429 a
// Telegram server would send, with retry_after rounded up to whole seconds as Telegram does.
func (lm *limiter) take(chat Chat, now time.Time) *apiError {
	cw := lm.chats[chat.ID]
	if cw == nil {
		cw = &window{max: lm.l.PerChat, span: lm.l.PerChatWindow}
		lm.chats[chat.ID] = cw
	}
	ws := []*window{&lm.global, cw}
	if chat.Type == "group" || chat.Type == "supergroup" {
		gw := lm.groups[chat.ID]
		if gw == nil {
			gw = &window{max: lm.l.PerGroup, span: lm.l.PerGroupWindow}
			lm.groups[chat.ID] = gw
		}
		ws = append(ws, gw)
	}
	var longest time.Duration
	for _, w := range ws {
		longest = max(longest, w.wait(now))
	}
	if longest > 0 {
		secs := int(math.Ceil(longest.Seconds()))
		return &apiError{code: 429, desc: fmt.Sprintf("Too Many Requests: retry after %d", secs), retryAfter: secs}
	}
	for _, w := range ws {
		if w.max > 0 {
			w.hits = append(w.hits, now)
		}
	}
	return nil
}
