// Package waitfor is how the local API servers for the bots' tests (tgtest, dctest) let a
// test wait for what a bot does: a condition checked on every change to the server's
// state, and every few milliseconds for conditions outside it, with a bound that fails
// the test saying what it waited for rather than hanging it.
package waitfor

import (
	"testing"
	"time"
)

// poll is how often a condition is checked between changes.
const poll = 5 * time.Millisecond

// Cond waits until cond holds. changed returns the channel the server closes at its next
// change; it is read before cond is checked, so that a change in between is not missed.
// After timeout it fails t with server's name and what.
func Cond(t testing.TB, server, what string, timeout time.Duration, changed func() <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		next := changed()
		if cond() {
			return
		}
		select {
		case <-next:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: gave up after %v waiting for %s", server, timeout, what)
			return
		}
	}
}
