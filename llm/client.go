package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tmc/langchaingo/llms"
)

// DefaultMaxLineBytes bounds one SSE line. Servers put a whole tool call's
// arguments, or a long reasoning block, in a single data line, so the
// bufio.Scanner default of 64 KiB is too small for real traffic; 1 MiB keeps
// a hostile server from making us buffer without limit.
const DefaultMaxLineBytes = 1 << 20

// maxBodyBytes bounds a non-streamed response body for the same reason.
const maxBodyBytes = 32 << 20

// ErrMalformedResponse is wrapped by errors about a 2xx answer the client
// cannot read: invalid JSON, no choices, an SSE line over the limit. It marks
// a broken backend (worth failing over), not a refusal.
var ErrMalformedResponse = errors.New("malformed response")

// ErrStreamTruncated is wrapped by the error for an SSE stream that ended
// without [DONE] and without a finish_reason: the answer may be incomplete,
// so it is not returned as if it were whole.
var ErrStreamTruncated = errors.New("stream ended before the answer was complete")

// Client talks to one OpenAI-compatible backend over its chat completions
// endpoint and is an llms.Model. It is our own wire client rather than
// langchaingo's openai package, whose streamed tool calls break on real
// servers (deltas merged by type instead of index, 64 KiB SSE lines, usage
// reported as zero when absent). A Client is safe for concurrent use.
type Client struct {
	b        Backend
	endpoint string
	http     *http.Client
	log      *slog.Logger
	maxLine  int
}

var _ llms.Model = (*Client)(nil)

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithHTTPClient sets the HTTP client (transport, proxy, TLS). Leave its
// Timeout at zero for streaming use: bound calls with the context instead,
// since a Timeout also cuts a healthy stream that is still producing.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(c *Client) {
		if hc != nil {
			c.http = hc
		}
	}
}

// WithLogger sets the logger; requests and failures are logged at Debug
// level, never with the API key.
func WithLogger(l *slog.Logger) ClientOption {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

// WithMaxLineBytes sets the longest SSE line accepted (default 1 MiB).
func WithMaxLineBytes(n int) ClientOption {
	return func(c *Client) {
		if n > 0 {
			c.maxLine = n
		}
	}
}

// defaultHTTPClient keeps more idle connections per host than
// http.DefaultTransport (2), since agents and hedged requests talk to the
// same few backends concurrently.
var defaultHTTPClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	return &http.Client{Transport: t}
}()

// NewClient returns a client for b. b.BaseURL includes the version path
// (".../v1"); requests go to {BaseURL}/chat/completions.
func NewClient(b Backend, opts ...ClientOption) *Client {
	c := &Client{
		b:        b,
		endpoint: strings.TrimRight(b.BaseURL, "/") + "/chat/completions",
		http:     defaultHTTPClient,
		log:      slog.Default(),
		maxLine:  DefaultMaxLineBytes,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Backend returns the backend this client talks to.
func (c *Client) Backend() Backend { return c.b }

// Call sends one user prompt and returns the text of the answer.
func (c *Client) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, c, prompt, opts...)
}

// GenerateContent sends messages to the backend's chat completions endpoint.
// With llms.WithStreamingFunc it streams: text deltas reach the function as
// they arrive and the assembled response is returned at the end.
//
// Errors: *HTTPError for a non-2xx answer, *StreamError for an error event
// mid-stream, ErrMalformedResponse and ErrStreamTruncated (wrapped) for
// answers that cannot be trusted, and the context's error when ctx ends.
// No error carries the API key.
func (c *Client) GenerateContent(ctx context.Context, messages []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	resp, err := c.generate(ctx, messages, opts)
	if err != nil {
		err = c.redact(err)
		c.log.LogAttrs(ctx, slog.LevelDebug, "llm request failed", slog.Any("backend", c.b), slog.String("err", err.Error()))
		return nil, err
	}
	return resp, nil
}

func (c *Client) generate(ctx context.Context, messages []llms.MessageContent, opts []llms.CallOption) (*llms.ContentResponse, error) {
	co := newCallOptions(opts)
	req, err := buildRequest(c.b.Model, messages, &co)
	if err != nil {
		return nil, fmt.Errorf("llm backend %s: %w", c.b.Name, err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("llm backend %s: encoding request: %w", c.b.Name, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("llm backend %s: %w", c.b.Name, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	if req.Stream {
		hreq.Header.Set("Accept", "text/event-stream")
	} else {
		hreq.Header.Set("Accept", "application/json")
	}
	if c.b.APIKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.b.APIKey)
	}

	start := time.Now()
	c.log.LogAttrs(ctx, slog.LevelDebug, "llm request", slog.Any("backend", c.b), slog.String("model", req.Model),
		slog.Int("messages", len(req.Messages)), slog.Int("tools", len(req.Tools)), slog.Bool("stream", req.Stream))
	hresp, err := c.http.Do(hreq)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer hresp.Body.Close()
	if hresp.StatusCode < 200 || hresp.StatusCode > 299 {
		return nil, c.httpError(hresp)
	}

	var out *llms.ContentResponse
	// Some servers ignore stream:true and answer with one JSON document;
	// read that as a whole answer and hand its text to the stream callback.
	if req.Stream && !strings.HasPrefix(hresp.Header.Get("Content-Type"), "application/json") {
		out, err = c.readStream(ctx, hresp.Body, &co)
	} else {
		out, err = c.readJSON(ctx, hresp.Body)
		if err == nil && req.Stream && out.Choices[0].Content != "" {
			if cbErr := co.StreamingFunc(ctx, []byte(out.Choices[0].Content)); cbErr != nil {
				return nil, fmt.Errorf("llm backend %s: streaming callback: %w", c.b.Name, cbErr)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "llm response", slog.Any("backend", c.b), slog.Duration("took", time.Since(start)),
		slog.String("finish", out.Choices[0].StopReason), slog.Int("tool_calls", len(out.Choices[0].ToolCalls)))
	return out, nil
}

// readJSON decodes a non-streamed answer.
func (c *Client) readJSON(ctx context.Context, body io.Reader) (*llms.ContentResponse, error) {
	data, err := io.ReadAll(io.LimitReader(body, maxBodyBytes+1))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if len(data) > maxBodyBytes {
		return nil, fmt.Errorf("llm backend %s: response body over %d bytes: %w", c.b.Name, maxBodyBytes, ErrMalformedResponse)
	}
	var r chatResponse
	if err := json.Unmarshal(data, &r); err != nil {
		// Redact before cutting, so a key cut in half cannot slip through.
		head := data[:min(len(data), 4096+len(c.b.APIKey))]
		return nil, fmt.Errorf("llm backend %s: %w: invalid JSON (%v) in body starting %q",
			c.b.Name, ErrMalformedResponse, err, shorten(c.clean(string(head)), 80))
	}
	if r.Error != nil {
		// A 200 carrying an error object: some gateways do this.
		return nil, &StreamError{Backend: c.b.Name, Message: c.clean(errorMessage(r.Error))}
	}
	if len(r.Choices) == 0 {
		return nil, fmt.Errorf("llm backend %s: %w: no choices in the answer", c.b.Name, ErrMalformedResponse)
	}
	ch := r.Choices[0]
	choice := &llms.ContentChoice{
		Content:          ch.Message.Content,
		StopReason:       ch.FinishReason,
		ReasoningContent: ch.Message.ReasoningContent,
	}
	for i, tc := range ch.Message.ToolCalls {
		args, err := tc.Function.Arguments.text()
		if err != nil {
			return nil, fmt.Errorf("llm backend %s: %w: tool call %d arguments: %v", c.b.Name, ErrMalformedResponse, i, err)
		}
		choice.ToolCalls = append(choice.ToolCalls, llms.ToolCall{
			ID:           tc.ID,
			Type:         "function",
			FunctionCall: &llms.FunctionCall{Name: tc.Function.Name, Arguments: args},
		})
	}
	finishChoice(choice, r.Usage)
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{choice}}, nil
}

// finishChoice fills what langchaingo callers expect beyond the wire data:
// FuncCall mirrors the first tool call, and token counts appear only when
// the backend reported usage (absent means unknown, not zero).
// A tool call without an id (some small servers send none) gets "call_<i>",
// so the tool result the agent sends back can still name its call.
func finishChoice(ch *llms.ContentChoice, u *wireUsage) {
	for i := range ch.ToolCalls {
		if ch.ToolCalls[i].ID == "" {
			ch.ToolCalls[i].ID = "call_" + strconv.Itoa(i)
		}
	}
	if len(ch.ToolCalls) > 0 {
		ch.FuncCall = ch.ToolCalls[0].FunctionCall
	}
	if u == nil {
		return
	}
	total := u.TotalTokens
	if total == 0 {
		total = u.PromptTokens + u.CompletionTokens
	}
	ch.GenerationInfo = map[string]any{
		"PromptTokens":     u.PromptTokens,
		"CompletionTokens": u.CompletionTokens,
		"TotalTokens":      total,
	}
}

// transportError wraps a failure to reach or read from the backend. When the
// context ended, its error is what the caller branches on, so it is wrapped
// too (errors.Is(err, context.Canceled) holds).
func (c *Client) transportError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("llm backend %s: %w (%v)", c.b.Name, cerr, err)
	}
	return fmt.Errorf("llm backend %s: %w", c.b.Name, err)
}

// httpError turns a non-2xx answer into *HTTPError.
func (c *Client) httpError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := ""
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(data, &e) == nil {
		switch {
		case len(e.Error) > 0 && string(e.Error) != "null":
			msg = errorMessage(e.Error)
		case e.Message != "":
			msg = e.Message
		case len(e.Detail) > 0:
			msg = errorMessage(e.Detail)
		}
	}
	if msg == "" {
		msg = string(data)
	}
	return &HTTPError{
		Backend:    c.b.Name,
		Status:     resp.StatusCode,
		RetryAfter: retryAfter(resp.Header, time.Now()),
		Message:    c.clean(msg),
	}
}

// errorMessage reads the OpenAI error shape {"message": ...} or a bare string.
func errorMessage(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    any    `json:"code"`
	}
	if json.Unmarshal(raw, &o) == nil && o.Message != "" {
		return o.Message
	}
	return string(raw)
}

// retryAfter reads Retry-After (seconds or an HTTP date) and OpenAI's
// retry-after-ms, which is more precise when both are present.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// clean prepares text from the backend for an error: the key removed,
// whitespace collapsed, shortened to about 200 characters.
func (c *Client) clean(s string) string {
	if c.b.APIKey != "" {
		s = strings.ReplaceAll(s, c.b.APIKey, "[redacted]")
	}
	return shorten(strings.Join(strings.Fields(s), " "), 200)
}

// shorten cuts s to at most n runes, marking the cut.
func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// redact makes sure no error leaving the client spells the API key, even
// one from the transport that quotes a URL or a server's words; the
// original stays reachable through errors.Is and errors.As.
func (c *Client) redact(err error) error {
	if c.b.APIKey == "" || !strings.Contains(err.Error(), c.b.APIKey) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), c.b.APIKey, "[redacted]"), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
