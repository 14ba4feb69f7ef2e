package mcp

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/time/rate"
)

// Path is where Handler serves the Streamable HTTP transport.
const Path = "/mcp"

// MinTokenLen is the shortest bearer token Handler accepts.
const MinTokenLen = 16

// ErrWeakToken is Handler's error for a bearer token that is missing or
// shorter than MinTokenLen.
var ErrWeakToken = errors.New("the bearer token must be at least 16 characters (use a long random one)")

// HTTPOption configures Handler.
type HTTPOption func(*httpConfig)

type httpConfig struct {
	rps     rate.Limit
	burst   int
	maxBody int64
	idle    time.Duration
}

// WithRateLimit allows each client (by IP address) perSecond requests with
// bursts of burst; past it the answer is 429 with Retry-After (default
// 20/s, burst 40).
func WithRateLimit(perSecond float64, burst int) HTTPOption {
	return func(c *httpConfig) { c.rps, c.burst = rate.Limit(perSecond), burst }
}

// WithMaxBody limits a request's body; past it the answer is 413 (default
// 1 MiB).
func WithMaxBody(n int64) HTTPOption { return func(c *httpConfig) { c.maxBody = n } }

// WithSessionTimeout closes a client's session after it sent nothing for
// d (default 30 minutes).
func WithSessionTimeout(d time.Duration) HTTPOption { return func(c *httpConfig) { c.idle = d } }

// Handler serves the Streamable HTTP transport at Path to clients that
// send "Authorization: Bearer TOKEN": a missing or wrong token gets 401
// (compared in constant time), a client over its rate 429, a body over
// the limit 413. token must be long and random.
func (s *Server) Handler(token string, opts ...HTTPOption) (http.Handler, error) {
	if len(token) < MinTokenLen {
		return nil, ErrWeakToken
	}
	c := httpConfig{rps: 20, burst: 40, maxBody: 1 << 20, idle: 30 * time.Minute}
	for _, o := range opts {
		o(&c)
	}
	stream := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.srv },
		// A request whose client went away is cancelled: a read stops
		// early, and a value-moving call runs to its end regardless (see
		// handler).
		&sdk.StreamableHTTPOptions{Logger: s.log, MaxRequestBodyBytes: c.maxBody, SessionTimeout: c.idle, PropagateRequestCancellation: true})
	g := &guard{next: stream, token: []byte(token), rps: c.rps, burst: c.burst, maxBody: c.maxBody, clients: map[string]*rate.Limiter{}}
	mux := http.NewServeMux()
	mux.Handle(Path, g)
	return mux, nil
}

// guard checks the bearer token, the client's rate and the body's size
// before the MCP transport reads anything.
type guard struct {
	next    http.Handler
	token   []byte
	rps     rate.Limit
	burst   int
	maxBody int64

	mu      sync.Mutex
	clients map[string]*rate.Limiter
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), g.token) != 1 {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mandate"`)
		httpError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	if !g.limiter(r).Allow() {
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusTooManyRequests, "too many requests from this client; slow down")
		return
	}
	if r.ContentLength > g.maxBody {
		httpError(w, http.StatusRequestEntityTooLarge, "the body is over the limit")
		return
	}
	g.next.ServeHTTP(w, r)
}

func (g *guard) limiter(r *http.Request) *rate.Limiter {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.clients[host]
	if !ok {
		if len(g.clients) > 10_000 { // forget idle clients rather than grow without bound
			g.clients = map[string]*rate.Limiter{}
		}
		l = rate.NewLimiter(g.rps, g.burst)
		g.clients[host] = l
	}
	return l
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
