package sched

import "time"

// window lets at most n sends count against a limit of n per per. A send counts from
// the moment it is granted until per after its answer came back, not per after its
// grant: the platform times a message when the request reaches it, which is some
// moment between the two that the bot cannot see. Were the window measured from grants,
// a request slower on the way out than the next one (the first of a run opening its
// connection, a pause in the client) reaches the server less than per after it, and at
// a limit the scheduler runs at exactly (Telegram's 1 per second per chat) that is a
// 429 and a lost second. Measured from answers it cannot happen: the next request
// leaves at least per after the previous one's answer, which came after the server saw
// it. The price is one round trip per window, a fraction of a millisecond to a local
// server and a small part of a second to a remote one, against a retry_after of whole
// seconds. (A send whose context ends while its request is on the way may still reach
// the server after the scheduler saw it return; a bot cancels sends only when it stops.)
//
// A sliding window rather than a token bucket: a bucket refilled at n/per with burst n
// lets 2n through in the first period, which the chat platforms answer with 429s.
type window struct {
	per   time.Duration
	slots []slot
}

// slot is one send counted against a window.
type slot struct {
	used     bool
	inflight bool      // granted, no answer yet: counts until it has one
	done     time.Time // when its answer came back
}

func newWindow(n int, per time.Duration) *window {
	if n <= 0 || per <= 0 {
		return nil
	}
	return &window{per: per, slots: make([]slot, n)}
}

// next is the earliest time another send fits: the zero time means now, and ok false
// means not until a send in flight is answered.
func (w *window) next() (at time.Time, ok bool) {
	if w == nil {
		return time.Time{}, true
	}
	for i := range w.slots {
		s := &w.slots[i]
		switch {
		case !s.used:
			return time.Time{}, true
		case s.inflight:
		case !ok || s.done.Before(at):
			at, ok = s.done, true
		}
	}
	if !ok {
		return time.Time{}, false
	}
	return at.Add(w.per), true
}

// take counts a send granted at now in a slot next allowed, and returns the slot for
// answered. A window with no such slot is a bug in the caller.
func (w *window) take(now time.Time) int {
	if w == nil {
		return -1
	}
	best := -1
	for i := range w.slots {
		s := &w.slots[i]
		if !s.used {
			best = i
			break
		}
		if !s.inflight && s.done.Add(w.per).Compare(now) <= 0 && (best < 0 || s.done.Before(w.slots[best].done)) {
			best = i
		}
	}
	if best < 0 {
		panic("sched: a send granted without room in its window")
	}
	w.slots[best] = slot{used: true, inflight: true}
	return best
}

// answered starts the per that slot i's send still counts for.
func (w *window) answered(i int, now time.Time) {
	if w == nil || i < 0 {
		return
	}
	w.slots[i].inflight = false
	w.slots[i].done = now
}

// idle reports whether the window no longer constrains anything at now, so its owner
// can be forgotten without letting a later grant through early.
func (w *window) idle(now time.Time) bool {
	if w == nil {
		return true
	}
	for _, s := range w.slots {
		if s.used && (s.inflight || s.done.Add(w.per).After(now)) {
			return false
		}
	}
	return true
}

// pacer spreads sends evenly: one per every, counted from grants. It shapes the rate
// and is not what keeps a limit (a window is). A grant a little late, because the timer
// fired late or the dispatcher was busy, keeps the cadence it was due on; otherwise the
// lateness of every grant would add up and a saturated bot would run measurably below
// the rate (1.5% at 30/s here). After a pause longer than every the cadence starts
// afresh, so there is never a burst to catch up.
type pacer struct {
	every time.Duration
	due   time.Time // when the last grant was due
}

func newPacer(every time.Duration) *pacer {
	if every <= 0 {
		return nil
	}
	return &pacer{every: every}
}

func (p *pacer) next() time.Time {
	if p == nil || p.due.IsZero() {
		return time.Time{}
	}
	return p.due.Add(p.every)
}

func (p *pacer) idle(now time.Time) bool { return !p.next().After(now) }

func (p *pacer) record(now time.Time) {
	if p == nil {
		return
	}
	if due := p.next(); !due.IsZero() && now.Sub(due) < p.every {
		p.due = due
		return
	}
	p.due = now
}

// spacing is the smallest interval that keeps n grants per period within the limit,
// rounded up so n+1 grants never fit in one period.
func spacing(n int, period time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	return (period + time.Duration(n) - 1) / time.Duration(n)
}
