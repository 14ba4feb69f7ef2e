// Package sched sends chat messages within a platform's rate limits.
//
// Chat platforms answer bursts with 429s and, for repeat offenders, longer bans. The
// scheduler keeps a bot under the limits instead of reacting to them: a global rate, a
// per-chat rate and a per-group rate, each chat's messages in the order they were
// submitted, and chats served round-robin so one busy chat cannot starve the rest. When
// the platform still says "retry after", that chat (or every chat, for a global limit)
// waits that long and the message is sent again; it is never dropped.
//
// The platform times a message when it arrives, which the bot cannot see, so a send
// counts against the limits from its grant until a full period after its answer came
// back: a bot paced by the scheduler stays within the limits as the server measures
// them, whatever the requests' latencies (see window).
package sched

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Limits are the rates a platform tolerates. A zero field means no limit of that kind.
type Limits struct {
	// Global is messages per second across all chats, spread evenly over the second.
	Global int
	// PerChatPerSecond is messages per second to one chat, spread evenly.
	PerChatPerSecond int
	// PerGroupPerMinute is, for group chats only, at most this many messages in any
	// 60-second span, on top of PerChatPerSecond.
	PerGroupPerMinute int
}

// TelegramLimits are the Bot API's documented limits.
var TelegramLimits = Limits{Global: 30, PerChatPerSecond: 1, PerGroupPerMinute: 20}

// DiscordLimits are Discord's global limit and a conservative per-channel rate (Discord
// publishes per-route limits in headers; its 429s carry retry_after, which the
// scheduler honours).
var DiscordLimits = Limits{Global: 50, PerChatPerSecond: 1}

// RetryAfter is implemented by errors that mean "rate limited, try again after this
// long". The Telegram and Discord adapters map their 429 answers to it; RateLimitError
// is a ready-made implementation.
type RetryAfter interface {
	RetryAfter() time.Duration
}

// GlobalLimit is optionally implemented next to RetryAfter when the limit applies to the
// whole bot rather than one chat (Discord's "global": true).
type GlobalLimit interface {
	GlobalLimit() bool
}

// RateLimitError is a platform's "too many requests" answer.
type RateLimitError struct {
	Wait   time.Duration
	Global bool
	Err    error // the client library's error, if any
}

func (e *RateLimitError) Error() string {
	scope := "chat"
	if e.Global {
		scope = "global"
	}
	if e.Err != nil {
		return fmt.Sprintf("rate limited (%s), retry after %s: %v", scope, e.Wait, e.Err)
	}
	return fmt.Sprintf("rate limited (%s), retry after %s", scope, e.Wait)
}

func (e *RateLimitError) Unwrap() error             { return e.Err }
func (e *RateLimitError) RetryAfter() time.Duration { return e.Wait }
func (e *RateLimitError) GlobalLimit() bool         { return e.Global }

// ErrClosed is returned for messages submitted after Close, or still queued when Close
// gave up waiting.
var ErrClosed = errors.New("sched: scheduler closed")

// DefaultRetryAfter is used when a rate-limit error carries no usable wait.
const DefaultRetryAfter = time.Second

// Event describes something the scheduler did, for metrics and tests.
type Event struct {
	Kind    EventKind
	Chat    string
	At      time.Time
	Attempt int           // 1 for the first try of a message
	Wait    time.Duration // for RateLimited
	Global  bool          // for RateLimited
}

// EventKind says what an Event records.
type EventKind int

const (
	// Granted: a message was handed to its send function.
	Granted EventKind = iota + 1
	// RateLimited: a send returned a RetryAfter error; the message will be retried.
	RateLimited
	// Finished: a send returned anything else; its result went to the caller.
	Finished
)

// Option configures a Scheduler.
type Option func(*Scheduler)

// WithClock replaces the wall clock, for tests.
func WithClock(c Clock) Option { return func(s *Scheduler) { s.clock = c } }

// WithObserver calls fn for every Event. fn runs with the scheduler's lock held, so it
// must be quick and must not call back into the scheduler.
func WithObserver(fn func(Event)) Option { return func(s *Scheduler) { s.observe = fn } }

// Scheduler queues sends per chat and releases them within Limits. It is safe for
// concurrent use.
type Scheduler struct {
	limits  Limits
	clock   Clock
	observe func(Event)

	chatSpacing time.Duration

	mu          sync.Mutex
	chats       map[string]*chat
	ready       *list.List // chats with queued messages, in round-robin order
	pace        *pacer     // spreads the global rate over the second
	global      *window    // keeps it
	globalPause time.Time
	inflight    int
	closing     bool
	lastSweep   time.Time

	wake    chan struct{}
	stopped chan struct{}
	abort   context.Context // cancelled when Close gives up; ends in-flight sends
	cancel  context.CancelFunc
}

type chat struct {
	key     string
	group   bool
	queue   []*job
	elem    *list.Element // position in ready, nil when not there
	busy    bool          // one send in flight keeps the chat's order
	pause   time.Time     // from a 429
	pace    *pacer        // spreads the per-chat rate, when it is above one
	perChat *window
	perGrp  *window
}

type jobState int

const (
	queued jobState = iota
	running
	finished
)

type job struct {
	ctx      context.Context
	fn       func(context.Context) error
	result   chan error
	state    jobState
	attempts int
	stop     func() bool // unregisters the context.AfterFunc
	holds    [3]hold     // the window slots its send in flight holds: global, chat, group
}

// hold is a send's slot in one window, answered when the send returns.
type hold struct {
	w *window
	i int
}

// New starts a scheduler; Close stops it.
func New(l Limits, opts ...Option) *Scheduler {
	s := &Scheduler{
		limits:  l,
		clock:   realClock{},
		chats:   make(map[string]*chat),
		ready:   list.New(),
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.abort, s.cancel = context.WithCancel(context.Background())
	s.global = newWindow(l.Global, time.Second)
	if l.Global > 1 {
		s.pace = newPacer(spacing(l.Global, time.Second))
	}
	s.chatSpacing = spacing(l.PerChatPerSecond, time.Second)
	s.lastSweep = s.clock.Now()
	go s.run()
	return s
}

// Do queues fn as the next message for chatKey and blocks until it has been sent (fn
// returned nil), failed with an error other than a rate limit, or ctx ended while it was
// still queued. fn runs on a goroutine of its own with a context that ends with ctx or
// when Close gives up; rate-limit errors are retried after the wait they carry.
func (s *Scheduler) Do(ctx context.Context, chatKey string, isGroup bool, fn func(context.Context) error) error {
	return <-s.Enqueue(ctx, chatKey, isGroup, fn)
}

// Enqueue is Do without the wait: the message takes its place in chatKey's queue before
// Enqueue returns, so consecutive calls from one goroutine keep their order. The channel
// receives exactly one result.
func (s *Scheduler) Enqueue(ctx context.Context, chatKey string, isGroup bool, fn func(context.Context) error) <-chan error {
	j := &job{ctx: ctx, fn: fn, result: make(chan error, 1)}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		j.result <- ErrClosed
		return j.result
	}
	if err := ctx.Err(); err != nil {
		s.mu.Unlock()
		j.result <- err
		return j.result
	}
	c := s.chats[chatKey]
	if c == nil {
		c = &chat{key: chatKey, perChat: newWindow(s.limits.PerChatPerSecond, time.Second)}
		if s.limits.PerChatPerSecond > 1 {
			c.pace = newPacer(s.chatSpacing)
		}
		s.chats[chatKey] = c
	}
	if isGroup && !c.group {
		c.group = true
		c.perGrp = newWindow(s.limits.PerGroupPerMinute, time.Minute)
	}
	c.queue = append(c.queue, j)
	if c.elem == nil {
		c.elem = s.ready.PushBack(c)
	}
	j.stop = context.AfterFunc(ctx, func() { s.cancelQueued(j) })
	s.mu.Unlock()
	s.poke()
	return j.result
}

// cancelQueued answers a message whose context ended before it was sent. A message
// already handed to its send function is left to that function, which sees the same
// context.
func (s *Scheduler) cancelQueued(j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.state != queued {
		return
	}
	j.state = finished // the dispatcher skips it when it reaches the head
	j.result <- j.ctx.Err()
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Close stops taking messages and waits for the queued ones to be sent. If ctx ends
// first, messages still queued fail with ErrClosed, sends in flight see their context
// cancelled, and Close returns ctx's error once they have returned.
func (s *Scheduler) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	s.mu.Unlock()
	s.poke()
	select {
	case <-s.stopped:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for e := s.ready.Front(); e != nil; e = e.Next() {
		c := e.Value.(*chat)
		for _, j := range c.queue {
			if j.state == queued {
				j.state = finished
				j.stop()
				j.result <- ErrClosed
			}
		}
		c.queue = nil
		c.elem = nil
	}
	s.ready.Init()
	s.mu.Unlock()
	s.cancel()
	s.poke()
	<-s.stopped
	return ctx.Err()
}

func (s *Scheduler) run() {
	defer close(s.stopped)
	defer s.cancel()
	for {
		s.mu.Lock()
		wait, done := s.dispatchLocked(s.clock.Now())
		s.mu.Unlock()
		if done {
			return
		}
		var timer Timer
		var tick <-chan time.Time
		if wait > 0 {
			timer = s.clock.NewTimer(wait)
			tick = timer.C()
		}
		select {
		case <-s.wake:
		case <-tick:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// dispatchLocked hands out every send allowed at now. It returns how long until the next
// send may be allowed (0: nothing to wait for but a new message or a finished send), and
// whether the scheduler has closed and drained.
func (s *Scheduler) dispatchLocked(now time.Time) (wait time.Duration, done bool) {
	s.sweepLocked(now)
	for {
		if s.closing && s.ready.Len() == 0 && s.inflight == 0 {
			return 0, true
		}
		if s.ready.Len() == 0 {
			return 0, false
		}
		gate, ok := s.global.next()
		if !ok {
			return 0, false // the next answer frees a slot and pokes
		}
		gate = later(s.globalPause, later(gate, s.pace.next()))
		if gate.After(now) {
			return gate.Sub(now), false
		}
		var earliest time.Time
		granted := false
		for e := s.ready.Front(); e != nil; {
			next := e.Next()
			c := e.Value.(*chat)
			c.dropFinished()
			if len(c.queue) == 0 {
				s.ready.Remove(e)
				c.elem = nil
				e = next
				continue
			}
			if c.busy {
				e = next
				continue
			}
			at, ok := c.next()
			if !ok {
				e = next // waits for an answer, which pokes
				continue
			}
			at = later(c.pause, at)
			if at.After(now) {
				if earliest.IsZero() || at.Before(earliest) {
					earliest = at
				}
				e = next
				continue
			}
			s.grantLocked(c, now)
			c.dropFinished()
			if len(c.queue) == 0 {
				s.ready.Remove(e)
				c.elem = nil
			} else {
				s.ready.MoveToBack(e)
			}
			granted = true
			break
		}
		if !granted {
			if s.closing && s.ready.Len() == 0 && s.inflight == 0 {
				return 0, true
			}
			if earliest.IsZero() {
				return 0, false
			}
			return earliest.Sub(now), false
		}
	}
}

// next is when the chat's own limits next allow a send; ok false: not until a send in
// flight is answered.
func (c *chat) next() (at time.Time, ok bool) {
	at = c.pace.next()
	for _, w := range []*window{c.perChat, c.perGrp} {
		t, ok := w.next()
		if !ok {
			return time.Time{}, false
		}
		at = later(at, t)
	}
	return at, true
}

func (c *chat) dropFinished() {
	i := 0
	for i < len(c.queue) && c.queue[i].state == finished {
		c.queue[i] = nil
		i++
	}
	c.queue = c.queue[i:]
}

func (s *Scheduler) grantLocked(c *chat, now time.Time) {
	j := c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:]
	j.state = running
	j.attempts++
	c.busy = true
	s.inflight++
	s.pace.record(now)
	c.pace.record(now)
	for i, w := range [...]*window{s.global, c.perChat, c.perGrp} {
		j.holds[i] = hold{w, w.take(now)}
	}
	if s.observe != nil {
		s.observe(Event{Kind: Granted, Chat: c.key, At: now, Attempt: j.attempts})
	}
	go s.send(c, j)
}

func (s *Scheduler) send(c *chat, j *job) {
	ctx, cancel := context.WithCancel(j.ctx)
	stop := context.AfterFunc(s.abort, cancel)
	err := call(ctx, j.fn)
	stop()
	cancel()
	s.finish(c, j, err)
}

// call runs fn, turning a panic into an error so one bad send cannot take the bot down
// or leave its chat blocked.
func call(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sched: send panicked: %v", r)
		}
	}()
	return fn(ctx)
}

func (s *Scheduler) finish(c *chat, j *job, err error) {
	s.mu.Lock()
	answered := s.clock.Now()
	for _, h := range j.holds {
		h.w.answered(h.i, answered)
	}
	c.busy = false
	s.inflight--
	var ra RetryAfter
	if err != nil && errors.As(err, &ra) && j.ctx.Err() == nil && s.abort.Err() == nil {
		wait := ra.RetryAfter()
		if wait <= 0 {
			wait = DefaultRetryAfter
		}
		global := false
		if g, ok := ra.(GlobalLimit); ok {
			global = g.GlobalLimit()
		}
		now := s.clock.Now()
		if global {
			s.globalPause = later(s.globalPause, now.Add(wait))
		} else {
			c.pause = later(c.pause, now.Add(wait))
		}
		if s.observe != nil {
			s.observe(Event{Kind: RateLimited, Chat: c.key, At: now, Attempt: j.attempts, Wait: wait, Global: global})
		}
		j.state = queued
		c.queue = append([]*job{j}, c.queue...)
		if c.elem == nil {
			c.elem = s.ready.PushFront(c)
		}
	} else {
		if s.observe != nil {
			s.observe(Event{Kind: Finished, Chat: c.key, At: s.clock.Now(), Attempt: j.attempts})
		}
		j.state = finished
		j.stop()
		j.result <- err
	}
	s.mu.Unlock()
	s.poke()
}

// sweepLocked forgets chats that have nothing queued and whose limits no longer
// constrain anything, at most once a minute, so the map does not grow with every chat
// the bot ever spoke to.
func (s *Scheduler) sweepLocked(now time.Time) {
	if now.Sub(s.lastSweep) < time.Minute {
		return
	}
	s.lastSweep = now
	for k, c := range s.chats {
		if c.elem == nil && !c.busy && len(c.queue) == 0 && !c.pause.After(now) &&
			c.pace.idle(now) && c.perChat.idle(now) && c.perGrp.idle(now) {
			delete(s.chats, k)
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
