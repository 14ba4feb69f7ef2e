// Package llmtest is an OpenAI-compatible chat completions server for tests
// that scripts what the "model" answers: text, tool calls, SSE streams split
// and interleaved the way real servers send them, latency, and the faults
// real backends produce (429 with Retry-After, 5xx, stalls, malformed JSON,
// mid-stream errors, truncated streams). It also answers /v1/embeddings
// with deterministic vectors (see Embedding). It runs on 127.0.0.1 only, so llm
// and agent tests need no network and no key.
package llmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandatehq/mandate/llm"
)

// DefaultModel is the model id Backend sets and /v1/models lists.
const DefaultModel = "llmtest-model"

// Server is a scripted OpenAI-compatible server. Replies are consumed one
// per chat completion request, in order; a Handler, when set, answers
// every request instead. With neither left, the server answers 500 naming
// the request, so an unexpected extra call shows up as a clear error.
// Embeddings requests never consume replies nor reach the Handler.
type Server struct {
	srv     *httptest.Server
	closing chan struct{}
	apiKey  string
	handler Handler
	latency func(i int) time.Duration

	embedDim    int
	embedStatus int

	count      atomic.Int64
	embedCount atomic.Int64
	mu         sync.Mutex
	queue      []Reply
	reqs       []Request
}

// Option configures a Server.
type Option func(*Server)

// WithReplies queues replies, consumed one per request.
func WithReplies(r ...Reply) Option {
	return func(s *Server) { s.queue = append(s.queue, r...) }
}

// WithHandler answers every request with h instead of the queue.
func WithHandler(h Handler) Option {
	return func(s *Server) { s.handler = h }
}

// WithLatency adds f(i) before the first byte of the i-th request (from 0),
// on top of the reply's own Latency: a benchmark scripts a long-tailed
// distribution with it.
func WithLatency(f func(i int) time.Duration) Option {
	return func(s *Server) { s.latency = f }
}

// WithAPIKey makes the server require "Authorization: Bearer key" and
// answer 401 otherwise. Like some real servers, the 401 message quotes the
// key it was sent, so tests can check that clients redact it.
func WithAPIKey(key string) Option {
	return func(s *Server) { s.apiKey = key }
}

// WithEmbeddingDim sets the dimension of the vectors /v1/embeddings
// answers (default DefaultEmbeddingDim).
func WithEmbeddingDim(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.embedDim = n
		}
	}
}

// WithEmbeddingStatus makes every /v1/embeddings request fail with this
// HTTP status and an OpenAI-style error body. It does not touch the reply
// queue, whose faults apply to chat completions only.
func WithEmbeddingStatus(code int) Option {
	return func(s *Server) { s.embedStatus = code }
}

// NewServer starts a server on 127.0.0.1; it is closed when the test ends.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{closing: make(chan struct{}), embedDim: DefaultEmbeddingDim}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+ChatPath, s.chat)
	mux.HandleFunc("POST "+EmbeddingsPath, s.embeddings)
	mux.HandleFunc("GET /v1/models", s.models)
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

// Close unblocks stalled and waiting requests and stops the server. It is
// called by the test's cleanup; calling it earlier is allowed.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.closing:
		s.mu.Unlock()
		return
	default:
		close(s.closing)
	}
	s.mu.Unlock()
	s.srv.Close()
}

// URL is the base URL including /v1, as llm.Backend.BaseURL takes it.
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Backend returns a backend pointing at the server, with tool support, the
// server's API key (if any), DefaultModel and DefaultEmbeddingModel.
func (s *Server) Backend(name string) llm.Backend {
	return llm.Backend{Name: name, BaseURL: s.URL(), APIKey: s.apiKey, Model: DefaultModel, Tools: true,
		EmbeddingModel: DefaultEmbeddingModel}
}

// Enqueue adds replies to the end of the script.
func (s *Server) Enqueue(r ...Reply) {
	s.mu.Lock()
	s.queue = append(s.queue, r...)
	s.mu.Unlock()
}

// Pending is the number of queued replies not yet consumed.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Requests returns the requests received so far, in order of arrival:
// chat completions and embeddings, told apart by Path.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Count is the number of chat completion requests received (embeddings
// requests not included).
func (s *Server) Count() int { return int(s.count.Load()) }

// EmbeddingCount is the number of embeddings requests received.
func (s *Server) EmbeddingCount() int { return int(s.embedCount.Load()) }

// admit records a request, counts it in counter, and answers 401 for a
// wrong key or 400 for a body that did not decode; it reports whether the
// request goes on to be answered.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, req *Request, decErr error, counter *atomic.Int64) bool {
	s.mu.Lock()
	req.Index = len(s.reqs)
	s.reqs = append(s.reqs, *req)
	s.mu.Unlock()
	counter.Add(1)

	if s.apiKey != "" && r.Header.Get("Authorization") != "Bearer "+s.apiKey {
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		writeError(w, http.StatusUnauthorized, "Incorrect API key provided: "+got+".", "invalid_request_error")
		return false
	}
	if decErr != nil {
		writeError(w, http.StatusBadRequest, "llmtest: request body: "+decErr.Error(), "invalid_request_error")
		return false
	}
	return true
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"object": "list",
		"data":   []map[string]any{{"id": DefaultModel, "object": "model", "owned_by": "llmtest"}},
	})
}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	req, decErr := decodeRequest(body)
	req.Header = r.Header.Clone()
	req.Path = r.URL.Path

	if !s.admit(w, r, &req, decErr, &s.count) {
		return
	}
	reply, ok := s.next(req)
	if !ok {
		writeError(w, http.StatusInternalServerError,
			fmt.Sprintf("llmtest: no scripted reply for request %d", req.Index), "server_error")
		return
	}

	wait := reply.Latency
	if s.latency != nil {
		wait += s.latency(req.Index)
	}
	if !s.sleep(r, wait) {
		return
	}
	for k, vs := range reply.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}

	switch {
	case reply.Status != 0:
		if reply.RetryAfter > 0 {
			secs := (reply.RetryAfter + time.Second - 1) / time.Second
			w.Header().Set("Retry-After", fmt.Sprint(int64(secs)))
		}
		msg := reply.ErrorMessage
		if msg == "" {
			msg = http.StatusText(reply.Status)
		}
		writeError(w, reply.Status, msg, errorType(reply.Status))
	case req.Stream:
		s.stream(w, r, req, reply)
	default:
		s.whole(w, r, reply)
	}
}

// next picks the reply for req: the handler's, or the head of the queue.
func (s *Server) next(req Request) (Reply, bool) {
	if s.handler != nil {
		return s.handler(req), true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return Reply{}, false
	}
	r := s.queue[0]
	s.queue = s.queue[1:]
	return r, true
}

// sleep waits d, reporting false when the client went away or the server
// is closing.
func (s *Server) sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-s.closing:
	}
	return false
}

// stall blocks until the client goes away or the server closes.
func (s *Server) stall(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.closing:
	}
}

// whole answers a non-streaming request.
func (s *Server) whole(w http.ResponseWriter, r *http.Request, reply Reply) {
	switch {
	case reply.Stall:
		s.stall(r)
		return
	case reply.MalformedJSON:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, `{"id":"chatcmpl-llmtest","choices":[{"message":{"content":%q`, reply.ErrorMessage+"oops")
		return
	case reply.MidStreamError:
		writeJSON(w, http.StatusOK, errorBody(errorMessage(reply), "server_error"))
		return
	}
	msg := map[string]any{"role": "assistant", "content": reply.Text}
	if len(reply.ToolCalls) > 0 {
		if reply.Text == "" {
			msg["content"] = nil
		}
		var calls []map[string]any
		for i, tc := range reply.ToolCalls {
			calls = append(calls, map[string]any{
				"id": callID(tc, i), "type": "function",
				"function": map[string]any{"name": tc.Name, "arguments": tc.Arguments},
			})
		}
		msg["tool_calls"] = calls
	}
	out := map[string]any{
		"id": "chatcmpl-llmtest", "object": "chat.completion", "created": time.Now().Unix(), "model": DefaultModel,
		"choices": []map[string]any{{"index": 0, "message": msg, "finish_reason": finishReason(reply)}},
	}
	if reply.Usage != nil {
		out["usage"] = reply.Usage
	}
	if reply.Truncate {
		b, _ := json.Marshal(out)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.Write(b[:len(b)/2])
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func callID(tc ToolCall, i int) string {
	if tc.ID != "" {
		return tc.ID
	}
	return fmt.Sprintf("call_%d", i)
}

func finishReason(r Reply) string {
	switch {
	case r.FinishReason != "":
		return r.FinishReason
	case len(r.ToolCalls) > 0:
		return "tool_calls"
	default:
		return "stop"
	}
}

func errorMessage(r Reply) string {
	if r.ErrorMessage != "" {
		return r.ErrorMessage
	}
	return "llmtest: scripted error"
}

func errorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case status == http.StatusPaymentRequired:
		return "insufficient_quota"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

func errorBody(msg, typ string) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}}
}

func writeError(w http.ResponseWriter, status int, msg, typ string) {
	writeJSON(w, status, errorBody(msg, typ))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
