package sched_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/bots/sched"
	"github.com/mandatehq/mandate/bots/sched/schedtest"
)

var epoch = time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)

// recorder keeps the scheduler's events; grant times come from the scheduler itself, so
// they are exact even when a send goroutine runs after the fake clock moved on.
type recorder struct {
	mu       sync.Mutex
	idle     *sync.Cond
	events   []sched.Event
	inflight int
}

func newRecorder() *recorder {
	r := &recorder{}
	r.idle = sync.NewCond(&r.mu)
	return r
}

func (r *recorder) observe(e sched.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	if e.Kind == sched.Granted {
		r.inflight++
	} else {
		r.inflight--
		r.idle.Broadcast()
	}
	r.mu.Unlock()
}

// settle blocks until no send is in flight.
func (r *recorder) settle() {
	r.mu.Lock()
	for r.inflight > 0 {
		r.idle.Wait()
	}
	r.mu.Unlock()
}

func (r *recorder) grants() []sched.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sched.Event
	for _, e := range r.events {
		if e.Kind == sched.Granted {
			out = append(out, e)
		}
	}
	return out
}

func (r *recorder) count(kind sched.EventKind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// start returns a scheduler on a fake clock and a func that sets the clock running:
// from then on time jumps to each timer the scheduler sets, so a test sees the schedule
// the limits dictate without waiting for it. Tests queue their messages before calling
// it, so what they check does not depend on goroutine timing.
func start(t testing.TB, l sched.Limits) (*sched.Scheduler, func(), *recorder) {
	t.Helper()
	clk := schedtest.NewClock(epoch)
	rec := newRecorder()
	s := sched.New(l, sched.WithClock(clk), sched.WithObserver(rec.observe))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		closeCtx, done := context.WithTimeout(context.Background(), time.Minute)
		defer done()
		if err := s.Close(closeCtx); err != nil {
			t.Errorf("Close: %v", err)
		}
		cancel()
	})
	return s, func() { go clk.Run(ctx, rec.settle) }, rec
}

// wait collects every result, failing clearly instead of hanging when one never comes.
func wait(t testing.TB, results []<-chan error) []error {
	t.Helper()
	errs := make([]error, len(results))
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for i, ch := range results {
		select {
		case errs[i] = <-ch:
		case <-deadline.C:
			t.Fatalf("message %d of %d never got a result", i, len(results))
		}
	}
	return errs
}

type sent struct {
	chat string
	seq  int
}

func TestLimitsOrderAndDelivery(t *testing.T) {
	s, run, rec := start(t, sched.TelegramLimits)
	var mu sync.Mutex
	var got []sent
	var results []<-chan error
	const chats, perChat = 40, 6
	for m := 0; m < perChat; m++ {
		for c := 0; c < chats; c++ {
			key := fmt.Sprintf("chat-%d", c)
			results = append(results, s.Enqueue(context.Background(), key, c%4 == 0, func(context.Context) error {
				mu.Lock()
				got = append(got, sent{key, m})
				mu.Unlock()
				return nil
			}))
		}
	}
	run()
	for i, err := range wait(t, results) {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if len(got) != chats*perChat {
		t.Fatalf("sent %d messages, want %d", len(got), chats*perChat)
	}
	next := map[string]int{}
	for _, g := range got {
		if g.seq != next[g.chat] {
			t.Fatalf("%s: sent message %d when %d was next", g.chat, g.seq, next[g.chat])
		}
		next[g.chat]++
	}

	grants := rec.grants()
	if len(grants) != chats*perChat {
		t.Fatalf("%d grants, want %d", len(grants), chats*perChat)
	}
	checkWindow(t, "global", grants, 30, time.Second)
	byChat := map[string][]sched.Event{}
	for _, g := range grants {
		byChat[g.Chat] = append(byChat[g.Chat], g)
	}
	for c := 0; c < chats; c++ {
		key := fmt.Sprintf("chat-%d", c)
		checkWindow(t, key, byChat[key], 1, time.Second)
		if c%4 == 0 {
			checkWindow(t, key+" (group)", byChat[key], 20, time.Minute)
		}
	}
}

// checkWindow fails if more than n grants fall within any span shorter than per.
func checkWindow(t *testing.T, name string, grants []sched.Event, n int, per time.Duration) {
	t.Helper()
	times := make([]time.Time, len(grants))
	for i, g := range grants {
		times[i] = g.At
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	for i := 0; i+n < len(times); i++ {
		if d := times[i+n].Sub(times[i]); d < per {
			t.Fatalf("%s: %d sends within %s (from %s to %s), limit %d per %s",
				name, n+1, d, times[i].Sub(epoch), times[i+n].Sub(epoch), n, per)
		}
	}
}

func TestGroupLimitOverAMinute(t *testing.T) {
	s, run, rec := start(t, sched.TelegramLimits)
	var results []<-chan error
	for i := 0; i < 45; i++ {
		results = append(results, s.Enqueue(context.Background(), "group", true, func(context.Context) error { return nil }))
	}
	run()
	for _, err := range wait(t, results) {
		if err != nil {
			t.Fatal(err)
		}
	}
	grants := rec.grants()
	checkWindow(t, "group", grants, 20, time.Minute)
	// 45 messages at 20 a minute need two full windows: the 41st cannot go before 2 minutes.
	if at := grants[40].At.Sub(epoch); at < 2*time.Minute {
		t.Fatalf("41st group message sent at %s, before two minutes", at)
	}
}

func TestFairAcrossChats(t *testing.T) {
	// No per-chat limit, a slow global one: only round-robin keeps the busy chat from
	// taking every slot.
	s, run, rec := start(t, sched.Limits{Global: 10})
	var results []<-chan error
	for i := 0; i < 50; i++ {
		results = append(results, s.Enqueue(context.Background(), "busy", false, func(context.Context) error { return nil }))
	}
	for _, key := range []string{"b", "c", "d", "e"} {
		for i := 0; i < 5; i++ {
			results = append(results, s.Enqueue(context.Background(), key, false, func(context.Context) error { return nil }))
		}
	}
	run()
	wait(t, results)
	counts := map[string]int{}
	for _, g := range rec.grants()[:20] {
		counts[g.Chat]++
	}
	for _, key := range []string{"busy", "b", "c", "d", "e"} {
		if counts[key] < 3 || counts[key] > 5 {
			t.Fatalf("first 20 sends by chat: %v; want each of 5 chats to get 3 to 5", counts)
		}
	}
}

func TestRetryAfterPausesChatAndRetries(t *testing.T) {
	s, run, rec := start(t, sched.TelegramLimits)
	var mu sync.Mutex
	var order []string
	tries := 0
	first := s.Enqueue(context.Background(), "x", false, func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		tries++
		if tries == 1 {
			return &sched.RateLimitError{Wait: 7 * time.Second}
		}
		order = append(order, "x1")
		return nil
	})
	second := s.Enqueue(context.Background(), "x", false, func(context.Context) error {
		mu.Lock()
		order = append(order, "x2")
		mu.Unlock()
		return nil
	})
	var others []<-chan error
	for i := 0; i < 5; i++ {
		others = append(others, s.Enqueue(context.Background(), "y", false, func(context.Context) error { return nil }))
	}
	run()
	for _, err := range wait(t, append([]<-chan error{first, second}, others...)) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if tries != 2 || fmt.Sprint(order) != "[x1 x2]" {
		t.Fatalf("tries %d, order %v; want the rate-limited message retried once and sent before the next", tries, order)
	}
	var x, y []time.Time
	for _, g := range rec.grants() {
		if g.Chat == "x" {
			x = append(x, g.At)
		} else {
			y = append(y, g.At)
		}
	}
	if d := x[1].Sub(x[0]); d < 7*time.Second {
		t.Fatalf("retried %s after the 429, want at least the 7s it asked for", d)
	}
	if !y[len(y)-1].Before(x[1]) {
		t.Fatalf("chat y waited for chat x's pause (y last at %s, x retried at %s)", y[len(y)-1].Sub(epoch), x[1].Sub(epoch))
	}
	if n := rec.count(sched.RateLimited); n != 1 {
		t.Fatalf("%d RateLimited events, want 1", n)
	}
}

// clientErr is how a client library might wrap Discord's global 429.
type clientErr struct{ wait time.Duration }

func (e clientErr) Error() string             { return "429 global" }
func (e clientErr) RetryAfter() time.Duration { return e.wait }
func (e clientErr) GlobalLimit() bool         { return true }

func TestGlobalRetryAfterPausesEveryChat(t *testing.T) {
	s, run, rec := start(t, sched.TelegramLimits)
	tries := 0
	var results []<-chan error
	results = append(results, s.Enqueue(context.Background(), "a", false, func(context.Context) error {
		tries++
		if tries == 1 {
			return fmt.Errorf("sendMessage: %w", clientErr{30 * time.Second})
		}
		return nil
	}))
	for _, key := range []string{"b", "c", "d"} {
		for i := 0; i < 3; i++ {
			results = append(results, s.Enqueue(context.Background(), key, false, func(context.Context) error { return nil }))
		}
	}
	run()
	for _, err := range wait(t, results) {
		if err != nil {
			t.Fatal(err)
		}
	}
	var pausedAt time.Time
	rec.mu.Lock()
	events := append([]sched.Event(nil), rec.events...)
	rec.mu.Unlock()
	for _, e := range events {
		if e.Kind == sched.RateLimited {
			if !e.Global {
				t.Fatal("global 429 recorded as per-chat")
			}
			pausedAt = e.At
		}
	}
	for _, g := range rec.grants() {
		if g.At.After(pausedAt) && g.At.Before(pausedAt.Add(30*time.Second)) {
			t.Fatalf("%s sent %s after a global 429 asking for 30s", g.Chat, g.At.Sub(pausedAt))
		}
	}
}

func TestOtherErrorsReturnedOnce(t *testing.T) {
	s, run, _ := start(t, sched.TelegramLimits)
	run()
	boom := errors.New("chat not found")
	calls := 0
	err := s.Do(context.Background(), "x", false, func(context.Context) error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("err %v after %d calls; want the send's own error after one call", err, calls)
	}
	if err := s.Do(context.Background(), "x", false, func(context.Context) error { return nil }); err != nil {
		t.Fatalf("next message after a failed one: %v", err)
	}
	err = s.Do(context.Background(), "x", false, func(context.Context) error { panic("bad update") })
	if err == nil {
		t.Fatal("a panicking send returned nil")
	}
}

func TestCancelledWhileQueued(t *testing.T) {
	s, run, _ := start(t, sched.TelegramLimits)
	run()
	release := make(chan struct{})
	first := s.Enqueue(context.Background(), "x", false, func(context.Context) error { <-release; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	called := false
	second := s.Enqueue(ctx, "x", false, func(context.Context) error { called = true; return nil })
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled message: %v, want context.Canceled", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if err := s.Do(context.Background(), "x", false, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if called {
		t.Fatal("a message cancelled while queued was sent")
	}
}

func TestCloseDrains(t *testing.T) {
	clk := schedtest.NewClock(epoch)
	s := sched.New(sched.TelegramLimits, sched.WithClock(clk))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go clk.Run(ctx, nil)
	sentN := 0
	var mu sync.Mutex
	var results []<-chan error
	for i := 0; i < 10; i++ {
		results = append(results, s.Enqueue(context.Background(), "x", false, func(context.Context) error {
			mu.Lock()
			sentN++
			mu.Unlock()
			return nil
		}))
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, err := range wait(t, results) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if sentN != 10 {
		t.Fatalf("Close returned with %d of 10 sent", sentN)
	}
	if err := s.Do(context.Background(), "x", false, func(context.Context) error { return nil }); !errors.Is(err, sched.ErrClosed) {
		t.Fatalf("Do after Close: %v, want ErrClosed", err)
	}
}

func TestCloseGivesUp(t *testing.T) {
	// The fake clock never advances, so only the first message can go.
	s := sched.New(sched.TelegramLimits, sched.WithClock(schedtest.NewClock(epoch)))
	inFlight := make(chan struct{})
	first := s.Enqueue(context.Background(), "x", false, func(ctx context.Context) error {
		close(inFlight)
		<-ctx.Done()
		return ctx.Err()
	})
	rest := s.Enqueue(context.Background(), "x", false, func(context.Context) error { return nil })
	<-inFlight
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close: %v, want context.Canceled", err)
	}
	if err := <-rest; !errors.Is(err, sched.ErrClosed) {
		t.Fatalf("queued message after Close gave up: %v, want ErrClosed", err)
	}
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("in-flight message after Close gave up: %v, want its context cancelled", err)
	}
}

func TestPerChatRate(t *testing.T) {
	s, run, rec := start(t, sched.TelegramLimits)
	var results []<-chan error
	for i := 0; i < 5; i++ {
		for _, key := range []string{"a", "b"} {
			results = append(results, s.Enqueue(context.Background(), key, false, func(context.Context) error { return nil }))
		}
	}
	run()
	for _, err := range wait(t, results) {
		if err != nil {
			t.Fatal(err)
		}
	}
	byChat := map[string][]sched.Event{}
	for _, g := range rec.grants() {
		byChat[g.Chat] = append(byChat[g.Chat], g)
	}
	for key, grants := range byChat {
		checkWindow(t, key, grants, 1, time.Second)
	}
}

func TestOneSendInFlightPerChat(t *testing.T) {
	// No limits at all: only the one-in-flight rule keeps a chat's second message from
	// starting while its first is still being sent.
	s, run, rec := start(t, sched.Limits{})
	run()
	started, release := make(chan struct{}), make(chan struct{})
	var firstDone bool
	var mu sync.Mutex
	first := s.Enqueue(context.Background(), "x", false, func(context.Context) error {
		close(started)
		<-release
		mu.Lock()
		firstDone = true
		mu.Unlock()
		return nil
	})
	second := s.Enqueue(context.Background(), "x", false, func(context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !firstDone {
			return errors.New("second message started before the first was sent")
		}
		return nil
	})
	<-started
	// Enqueue takes the scheduler's lock, so once it returns the dispatch that granted
	// the first message has finished; a second grant would already be recorded.
	other := s.Enqueue(context.Background(), "y", false, func(context.Context) error { return nil })
	n := 0
	for _, g := range rec.grants() {
		if g.Chat == "x" {
			n++
		}
	}
	close(release)
	for _, err := range wait(t, []<-chan error{first, second, other}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n != 1 {
		t.Fatalf("%d sends to chat x in flight at once, want 1", n)
	}
}
