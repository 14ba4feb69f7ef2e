package llm

import (
	"context"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/tmc/langchaingo/llms"
)

// BackendState is what the Router currently thinks of a backend.
type BackendState string

const (
	// StateOK: the backend takes requests.
	StateOK BackendState = "ok"
	// StateCooldown: the backend failed (or asked us to back off with
	// Retry-After) and is skipped until CooldownUntil, unless every other
	// backend is unusable too.
	StateCooldown BackendState = "cooldown"
	// StateMisconfigured: the backend refused our credentials (401/403). It
	// is skipped until a Probe succeeds, because retrying a wrong key only
	// burns time on every request.
	StateMisconfigured BackendState = "misconfigured"
)

// BackendHealth is one backend's row in `mandate llm backends`.
type BackendHealth struct {
	Name  string
	Tools bool
	State BackendState
	// CooldownUntil is set when State is StateCooldown.
	CooldownUntil time.Time
	Requests      int64 // attempts sent to this backend, hedges and probes included
	Failures      int64 // attempts that failed for a reason attributed to the backend
	// LastError is the last failure, shortened and with anything that looks
	// like a credential removed: this text ends up in tables and bug reports.
	LastError   string
	LastErrorAt time.Time
	// Latency to first token (for a call without streaming: to the answer)
	// over the last successes; zero until there is a sample.
	P50, P95 time.Duration
	Samples  int // successes in the latency window
}

// latencyWindowSize is how many recent successes the percentiles cover:
// enough to see a tail, few enough to follow a backend whose load changes.
const latencyWindowSize = 50

// latencyWindow is a ring of the last latencyWindowSize latencies with
// lazily recomputed percentiles. Not safe for concurrent use; backendState
// guards it.
type latencyWindow struct {
	buf    [latencyWindowSize]time.Duration
	n      int // samples held, up to latencyWindowSize
	next   int // where the next sample goes
	dirty  bool
	sorted [latencyWindowSize]time.Duration
	p50    time.Duration
	p95    time.Duration
}

func (w *latencyWindow) add(d time.Duration) {
	w.buf[w.next] = d
	w.next = (w.next + 1) % latencyWindowSize
	if w.n < latencyWindowSize {
		w.n++
	}
	w.dirty = true
}

// percentiles returns p50 and p95 by the nearest-rank method.
func (w *latencyWindow) percentiles() (p50, p95 time.Duration) {
	if w.n == 0 {
		return 0, 0
	}
	if w.dirty {
		s := w.sorted[:w.n]
		copy(s, w.buf[:w.n])
		slices.Sort(s)
		w.p50 = s[nearestRank(w.n, 50)]
		w.p95 = s[nearestRank(w.n, 95)]
		w.dirty = false
	}
	return w.p50, w.p95
}

// nearestRank is the zero-based nearest-rank index of percentile p among n samples.
func nearestRank(n, p int) int {
	r := (p*n + 99) / 100 // ceil(p*n/100)
	if r < 1 {
		r = 1
	}
	return r - 1
}

// backendState is the Router's mutable knowledge of one backend.
type backendState struct {
	mu            sync.Mutex
	requests      int64
	failures      int64
	consecutive   int // failures since the last success; drives the backoff
	cooldownUntil time.Time
	misconfigured bool
	warned        bool // the misconfiguration has been logged
	lastErr       string
	lastErrAt     time.Time
	lat           latencyWindow
}

// redactPatterns remove what could be a credential from error text before it
// is stored or printed: bearer tokens, key=value pairs with a secret-sounding
// name, provider key prefixes, and long opaque tokens.
var redactPatterns = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)(bearer|basic)\s+[^\s"',;]+`), "$1 [redacted]"},
	{regexp.MustCompile(`(?i)((?:api[_-]?key|access[_-]?token|token|secret|password|key|authorization)["']?\s*[=:]\s*["']?)[^\s"'&,;]+`), "${1}[redacted]"},
	{regexp.MustCompile(`\b(?:sk|pk|rk|io|ak)-[A-Za-z0-9_\-]{8,}`), "[redacted]"},
	{regexp.MustCompile(`[A-Za-z0-9_\-+=]{32,}`), "[redacted]"},
}

// maxErrorText bounds LastError: a backend may answer with a whole HTML page.
const maxErrorText = 300

// redactError turns an error into text safe to show in a health table or a
// log line.
func redactError(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	for _, p := range redactPatterns {
		s = p.re.ReplaceAllString(s, p.with)
	}
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "…"
	}
	return s
}

// Health reports every backend's state and statistics, in routing order.
func (r *Router) Health() []BackendHealth {
	now := r.cfg.now()
	out := make([]BackendHealth, 0, len(r.backends))
	for _, b := range r.backends {
		out = append(out, b.health(now))
	}
	return out
}

func (b *routed) health(now time.Time) BackendHealth {
	b.st.mu.Lock()
	defer b.st.mu.Unlock()
	h := BackendHealth{
		Name:        b.Name,
		Tools:       b.Tools,
		State:       StateOK,
		Requests:    b.st.requests,
		Failures:    b.st.failures,
		LastError:   b.st.lastErr,
		LastErrorAt: b.st.lastErrAt,
		Samples:     b.st.lat.n,
	}
	h.P50, h.P95 = b.st.lat.percentiles()
	switch {
	case b.st.misconfigured:
		h.State = StateMisconfigured
	case now.Before(b.st.cooldownUntil):
		h.State, h.CooldownUntil = StateCooldown, b.st.cooldownUntil
	}
	return h
}

// Probe sends one tiny request ("ping", one token at most) to every backend
// at once, misconfigured and cooling ones included, records the outcome as
// for any request, and returns Health. It is what `mandate llm backends`
// prints; a success clears a cooldown or a misconfiguration, since the
// probe is the user asking "does it work now?".
func (r *Router) Probe(ctx context.Context) []BackendHealth {
	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "ping")}
	var wg sync.WaitGroup
	for _, b := range r.backends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeoutCause(ctx, r.cfg.probeTimeout, errAttemptTimeout)
			defer cancel()
			b.st.begin()
			start := r.cfg.now()
			_, err := b.Model.GenerateContent(pctx, msgs, llms.WithMaxTokens(1))
			switch {
			case err == nil:
				b.st.success(r.cfg.now().Sub(start))
			case ctx.Err() != nil:
				// The caller gave up; that says nothing about the backend.
			default:
				r.recordFailure(b, err, context.Cause(pctx))
			}
		}()
	}
	wg.Wait()
	return r.Health()
}
