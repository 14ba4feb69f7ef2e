package llm_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
)

const testKey = "sk-test-4f9c1e2b7a6d5c3e8f0a1b2c3d4e5f60"

func human(text string) []llms.MessageContent {
	return []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, text)}
}

var swapTool = llms.Tool{Type: "function", Function: &llms.FunctionDefinition{
	Name: "dex_swap", Description: "swap tokens",
	Parameters: map[string]any{"type": "object", "properties": map[string]any{"from": map[string]any{"type": "string"}}},
}}

// collect is a StreamingFunc that records the chunks it is given.
type collect struct{ chunks []string }

func (c *collect) fn(_ context.Context, b []byte) error {
	c.chunks = append(c.chunks, string(b))
	return nil
}

func TestClientText(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithAPIKey(testKey), llmtest.WithReplies(llmtest.Reply{
		Text:  "Your balance is 1.5 ETH.",
		Usage: &llmtest.Usage{PromptTokens: 12, CompletionTokens: 7, TotalTokens: 19},
	}))
	c := llm.NewClient(s.Backend("test"))
	resp, err := c.GenerateContent(t.Context(), human("balance?"), llms.WithMaxTokens(100))
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	if ch.Content != "Your balance is 1.5 ETH." || ch.StopReason != "stop" || len(ch.ToolCalls) != 0 {
		t.Errorf("choice = %+v", ch)
	}
	want := map[string]any{"PromptTokens": 12, "CompletionTokens": 7, "TotalTokens": 19}
	if !reflect.DeepEqual(ch.GenerationInfo, want) {
		t.Errorf("GenerationInfo = %v, want %v", ch.GenerationInfo, want)
	}
	req := s.Requests()[0]
	if req.Model != llmtest.DefaultModel || req.Stream || len(req.Tools) != 0 || req.MaxTokens != 100 {
		t.Errorf("request = %+v", req)
	}
	if req.Temperature != nil || req.Seed != nil || req.ToolChoice != nil {
		t.Errorf("unset options were sent: %s", req.Body)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer "+testKey {
		t.Errorf("Authorization = %q", got)
	}
	if len(req.Messages) != 1 || req.Messages[0].Role != "user" || req.Messages[0].Content != "balance?" {
		t.Errorf("messages = %+v", req.Messages)
	}
}

func TestClientCallAndOptions(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{Text: "hi"}))
	b := s.Backend("test")
	b.APIKey = ""
	c := llm.NewClient(b)
	got, err := c.Call(t.Context(), "hello", llms.WithModel("other-model"), llms.WithTemperature(0),
		llms.WithSeed(0), llms.WithStopWords([]string{"\n\n"}))
	if err != nil || got != "hi" {
		t.Fatalf("Call = %q, %v", got, err)
	}
	req := s.Requests()[0]
	if req.Model != "other-model" {
		t.Errorf("model = %q, want the call option's", req.Model)
	}
	if req.Temperature == nil || *req.Temperature != 0 || req.Seed == nil || *req.Seed != 0 {
		t.Errorf("an explicit zero temperature and seed must be sent: %s", req.Body)
	}
	if !reflect.DeepEqual(req.Stop, []string{"\n\n"}) {
		t.Errorf("stop = %q", req.Stop)
	}
	if _, ok := req.Header["Authorization"]; ok {
		t.Error("Authorization sent without a key")
	}
	if c.Backend().Name != "test" {
		t.Errorf("Backend() = %v", c.Backend())
	}
}

func TestClientToolCalls(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{ToolCalls: []llmtest.ToolCall{
		{ID: "call_a", Name: "dex_swap", Arguments: `{"from":"ETH","to":"USDC","amount":"0.5"}`},
		{ID: "call_b", Name: "wallet_balance", Arguments: `{}`},
	}}))
	c := llm.NewClient(s.Backend("test"))
	resp, err := c.GenerateContent(t.Context(), human("swap"), llms.WithTools([]llms.Tool{swapTool}), llms.WithToolChoice("auto"))
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	want := []llms.ToolCall{
		{ID: "call_a", Type: "function", FunctionCall: &llms.FunctionCall{Name: "dex_swap", Arguments: `{"from":"ETH","to":"USDC","amount":"0.5"}`}},
		{ID: "call_b", Type: "function", FunctionCall: &llms.FunctionCall{Name: "wallet_balance", Arguments: `{}`}},
	}
	if !reflect.DeepEqual(ch.ToolCalls, want) {
		t.Errorf("tool calls = %+v", ch.ToolCalls)
	}
	if ch.StopReason != "tool_calls" || ch.FuncCall == nil || ch.FuncCall.Name != "dex_swap" || ch.Content != "" {
		t.Errorf("choice = %+v", ch)
	}
	req := s.Requests()[0]
	if !reflect.DeepEqual(req.ToolNames(), []string{"dex_swap"}) || string(req.ToolChoice) != `"auto"` {
		t.Errorf("tools = %v, tool_choice = %s", req.ToolNames(), req.ToolChoice)
	}
	if req.Tools[0].Type != "function" || !strings.Contains(string(req.Tools[0].Parameters), `"properties"`) {
		t.Errorf("tool = %+v", req.Tools[0])
	}
}

// TestClientMessages checks how each langchaingo message and part maps to
// the wire: roles, assistant tool calls with null content, one tool message
// per result with its tool_call_id.
func TestClientMessages(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{Text: "done"}))
	c := llm.NewClient(s.Backend("test"))
	msgs := []llms.MessageContent{
		llms.TextParts(llms.ChatMessageTypeSystem, "You trade carefully."),
		llms.TextParts(llms.ChatMessageTypeHuman, "swap 0.5 ETH", "and check my balance"),
		{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{
			llms.ToolCall{ID: "call_1", Type: "function", FunctionCall: &llms.FunctionCall{Name: "dex_swap", Arguments: `{"amount":"0.5"}`}},
			llms.ToolCall{ID: "call_2", Type: "function", FunctionCall: &llms.FunctionCall{Name: "wallet_balance"}},
		}},
		{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
			llms.ToolCallResponse{ToolCallID: "call_1", Name: "dex_swap", Content: `{"status":"denied"}`},
			llms.ToolCallResponse{ToolCallID: "call_2", Name: "wallet_balance", Content: `{"ETH":"1.5"}`},
		}},
	}
	if _, err := c.GenerateContent(t.Context(), msgs); err != nil {
		t.Fatal(err)
	}
	got := s.Requests()[0].Messages
	want := []llmtest.Message{
		{Role: "system", Content: "You trade carefully."},
		{Role: "user", Content: "swap 0.5 ETH\nand check my balance"},
		{Role: "assistant", ContentNull: true, ToolCalls: []llmtest.ToolCall{
			{ID: "call_1", Name: "dex_swap", Arguments: `{"amount":"0.5"}`},
			{ID: "call_2", Name: "wallet_balance", Arguments: `{}`},
		}},
		{Role: "tool", Content: `{"status":"denied"}`, ToolCallID: "call_1", Name: "dex_swap"},
		{Role: "tool", Content: `{"ETH":"1.5"}`, ToolCallID: "call_2", Name: "wallet_balance"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("messages:\n got %+v\nwant %+v", got, want)
	}

	bad := []llms.MessageContent{{Role: llms.ChatMessageTypeHuman, Parts: []llms.ContentPart{
		llms.ToolCall{ID: "x", FunctionCall: &llms.FunctionCall{Name: "f"}}}}}
	if _, err := c.GenerateContent(t.Context(), bad); err == nil {
		t.Error("a tool call in a user message was accepted")
	}
}

func TestClientStreamText(t *testing.T) {
	text := "Swapping 0.5 ETH for at least 1,480 USDC — ünïcödé survives splitting."
	s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{
		Text: text, Chunks: 9, KeepAlives: true,
		Usage: &llmtest.Usage{PromptTokens: 3, CompletionTokens: 9, TotalTokens: 12},
	}))
	c := llm.NewClient(s.Backend("test"))
	var got collect
	resp, err := c.GenerateContent(t.Context(), human("go"), llms.WithStreamingFunc(got.fn))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.chunks) != 9 || strings.Join(got.chunks, "") != text {
		t.Errorf("streamed %d chunks %q", len(got.chunks), got.chunks)
	}
	ch := resp.Choices[0]
	if ch.Content != text || ch.StopReason != "stop" || ch.GenerationInfo["TotalTokens"] != 12 {
		t.Errorf("choice = %+v", ch)
	}
	req := s.Requests()[0]
	if !req.Stream || !req.IncludeUsage {
		t.Errorf("stream = %v, include_usage = %v", req.Stream, req.IncludeUsage)
	}
}

// TestClientStreamToolCalls is the case langchaingo's openai client gets
// wrong: arguments split over many deltas, two calls interleaved, the id,
// type and name only in each call's first delta.
func TestClientStreamToolCalls(t *testing.T) {
	calls := []llmtest.ToolCall{
		{ID: "call_swap", Name: "dex_swap", Arguments: `{"from":"ETH","to":"USDC","amount":"0.5","slippage_bps":50}`},
		{ID: "call_bal", Name: "wallet_balance", Arguments: `{"token":"USDC"}`},
	}
	for _, interleave := range []bool{false, true} {
		s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{Text: "Let me do that.", ToolCalls: calls, Chunks: 7, Interleave: interleave}))
		c := llm.NewClient(s.Backend("test"))
		var got collect
		resp, err := c.GenerateContent(t.Context(), human("swap"), llms.WithStreamingFunc(got.fn), llms.WithTools([]llms.Tool{swapTool}))
		if err != nil {
			t.Fatal(err)
		}
		ch := resp.Choices[0]
		if len(ch.ToolCalls) != 2 {
			t.Fatalf("interleave=%v: %d tool calls: %+v", interleave, len(ch.ToolCalls), ch.ToolCalls)
		}
		for i, tc := range ch.ToolCalls {
			w := calls[i]
			if tc.ID != w.ID || tc.Type != "function" || tc.FunctionCall.Name != w.Name || tc.FunctionCall.Arguments != w.Arguments {
				t.Errorf("interleave=%v: call %d = %+v %+v, want %+v", interleave, i, tc, tc.FunctionCall, w)
			}
		}
		if ch.StopReason != "tool_calls" || ch.Content != "Let me do that." || ch.FuncCall.Name != "dex_swap" {
			t.Errorf("choice = %+v", ch)
		}
		if ch.GenerationInfo != nil {
			t.Errorf("usage was not sent, yet GenerationInfo = %v", ch.GenerationInfo)
		}
	}
}

func TestClientStreamNoDone(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{Text: "ok", NoDone: true}))
	var got collect
	resp, err := llm.NewClient(s.Backend("test")).GenerateContent(t.Context(), human("x"), llms.WithStreamingFunc(got.fn))
	if err != nil || resp.Choices[0].Content != "ok" {
		t.Fatalf("a stream with finish_reason but no [DONE] is complete: %v", err)
	}
}

func TestClientLongSSELine(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithReplies(
		llmtest.Reply{Text: strings.Repeat("a", 900<<10)},
		llmtest.Reply{Text: strings.Repeat("b", 2<<20)},
		llmtest.Reply{Text: strings.Repeat("c", 2<<20)},
	))
	var got collect
	resp, err := llm.NewClient(s.Backend("test")).GenerateContent(t.Context(), human("x"), llms.WithStreamingFunc(got.fn))
	if err != nil {
		t.Fatalf("900 KiB line: %v", err)
	}
	if len(resp.Choices[0].Content) != 900<<10 {
		t.Errorf("content length %d", len(resp.Choices[0].Content))
	}

	_, err = llm.NewClient(s.Backend("test")).GenerateContent(t.Context(), human("x"), llms.WithStreamingFunc(got.fn))
	if !errors.Is(err, llm.ErrMalformedResponse) || !strings.Contains(err.Error(), "SSE line is longer than 1048576 bytes") {
		t.Errorf("2 MiB line: err = %v", err)
	}

	_, err = llm.NewClient(s.Backend("test"), llm.WithMaxLineBytes(3<<20)).GenerateContent(t.Context(), human("x"), llms.WithStreamingFunc(got.fn))
	if err != nil {
		t.Errorf("2 MiB line with a 3 MiB limit: %v", err)
	}
}

func TestClientMidStreamError(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{
		Text: "partial answer", Chunks: 4, FailAfter: 2, MidStreamError: true, ErrorMessage: "model overloaded",
	}))
	var got collect
	_, err := llm.NewClient(s.Backend("ionet")).GenerateContent(t.Context(), human("x"), llms.WithStreamingFunc(got.fn))
	var se *llm.StreamError
	if !errors.As(err, &se) || se.Backend != "ionet" || se.Message != "model overloaded" {
		t.Fatalf("err = %v, want *StreamError", err)
	}
	if len(got.chunks) != 2 {
		t.Errorf("delivered %q before the error, want 2 chunks", got.chunks)
	}
}

func TestClientMissingUsage(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{Text: "a"}, llmtest.Reply{Text: "b"}))
	c := llm.NewClient(s.Backend("test"))
	var got collect
	for _, opts := range [][]llms.CallOption{nil, {llms.WithStreamingFunc(got.fn)}} {
		resp, err := c.GenerateContent(t.Context(), human("x"), opts...)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"PromptTokens", "CompletionTokens", "TotalTokens"} {
			if v, ok := resp.Choices[0].GenerationInfo[k]; ok {
				t.Errorf("stream=%v: %s = %v, want absent (unknown)", opts != nil, k, v)
			}
		}
	}
}

func TestClientHTTPErrors(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name       string
		reply      llmtest.Reply
		status     int
		retryAfter func(time.Duration) bool
		message    string
	}{
		{"429 seconds", llmtest.Reply{Status: 429, RetryAfter: 7 * time.Second, ErrorMessage: "Rate limit reached"},
			429, func(d time.Duration) bool { return d == 7*time.Second }, "Rate limit reached"},
		{"429 date", llmtest.Reply{Status: 429, Header: http.Header{"Retry-After": {date}}},
			429, func(d time.Duration) bool { return d > 0 && d <= 90*time.Second }, "Too Many Requests"},
		{"402", llmtest.Reply{Status: 402, ErrorMessage: "insufficient credits"}, 402, nil, "insufficient credits"},
		{"500", llmtest.Reply{Status: 500}, 500, nil, "Internal Server Error"},
		{"503", llmtest.Reply{Status: 503}, 503, nil, "Service Unavailable"},
		{"long message", llmtest.Reply{Status: 400, ErrorMessage: strings.Repeat("x", 5000)}, 400, nil, strings.Repeat("x", 200) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := llmtest.NewServer(t, llmtest.WithReplies(tt.reply))
			for _, stream := range []bool{false, true} {
				s.Enqueue(tt.reply)
				var opts []llms.CallOption
				if stream {
					opts = append(opts, llms.WithStreamingFunc(new(collect).fn))
				}
				_, err := llm.NewClient(s.Backend("akash")).GenerateContent(t.Context(), human("x"), opts...)
				var he *llm.HTTPError
				if !errors.As(err, &he) {
					t.Fatalf("stream=%v: err = %v, want *HTTPError", stream, err)
				}
				if he.Status != tt.status || he.Backend != "akash" || he.Message != tt.message {
					t.Errorf("stream=%v: %+v", stream, he)
				}
				if tt.retryAfter == nil && he.RetryAfter != 0 || tt.retryAfter != nil && !tt.retryAfter(he.RetryAfter) {
					t.Errorf("stream=%v: RetryAfter = %v", stream, he.RetryAfter)
				}
			}
		})
	}
}

func TestClientUnauthorized(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithAPIKey("the-right-key"))
	b := s.Backend("venice")
	b.APIKey = testKey
	_, err := llm.NewClient(b).GenerateContent(t.Context(), human("x"))
	var he *llm.HTTPError
	if !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want 401", err)
	}
	if strings.Contains(err.Error(), testKey) || !strings.Contains(he.Message, "[redacted]") {
		t.Errorf("the server quoted the key; it must be redacted: %v", err)
	}
}

func TestClientMalformed(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithReplies(
		llmtest.Reply{MalformedJSON: true},
		llmtest.Reply{Text: "abc", Chunks: 3, FailAfter: 1, MalformedJSON: true},
		llmtest.Reply{Text: "abc", Truncate: true},
	))
	c := llm.NewClient(s.Backend("test"))
	for i, opts := range [][]llms.CallOption{nil, {llms.WithStreamingFunc(new(collect).fn)}, nil} {
		_, err := c.GenerateContent(t.Context(), human("x"), opts...)
		if !errors.Is(err, llm.ErrMalformedResponse) || !strings.Contains(err.Error(), "invalid JSON") {
			t.Errorf("reply %d: err = %v, want ErrMalformedResponse", i, err)
		}
	}
}

func TestClientTruncatedStream(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithReplies(
		llmtest.Reply{Text: "half an answ", Chunks: 4, FailAfter: 2, Truncate: true},
		llmtest.Reply{Truncate: true},
	))
	c := llm.NewClient(s.Backend("test"))
	for i := range 2 {
		var got collect
		resp, err := c.GenerateContent(t.Context(), human("x"), llms.WithStreamingFunc(got.fn))
		if !errors.Is(err, llm.ErrStreamTruncated) || resp != nil {
			t.Errorf("reply %d: resp = %v, err = %v, want ErrStreamTruncated", i, resp, err)
		}
	}
}

// TestClientCancelStall checks that cancelling the context frees a caller
// stuck on a backend that accepted the request and went silent, before the
// headers and in the middle of a stream. No timing: if the cancel did not
// reach the request, the test would hang.
func TestClientCancelStall(t *testing.T) {
	for _, stream := range []bool{false, true} {
		arrived := make(chan struct{}, 1)
		s := llmtest.NewServer(t, llmtest.WithHandler(func(req llmtest.Request) llmtest.Reply {
			arrived <- struct{}{}
			return llmtest.Reply{Text: "abcd", Chunks: 4, FailAfter: 2, Stall: true}
		}))
		ctx, cancel := context.WithCancel(t.Context())
		var opts []llms.CallOption
		delivered := make(chan struct{}, 4)
		if stream {
			opts = append(opts, llms.WithStreamingFunc(func(context.Context, []byte) error {
				delivered <- struct{}{}
				return nil
			}))
		}
		errc := make(chan error, 1)
		go func() {
			_, err := llm.NewClient(s.Backend("test")).GenerateContent(ctx, human("x"), opts...)
			errc <- err
		}()
		<-arrived
		if stream {
			<-delivered
			<-delivered // the stream is now stalled after two deltas
		}
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("stream=%v: err = %v, want context.Canceled", stream, err)
		}
	}
}

func TestClientStreamingFuncError(t *testing.T) {
	s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{Text: "abcdef", Chunks: 3}))
	stop := errors.New("enough")
	n := 0
	_, err := llm.NewClient(s.Backend("test")).GenerateContent(t.Context(), human("x"),
		llms.WithStreamingFunc(func(context.Context, []byte) error { n++; return stop }))
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("err = %v after %d chunks, want the callback's error after 1", err, n)
	}
}

func TestClientConnectionError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	b := llm.Backend{Name: "morpheus", BaseURL: "http://" + addr + "/v1", APIKey: testKey, Model: "m"}
	_, err = llm.NewClient(b).GenerateContent(t.Context(), human("x"))
	if err == nil || !strings.HasPrefix(err.Error(), "llm backend morpheus: ") {
		t.Errorf("err = %v, want one naming the backend", err)
	}
	var he *llm.HTTPError
	if errors.As(err, &he) {
		t.Error("a connection error is not an HTTPError")
	}
}

// TestClientKeyNeverInErrors runs every fault against a server that quotes
// the key back in whatever it says.
func TestClientKeyNeverInErrors(t *testing.T) {
	quote := "leaked " + testKey + " here"
	faults := map[string]llmtest.Reply{
		"401":            {Status: 401, ErrorMessage: quote},
		"429":            {Status: 429, RetryAfter: time.Second, ErrorMessage: quote},
		"500":            {Status: 500, ErrorMessage: quote},
		"200 error":      {MidStreamError: true, ErrorMessage: quote},
		"mid-stream":     {Text: "abc", Chunks: 3, FailAfter: 1, MidStreamError: true, ErrorMessage: quote},
		"malformed":      {MalformedJSON: true, ErrorMessage: quote},
		"malformed sse":  {Text: "abc", Chunks: 3, FailAfter: 1, MalformedJSON: true, ErrorMessage: quote},
		"truncated":      {Text: "abc", Chunks: 3, FailAfter: 1, Truncate: true},
		"truncated json": {Text: quote, Truncate: true},
	}
	for name, reply := range faults {
		for _, stream := range []bool{false, true} {
			s := llmtest.NewServer(t, llmtest.WithReplies(reply))
			b := s.Backend("test")
			b.APIKey = testKey
			var opts []llms.CallOption
			if stream {
				opts = append(opts, llms.WithStreamingFunc(new(collect).fn))
			}
			_, err := llm.NewClient(b).GenerateContent(t.Context(), human("x"), opts...)
			if err == nil {
				t.Errorf("%s stream=%v: no error", name, stream)
				continue
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("%s stream=%v: key in error: %v", name, stream, err)
			}
			var he *llm.HTTPError
			if errors.As(err, &he) && strings.Contains(he.Message, testKey) {
				t.Errorf("%s stream=%v: key in HTTPError.Message", name, stream)
			}
			var se *llm.StreamError
			if errors.As(err, &se) && strings.Contains(se.Message, testKey) {
				t.Errorf("%s stream=%v: key in StreamError.Message", name, stream)
			}
		}
	}
	// Stalled requests end through the context; their error is checked too.
	s := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{Stall: true}))
	b := s.Backend("test")
	b.APIKey = testKey
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := llm.NewClient(b).GenerateContent(ctx, human("x")); err == nil || strings.Contains(err.Error(), testKey) {
		t.Errorf("stall: err = %v", err)
	}
}
