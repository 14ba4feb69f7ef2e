// Package schedtest provides a fake clock for driving a sched.Scheduler in tests
// without sleeping.
package schedtest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/mandatehq/mandate/bots/sched"
)

// Clock is a sched.Clock whose time moves only when told to.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*timer
	created chan struct{}
}

// NewClock starts the fake time at start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start, created: make(chan struct{}, 1)}
}

type timer struct {
	c     *Clock
	at    time.Time
	ch    chan time.Time
	fired bool
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// Now returns the fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the fake time reaches now+d.
func (c *Clock) NewTimer(d time.Duration) sched.Timer {
	c.mu.Lock()
	t := &timer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.ch <- c.now
		c.mu.Unlock()
		return t
	}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	select {
	case c.created <- struct{}{}:
	default:
	}
	return t
}

// Advance moves the fake time forward by d and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advanceLocked(c.now.Add(d))
}

func (c *Clock) advanceLocked(to time.Time) {
	if to.After(c.now) {
		c.now = to
	}
	sort.Slice(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
	n := 0
	for _, t := range c.timers {
		if t.at.After(c.now) {
			break
		}
		t.ch <- c.now
		n++
	}
	c.timers = append(c.timers[:0], c.timers[n:]...)
}

// AdvanceToNext moves the fake time to the earliest pending timer and fires it. It
// reports false when no timer is pending.
func (c *Clock) AdvanceToNext() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return false
	}
	earliest := c.timers[0].at
	for _, t := range c.timers[1:] {
		if t.at.Before(earliest) {
			earliest = t.at
		}
	}
	c.advanceLocked(earliest)
	return true
}

// Run advances the fake time to each timer as soon as one is set, until ctx ends: time
// passes only while the scheduler is waiting for it, so a test sees the schedule the
// limits dictate at the speed of the CPU. settle, if not nil, is called before each step
// and should block until the sends in flight have returned, so time does not jump
// while one is still running.
func (c *Clock) Run(ctx context.Context, settle func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.created:
			if settle != nil {
				settle()
			}
			c.AdvanceToNext()
		}
	}
}
