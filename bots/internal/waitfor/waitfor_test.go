package waitfor

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// changes is a server's state as the servers keep it: a channel closed and replaced on
// every change.
type changes struct {
	mu sync.Mutex
	ch chan struct{}
}

func (c *changes) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

func (c *changes) change() {
	c.mu.Lock()
	close(c.ch)
	c.ch = make(chan struct{})
	c.mu.Unlock()
}

func TestCondSeesAChange(t *testing.T) {
	c := &changes{ch: make(chan struct{})}
	var n atomic.Int32
	go func() {
		for range 3 {
			n.Add(1)
			c.change()
		}
	}()
	Cond(t, "test", "three changes", time.Minute, c.next, func() bool { return n.Load() == 3 })
}

// recorder is a testing.TB that keeps a failure instead of ending the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
}

func TestCondGivesUp(t *testing.T) {
	r := &recorder{TB: t}
	c := &changes{ch: make(chan struct{})}
	Cond(r, "test", "nothing", 20*time.Millisecond, c.next, func() bool { return false })
	if r.failed == "" {
		t.Fatal("Cond returned without the condition and without failing")
	}
}
