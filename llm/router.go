package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tmc/langchaingo/llms"
)

// Named is one model the Router may send a request to. Model is any
// llms.Model, so a Client, a test double or the offline model route alike.
type Named struct {
	Name  string // shown in health tables, logs and quorum reports
	Model llms.Model
	// Tools says the model accepts tools and answers with tool calls; a
	// request that carries tools skips models without it.
	Tools bool
	// KeyEnv names the environment variable holding the backend's key, so
	// that a refused key can be reported as "check IOINTELLIGENCE_API_KEY". When
	// empty, the preset of the same Name supplies it.
	KeyEnv string
}

// Route makes a Client for b and describes it for NewRouter: its name, its
// tool support, and the variable holding its key (from the preset of the
// same name), which a refused key is reported with.
func Route(b Backend, opts ...ClientOption) Named {
	n := Named{Name: b.Name, Model: NewClient(b, opts...), Tools: b.Tools}
	if p, ok := presetByName(b.Name); ok {
		n.KeyEnv = p.KeyEnv
	}
	return n
}

// RouteAll is Route for each backend, in order: NewRouter(RouteAll(FromEnv())).
func RouteAll(bs []Backend, opts ...ClientOption) []Named {
	out := make([]Named, 0, len(bs))
	for _, b := range bs {
		out = append(out, Route(b, opts...))
	}
	return out
}

// ErrNoBackend is returned (wrapped, with the reason) when no configured
// backend can take a request: none configured, all misconfigured, or none
// that supports tools for a step that needs them.
var ErrNoBackend = errors.New("llm: no usable backend")

// FailoverError is returned when every backend tried failed before
// answering. Errs holds one error per attempt, in the order they failed;
// errors.As reaches each of them (an *HTTPError, a net.Error, …).
type FailoverError struct {
	Errs []error
}

func (e *FailoverError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "llm: all %d backend attempts failed", len(e.Errs))
	for i, err := range e.Errs {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(err.Error())
	}
	return b.String()
}

func (e *FailoverError) Unwrap() []error { return e.Errs }

// RouterOption configures a Router.
type RouterOption func(*routerConfig)

type routerConfig struct {
	logger          *slog.Logger
	hedging         bool
	hedgeMinSamples int
	attemptTimeout  time.Duration
	cooldown        time.Duration
	maxCooldown     time.Duration
	probeTimeout    time.Duration
	now             func() time.Time
}

// WithHedging turns hedging on or off (default on). With hedging, a backend
// that has not produced its first token (or, without streaming, its answer)
// within its own recent p95 latency gets company: the next ready backend
// starts in parallel and the first to answer wins. It trades a few extra
// requests for a shorter tail, which matters on shared GPU networks whose
// latency has a long tail.
func WithHedging(on bool) RouterOption {
	return func(c *routerConfig) { c.hedging = on }
}

// WithRouterLogger sets where failovers and misconfigurations are logged
// (default slog.Default()).
func WithRouterLogger(l *slog.Logger) RouterOption {
	return func(c *routerConfig) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithAttemptTimeout bounds how long one backend may take to produce its
// first token (or, without streaming, its answer) before the Router gives up
// on it and fails over (default 90 s; zero disables). Once tokens flow the
// timeout no longer applies: a long answer is not a stalled backend. The
// caller's own deadline is separate and is never failed over.
func WithAttemptTimeout(d time.Duration) RouterOption {
	return func(c *routerConfig) { c.attemptTimeout = d }
}

// WithCooldown sets how long a failing backend is skipped when it did not
// say (Retry-After): base after the first failure, doubling with each
// further failure in a row, up to max (defaults 30 s and 10 min).
func WithCooldown(base, max time.Duration) RouterOption {
	return func(c *routerConfig) {
		if base > 0 {
			c.cooldown = base
		}
		if max >= base && max > 0 {
			c.maxCooldown = max
		}
	}
}

// WithProbeTimeout bounds each Probe request (default 20 s).
func WithProbeTimeout(d time.Duration) RouterOption {
	return func(c *routerConfig) {
		if d > 0 {
			c.probeTimeout = d
		}
	}
}

// hedgeMinSamples is how many successes a backend needs before its p95 is
// trusted to decide a hedge; fewer would hedge on noise.
const hedgeMinSamples = 10

// maxRetryAfter caps a Retry-After we honor, so a confused backend cannot
// park itself for a day.
const maxRetryAfter = time.Hour

// Router is an llms.Model over an ordered list of backends. It fails over
// before the first streamed token, cools failing backends down (honoring
// Retry-After), drops backends whose key is refused, hedges slow requests
// and, through Quorum, lets several backends vote on a tool call. It is safe
// for concurrent use.
type Router struct {
	cfg      routerConfig
	backends []*routed
}

type routed struct {
	Named
	st backendState
}

var _ llms.Model = (*Router)(nil)

// NewRouter routes over models in order: the first is preferred, the next
// ones are failover and hedge targets. An empty list is allowed: every call
// then fails with ErrNoBackend, and callers usually pick the offline model
// instead. A nil Model is a programming error and panics.
func NewRouter(models []Named, opts ...RouterOption) *Router {
	r := &Router{cfg: routerConfig{
		logger:          slog.Default(),
		hedging:         true,
		hedgeMinSamples: hedgeMinSamples,
		attemptTimeout:  90 * time.Second,
		cooldown:        30 * time.Second,
		maxCooldown:     10 * time.Minute,
		probeTimeout:    20 * time.Second,
		now:             time.Now,
	}}
	for _, o := range opts {
		o(&r.cfg)
	}
	seen := map[string]int{}
	for i, m := range models {
		if m.Model == nil {
			panic(fmt.Sprintf("llm.NewRouter: models[%d] (%q) has a nil Model", i, m.Name))
		}
		if m.Name == "" {
			m.Name = fmt.Sprintf("backend-%d", i+1)
		}
		// Names key the health table and the quorum report: keep them unique.
		if seen[m.Name]++; seen[m.Name] > 1 {
			m.Name = fmt.Sprintf("%s#%d", m.Name, seen[m.Name])
		}
		if m.KeyEnv == "" {
			if p, ok := presetByName(m.Name); ok {
				m.KeyEnv = p.KeyEnv
			}
		}
		r.backends = append(r.backends, &routed{Named: m})
	}
	return r
}

// Call implements llms.Model.
func (r *Router) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, r, prompt, opts...)
}

// GenerateContent implements llms.Model: it sends the request to the first
// usable backend and fails over, in order, on errors that are the backend's
// fault (429, 402, 408, 5xx, 404, timeouts, broken connections, malformed
// replies). A streamed answer fails over only until its first chunk reaches
// opts' StreamingFunc; after that the caller holds partial text and the
// error is returned as is. Errors that are the request's fault (other 4xx)
// and the caller's cancellation are returned as they are.
func (r *Router) GenerateContent(ctx context.Context, messages []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	var co llms.CallOptions
	for _, o := range opts {
		o(&co)
	}
	needTools := len(co.Tools) > 0 || len(co.Functions) > 0
	cands, ready := r.candidates(needTools, r.cfg.now())
	if len(cands) == 0 {
		return nil, r.noBackend(needTools)
	}
	c := &routeCall{
		r:         r,
		msgs:      messages,
		opts:      opts,
		stream:    co.StreamingFunc,
		reasoning: co.StreamingReasoningFunc,
		claimed:   make(chan struct{}),
		results:   make(chan *attempt, len(cands)),
	}
	return c.run(ctx, cands, ready)
}

// candidates lists the backends a request may use, in order: the ready ones
// first (configured order), then those cooling down, soonest back first, as
// a last resort. ready counts the first group; only those are hedged to.
func (r *Router) candidates(needTools bool, now time.Time) (cands []*routed, ready int) {
	var cooling []*routed
	for _, b := range r.backends {
		if needTools && !b.Tools {
			continue
		}
		b.st.mu.Lock()
		mis, until := b.st.misconfigured, b.st.cooldownUntil
		b.st.mu.Unlock()
		switch {
		case mis:
		case now.Before(until):
			cooling = append(cooling, b)
		default:
			cands = append(cands, b)
		}
	}
	ready = len(cands)
	if len(cooling) > 1 {
		slices.SortStableFunc(cooling, func(a, b *routed) int {
			a.st.mu.Lock()
			ua := a.st.cooldownUntil
			a.st.mu.Unlock()
			b.st.mu.Lock()
			ub := b.st.cooldownUntil
			b.st.mu.Unlock()
			return ua.Compare(ub)
		})
	}
	return append(cands, cooling...), ready
}

func (r *Router) noBackend(needTools bool) error {
	if len(r.backends) == 0 {
		return fmt.Errorf("%w: none configured", ErrNoBackend)
	}
	var names []string
	for _, b := range r.backends {
		if needTools && !b.Tools {
			names = append(names, b.Name+" (no tool calls)")
			continue
		}
		names = append(names, b.Name+" (misconfigured)")
	}
	return fmt.Errorf("%w: %s", ErrNoBackend, strings.Join(names, ", "))
}

// Causes the Router gives when it cancels an attempt, so that the attempt's
// error can be told apart from the caller's cancellation.
var (
	errHedgeLost      = errors.New("llm: another backend answered first")
	errAttemptTimeout = errors.New("llm: backend attempt timed out before answering")
)

// routeCall is one GenerateContent through the Router: its attempts (the
// first, failovers and hedges) and which of them owns the caller's stream.
type routeCall struct {
	r         *Router
	msgs      []llms.MessageContent
	opts      []llms.CallOption
	stream    func(context.Context, []byte) error
	reasoning func(context.Context, []byte, []byte) error
	results   chan *attempt

	mu       sync.Mutex
	owner    *attempt   // the attempt whose output the caller receives
	attempts []*attempt // all started, for cancelling the others
	claimed  chan struct{}
}

type attempt struct {
	b       *routed
	ctx     context.Context
	cancel  context.CancelCauseFunc
	start   time.Time
	firstAt time.Time // first chunk handed to the caller; guarded by routeCall.mu
	owns    atomic.Bool
	// callerStopped: the caller's stream callback returned an error, so the
	// attempt's failure is not the backend's.
	callerStopped atomic.Bool
	timer         *time.Timer
	resp          *llms.ContentResponse
	err           error
}

// start launches one attempt on b in its own goroutine; its result arrives
// on c.results.
func (c *routeCall) start(ctx context.Context, b *routed) *attempt {
	a, opts := c.prepare(ctx, b)
	go func() {
		c.execute(a, opts)
		c.results <- a
	}()
	return a
}

// prepare sets an attempt on b up: its context, its stream wrapper, its
// timeout.
func (c *routeCall) prepare(ctx context.Context, b *routed) (*attempt, []llms.CallOption) {
	actx, cancel := context.WithCancelCause(ctx)
	a := &attempt{b: b, ctx: actx, cancel: cancel, start: c.r.cfg.now()}
	opts := c.opts
	if c.stream != nil || c.reasoning != nil {
		opts = make([]llms.CallOption, len(c.opts), len(c.opts)+1)
		copy(opts, c.opts)
		opts = append(opts, c.wrapStreaming(a))
	}
	c.mu.Lock()
	c.attempts = append(c.attempts, a)
	c.mu.Unlock()
	if d := c.r.cfg.attemptTimeout; d > 0 {
		a.timer = time.AfterFunc(d, func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.owner != a { // tokens flowing means the backend is not stalled
				cancel(errAttemptTimeout)
			}
		})
	}
	b.st.begin()
	return a, opts
}

// execute runs a prepared attempt to its end.
func (c *routeCall) execute(a *attempt, opts []llms.CallOption) {
	a.resp, a.err = a.b.Model.GenerateContent(a.ctx, c.msgs, opts...)
	if a.timer != nil {
		a.timer.Stop()
	}
}

// wrapStreaming routes an attempt's chunks to the caller only once the
// attempt owns the stream; an attempt that loses the race is stopped by the
// error its stream callback returns.
func (c *routeCall) wrapStreaming(a *attempt) llms.CallOption {
	return func(o *llms.CallOptions) {
		if c.stream != nil {
			o.StreamingFunc = func(ctx context.Context, chunk []byte) error {
				if len(chunk) == 0 && !a.owns.Load() {
					return nil
				}
				if err := c.claim(a); err != nil {
					return err
				}
				if err := c.stream(ctx, chunk); err != nil {
					a.callerStopped.Store(true)
					return err
				}
				return nil
			}
		}
		if c.reasoning != nil {
			o.StreamingReasoningFunc = func(ctx context.Context, reasoningChunk, chunk []byte) error {
				if len(reasoningChunk) == 0 && len(chunk) == 0 && !a.owns.Load() {
					return nil
				}
				if err := c.claim(a); err != nil {
					return err
				}
				if err := c.reasoning(ctx, reasoningChunk, chunk); err != nil {
					a.callerStopped.Store(true)
					return err
				}
				return nil
			}
		}
	}
}

// claim makes a the owner of the caller's output unless another attempt
// already is, and cancels every other attempt. From here on there is no
// failover and no hedge.
func (c *routeCall) claim(a *attempt) error {
	if a.owns.Load() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != nil {
		return errHedgeLost
	}
	if a.ctx.Err() != nil {
		return context.Cause(a.ctx)
	}
	c.owner = a
	a.owns.Store(true)
	a.firstAt = c.r.cfg.now()
	for _, o := range c.attempts {
		if o != a {
			o.cancel(errHedgeLost)
		}
	}
	close(c.claimed)
	return nil
}

// run drives the attempts: start the first candidate, hedge when it is
// slower than its p95, fail over when it fails, and return the first answer.
// An attempt that no hedge can join (hedging off, no ready backend left, or
// too few latency samples) runs on the caller's goroutine: most requests
// then cost no goroutine hand-off at all.
func (c *routeCall) run(ctx context.Context, cands []*routed, ready int) (*llms.ContentResponse, error) {
	var (
		next, inflight int
		failed         []error
		fatal          error
		last           *attempt
		hedge          *time.Timer
		claimed        = c.claimed
	)
	finish := func() {
		c.mu.Lock()
		for _, a := range c.attempts {
			a.cancel(errHedgeLost)
		}
		c.mu.Unlock()
		for ; inflight > 0; inflight-- {
			<-c.results
		}
		if hedge != nil {
			hedge.Stop()
		}
	}
	defer finish()

	// outcome judges a finished attempt; done means run returns resp, err.
	outcome := func(a *attempt) (done bool, resp *llms.ContentResponse, err error) {
		if a.err == nil {
			if c.accept(a) {
				a.b.st.success(c.latency(a))
				return true, a.resp, nil
			}
			return false, nil, nil // a loser that finished anyway; the owner's output stands
		}
		if a.owns.Load() {
			// The caller already has part of this answer: no failover.
			if ctx.Err() == nil && !a.callerStopped.Load() {
				c.r.recordFailure(a.b, a.err, context.Cause(a.ctx))
			}
			return true, nil, a.err
		}
		if ctx.Err() != nil {
			return true, nil, fmt.Errorf("llm router: %w", context.Cause(ctx))
		}
		cause := context.Cause(a.ctx)
		if errors.Is(cause, errHedgeLost) && a.ctx.Err() != nil {
			return false, nil, nil // cancelled by us because another attempt won
		}
		if c.r.recordFailure(a.b, a.err, cause) == failFatal {
			if fatal == nil {
				fatal = a.err
			}
			return false, nil, nil
		}
		failed = append(failed, fmt.Errorf("%s: %w", a.b.Name, a.err))
		return false, nil, nil
	}

	for {
		if inflight == 0 {
			if fatal != nil {
				return nil, fatal
			}
			if c.owned() || next >= len(cands) {
				return nil, &FailoverError{Errs: failed}
			}
			b := cands[next]
			next++
			if !c.r.cfg.hedging || next >= ready || !c.r.hedgeable(b) {
				a, opts := c.prepare(ctx, b)
				c.execute(a, opts)
				if done, resp, err := outcome(a); done {
					return resp, err
				}
				continue
			}
			last = c.start(ctx, b)
			inflight++
		}
		var hedgeC <-chan time.Time
		if c.r.cfg.hedging && fatal == nil && next < ready && claimed != nil {
			if d, ok := c.hedgeDelay(last); ok {
				if hedge == nil {
					hedge = time.NewTimer(d)
				} else {
					hedge.Reset(d)
				}
				hedgeC = hedge.C
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("llm router: %w", context.Cause(ctx))
		case <-claimed:
			claimed = nil // owned: no more hedges; wait for the owner's result
		case <-hedgeC:
			c.r.cfg.logger.Debug("llm backend slower than its p95; hedging", "backend", last.b.Name, "hedge", cands[next].Name)
			last = c.start(ctx, cands[next])
			next++
			inflight++
		case a := <-c.results:
			inflight--
			if done, resp, err := outcome(a); done {
				return resp, err
			}
		}
	}
}

// hedgeable reports whether b has enough latency samples for its p95 to
// decide a hedge.
func (r *Router) hedgeable(b *routed) bool {
	b.st.mu.Lock()
	defer b.st.mu.Unlock()
	return b.st.lat.n >= r.cfg.hedgeMinSamples
}

// owned reports whether some attempt's output reached the caller.
func (c *routeCall) owned() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owner != nil
}

// accept decides whether a successful attempt is the answer: it is unless
// another attempt already streamed to the caller.
func (c *routeCall) accept(a *attempt) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.owner != nil && c.owner != a {
		return false
	}
	c.owner = a
	return true
}

// latency is what the attempt's backend is judged by: time to first token
// when it streamed, else time to the answer.
func (c *routeCall) latency(a *attempt) time.Duration {
	c.mu.Lock()
	first := a.firstAt
	c.mu.Unlock()
	if first.IsZero() {
		first = c.r.cfg.now()
	}
	return first.Sub(a.start)
}

// hedgeDelay is how long to wait for attempt a before hedging: the rest of
// its backend's p95, once the backend has enough samples to have one.
func (c *routeCall) hedgeDelay(a *attempt) (time.Duration, bool) {
	a.b.st.mu.Lock()
	n := a.b.st.lat.n
	_, p95 := a.b.st.lat.percentiles()
	a.b.st.mu.Unlock()
	if n < c.r.cfg.hedgeMinSamples {
		return 0, false
	}
	d := p95 - c.r.cfg.now().Sub(a.start)
	if d < 0 {
		d = 0
	}
	return d, true
}

// failureKind is how the Router reacts to an attempt's error.
type failureKind int

const (
	// failFatal: the request's own fault (400, 413, 422, …) or something
	// the Router cannot judge; another backend would refuse it too.
	failFatal failureKind = iota
	// failTransient: the backend's fault, likely to pass; cool down and
	// fail over.
	failTransient
	// failMisconfigured: the backend refused our credentials.
	failMisconfigured
)

// classifyFailure sorts an attempt error. cause is the attempt context's
// cancellation cause, which tells a per-attempt timeout apart.
func classifyFailure(err, cause error) (failureKind, time.Duration) {
	if errors.Is(cause, errAttemptTimeout) {
		return failTransient, 0
	}
	var he *HTTPError
	if errors.As(err, &he) {
		switch s := he.Status; {
		case s == http.StatusUnauthorized || s == http.StatusForbidden:
			return failMisconfigured, 0
		case s == http.StatusTooManyRequests || s == http.StatusPaymentRequired ||
			s == http.StatusRequestTimeout || s == http.StatusNotFound || s >= 500:
			// 404: this backend does not serve the model (or the path);
			// another backend may.
			return failTransient, he.RetryAfter
		default:
			return failFatal, 0
		}
	}
	var (
		ne  net.Error
		se  *StreamError
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &ne), errors.As(err, &se), errors.As(err, &syn), errors.As(err, &typ),
		errors.Is(err, ErrMalformedResponse), errors.Is(err, ErrStreamTruncated),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, context.DeadlineExceeded):
		return failTransient, 0
	}
	return failFatal, 0
}

// recordFailure updates b's state for a failed attempt and logs it.
func (r *Router) recordFailure(b *routed, err, cause error) failureKind {
	kind, retryAfter := classifyFailure(err, cause)
	if errors.Is(cause, errAttemptTimeout) {
		err = fmt.Errorf("%w: %w", errAttemptTimeout, err)
	}
	now := r.cfg.now()
	switch kind {
	case failMisconfigured:
		if b.st.misconfigure(err, now) {
			keyEnv := b.KeyEnv
			if keyEnv == "" {
				keyEnv = "its API key variable"
			}
			status := 0
			var he *HTTPError
			if errors.As(err, &he) {
				status = he.Status
			}
			r.cfg.logger.Warn(fmt.Sprintf("llm backend %s refused its credentials (HTTP %d); check %s. It is skipped until a probe (Router.Probe) succeeds", b.Name, status, keyEnv),
				"backend", b.Name, "key_env", keyEnv, "status", status)
		}
	case failTransient:
		until := b.st.fail(err, now, retryAfter, r.cfg.cooldown, r.cfg.maxCooldown)
		r.cfg.logger.Warn("llm backend failed; skipping it until its cooldown ends", "backend", b.Name,
			"error", redactError(err), "cooldown_until", until.Format(time.RFC3339))
	}
	return kind
}

// begin counts a request.
func (s *backendState) begin() {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
}

// success records a good answer: the backend is healthy again.
func (s *backendState) success(latency time.Duration) {
	s.mu.Lock()
	s.consecutive = 0
	s.cooldownUntil = time.Time{}
	s.misconfigured = false
	s.warned = false
	s.lat.add(latency)
	s.mu.Unlock()
}

// fail records a transient failure and returns the end of the cooldown:
// Retry-After when the backend gave one, else base doubling per failure in
// a row, capped at max.
func (s *backendState) fail(err error, now time.Time, retryAfter, base, max time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures++
	s.consecutive++
	s.lastErr, s.lastErrAt = redactError(err), now
	d := retryAfter
	if d <= 0 {
		d = base
		for i := 1; i < s.consecutive && d < max; i++ {
			d *= 2
		}
		d = min(d, max)
	}
	d = min(d, maxRetryAfter)
	s.cooldownUntil = now.Add(d)
	return s.cooldownUntil
}

// misconfigure marks the backend unusable and reports whether this is news
// worth logging.
func (s *backendState) misconfigure(err error, now time.Time) (first bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures++
	s.lastErr, s.lastErrAt = redactError(err), now
	s.misconfigured = true
	first = !s.warned
	s.warned = true
	return first
}
