package agent

import (
	"context"
	"sync"
	"time"
)

// turnCtx is the context of one turn: the caller's, cancelled when the turn
// ends (it finished, failed, or its consumer broke out of the loop), so
// nothing a step started outlives the turn. It behaves as what
// context.WithCancel(parent) returns, with its cancel called at the end of
// the turn, and is built the same way, lazily: the cancellable context is
// made when something first needs it (Done, from a model's HTTP request or
// a tool that waits, or anything asked after the turn ended). A turn whose
// steps never wait allocates nothing for its context, which lives inside
// the turn.
//
// Value forwards to the cancellable context once it exists, so contexts
// derived from this one find it and join its cancellation directly, as
// they would join a context.WithCancel's.
type turnCtx struct {
	parent context.Context
	t      *turn // what Value(turnKey{}) returns

	mu     sync.Mutex
	inner  context.Context // made on first need
	cancel context.CancelFunc
	ended  bool
}

// turnKey finds a context's turn (Value(turnKey{}) is its *turn).
type turnKey struct{}

// cancelable returns the cancellable context, making it if needed; after
// the end of the turn it is made cancelled.
func (c *turnCtx) cancelable() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inner == nil {
		c.inner, c.cancel = context.WithCancel(c.parent)
		if c.ended {
			c.cancel()
		}
	}
	return c.inner
}

// current is the context that answers Err and Value now: the cancellable
// one if it was made or the turn is over, else the caller's, which a
// context.WithCancel would answer the same as.
func (c *turnCtx) current() context.Context {
	c.mu.Lock()
	inner, ended := c.inner, c.ended
	c.mu.Unlock()
	switch {
	case inner != nil:
		return inner
	case ended:
		return c.cancelable()
	default:
		return c.parent
	}
}

// end cancels the context: the turn is over.
func (c *turnCtx) end() {
	c.mu.Lock()
	c.ended = true
	cancel := c.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

func (c *turnCtx) Deadline() (time.Time, bool) { return c.parent.Deadline() }
func (c *turnCtx) Done() <-chan struct{}       { return c.cancelable().Done() }
func (c *turnCtx) Err() error                  { return c.current().Err() }

func (c *turnCtx) Value(key any) any {
	if _, ok := key.(turnKey); ok {
		return c.t
	}
	return c.current().Value(key)
}

func (c *turnCtx) String() string { return "agent.turn(" + contextName(c.parent) + ")" }

func contextName(ctx context.Context) string {
	if s, ok := ctx.(interface{ String() string }); ok {
		return s.String()
	}
	return "context"
}
