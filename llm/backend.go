// Package llm reaches language models served by OpenAI-compatible backends,
// the decentralized GPU networks first (io.net, Akash, Morpheus, …), as
// langchaingo llms.Model values: a Client per backend, a Router that fails
// over, hedges and votes across them, and presets for the known networks.
package llm

import (
	"fmt"
	"log/slog"
	"time"
)

// Backend is one OpenAI-compatible endpoint and how to use it.
type Backend struct {
	Name    string // "ionet", "akash", or any label
	BaseURL string // up to and including /v1, e.g. https://api.example.com/v1
	APIKey  string // sent as a bearer token; never logged or printed
	Model   string // model id sent with every request
	// Tools says the backend accepts the tools parameter and returns
	// tool_calls; a backend without it is skipped for tool-using steps.
	Tools bool
	// EmbeddingModel is the model id sent to {BaseURL}/embeddings. Empty
	// means the backend offers no embeddings: CreateEmbedding returns
	// ErrNoEmbeddings without a request, and the Router skips it.
	EmbeddingModel string
}

// String redacts the key: a Backend may end up in an error or a log line.
func (b Backend) String() string {
	return fmt.Sprintf("%s (%s, model %s)", b.Name, b.BaseURL, b.Model)
}

// LogValue redacts the key in slog output.
func (b Backend) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", b.Name), slog.String("url", b.BaseURL), slog.String("model", b.Model))
}

// HTTPError is a non-2xx answer from a backend. The Router branches on it:
// 429, 402 and 5xx fail over (after RetryAfter, when given), 401 and 403
// mark the backend misconfigured.
type HTTPError struct {
	Backend    string
	Status     int
	RetryAfter time.Duration // from the Retry-After header; zero when absent
	Message    string        // the error message the backend gave, if any, shortened
}

func (e *HTTPError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = "no message"
	}
	return fmt.Sprintf("llm backend %s answered HTTP %d: %s", e.Backend, e.Status, msg)
}

// StreamError is an error event received in the middle of an SSE stream,
// after some content may already have been delivered.
type StreamError struct {
	Backend string
	Message string
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("llm backend %s reported an error mid-stream: %s", e.Backend, e.Message)
}
