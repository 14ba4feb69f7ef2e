package cosigner

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"golang.org/x/time/rate"

	"github.com/mandatehq/mandate/chains/evm/safe"
)

// HandlerOption configures Handler.
type HandlerOption func(*handler)

// WithDeadline bounds each review; past it the answer is retry (default 10 s).
func WithDeadline(d time.Duration) HandlerOption { return func(h *handler) { h.deadline = d } }

// WithRateLimit allows each client (by IP address) perSecond reviews with
// bursts of burst (default 20/s, burst 40).
func WithRateLimit(perSecond float64, burst int) HandlerOption {
	return func(h *handler) { h.rps, h.burst = rate.Limit(perSecond), burst }
}

// WithMaxBody limits the request body (default 1 MiB).
func WithMaxBody(n int64) HandlerOption { return func(h *handler) { h.maxBody = n } }

// WithHandlerLogger logs requests to l.
func WithHandlerLogger(l *slog.Logger) HandlerOption { return func(h *handler) { h.log = l } }

type handler struct {
	r        *Reviewer
	token    []byte
	deadline time.Duration
	rps      rate.Limit
	burst    int
	maxBody  int64
	log      *slog.Logger

	mu      sync.Mutex
	clients map[string]*rate.Limiter
}

// Handler serves POST /v1/review: the body is one transaction in the
// Transaction Service's shape with its "safe" field; the answer is the
// Decision as JSON, 200 for approve and reject alike. A malformed request
// gets 400, a missing or wrong bearer token 401, a client over its rate
// 429, and a review that could not finish (deadline, a dependency down)
// 503 with {"decision":"retry"}. token must be long and random; it is
// compared in constant time.
func Handler(r *Reviewer, token string, opts ...HandlerOption) (http.Handler, error) {
	if len(token) < 16 {
		return nil, errors.New("cosigner: the bearer token must be at least 16 characters (use a random one)")
	}
	h := &handler{r: r, token: []byte(token), deadline: 10 * time.Second, rps: 20, burst: 40, maxBody: 1 << 20,
		log: slog.New(slog.DiscardHandler), clients: map[string]*rate.Limiter{}}
	for _, o := range opts {
		o(h)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/review", h.review)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *handler) limiter(r *http.Request) *rate.Limiter {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.clients[host]
	if !ok {
		if len(h.clients) > 10_000 { // forget idle clients rather than grow without bound
			h.clients = map[string]*rate.Limiter{}
		}
		l = rate.NewLimiter(h.rps, h.burst)
		h.clients[host] = l
	}
	return l
}

func (h *handler) authorized(r *http.Request) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), h.token) == 1
}

// request is the body of POST /v1/review.
type request struct {
	safe.ServiceTx
}

func (h *handler) review(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	if !h.authorized(r) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
		return
	}
	if !h.limiter(r).Allow() {
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many reviews from this client; slow down"})
		return
	}
	var req request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err := dec.Decode(&req); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("the body is over %d bytes", h.maxBody)})
			return
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body is not a transaction in the Safe Transaction Service's JSON shape: " + err.Error()})
		return
	}
	if !common.IsHexAddress(req.Safe) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `"safe" must be the Safe's address`})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.deadline)
	defer cancel()
	d, err := h.r.Review(ctx, common.HexToAddress(req.Safe), req.ServiceTx)
	var in *InputError
	switch {
	case errors.As(err, &in):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case err != nil:
		h.log.Warn("review not finished", slog.String("error", err.Error()))
		w.Header().Set("Retry-After", "2")
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"decision": Retry, "error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, d)
	}
}
