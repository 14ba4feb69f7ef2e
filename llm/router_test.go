package llm_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
)

// syncBuffer collects log output written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// backend starts an llmtest server and returns it with the Named entry a
// real Client makes for it.
func backend(t testing.TB, name string, opts ...llmtest.Option) (*llmtest.Server, llm.Named) {
	t.Helper()
	s := llmtest.NewServer(t, opts...)
	return s, llm.Route(s.Backend(name))
}

func ask(text string) []llms.MessageContent {
	return []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, text)}
}

func answerText(t *testing.T, resp *llms.ContentResponse) string {
	t.Helper()
	if resp == nil || len(resp.Choices) == 0 {
		t.Fatalf("empty response %+v", resp)
	}
	return resp.Choices[0].Content
}

func healthOf(t *testing.T, r *llm.Router, name string) llm.BackendHealth {
	t.Helper()
	for _, h := range r.Health() {
		if h.Name == name {
			return h
		}
	}
	t.Fatalf("no backend %q in %+v", name, r.Health())
	return llm.BackendHealth{}
}

var transferTool = []llms.Tool{{Type: "function", Function: &llms.FunctionDefinition{
	Name: "wallet_transfer", Description: "send tokens",
	Parameters: map[string]any{"type": "object", "properties": map[string]any{
		"to": map[string]any{"type": "string"}, "token": map[string]any{"type": "string"}, "amount": map[string]any{"type": "string"},
	}},
}}}

func TestRouterFailsOverOn503(t *testing.T) {
	a, na := backend(t, "ionet", llmtest.WithReplies(llmtest.Reply{Status: 503}))
	b, nb := backend(t, "akash", llmtest.WithReplies(llmtest.Reply{Text: "from akash"}))
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))

	resp, err := r.GenerateContent(t.Context(), ask("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if got := answerText(t, resp); got != "from akash" {
		t.Fatalf("answer %q, want the second backend's", got)
	}
	if a.Count() != 1 || b.Count() != 1 {
		t.Fatalf("requests: ionet %d akash %d, want 1 and 1", a.Count(), b.Count())
	}
	h := healthOf(t, r, "ionet")
	if h.State != llm.StateCooldown || h.Failures != 1 || !strings.Contains(h.LastError, "503") {
		t.Fatalf("ionet health after a 503: %+v", h)
	}
	if h := healthOf(t, r, "akash"); h.State != llm.StateOK || h.Samples != 1 {
		t.Fatalf("akash health: %+v", h)
	}
}

func TestRouterAllFailReturnsEveryError(t *testing.T) {
	_, na := backend(t, "ionet", llmtest.WithReplies(llmtest.Reply{Status: 502}))
	_, nb := backend(t, "akash", llmtest.WithReplies(llmtest.Reply{Status: 429, RetryAfter: time.Minute}))
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))

	_, err := r.GenerateContent(t.Context(), ask("hi"))
	var fe *llm.FailoverError
	if !errors.As(err, &fe) || len(fe.Errs) != 2 {
		t.Fatalf("err = %v, want a FailoverError with two attempts", err)
	}
	var he *llm.HTTPError
	if !errors.As(err, &he) || he.Status != 502 {
		t.Fatalf("errors.As(HTTPError) = %+v, want the first attempt's 502", he)
	}
}

func TestRouterRetryAfterCooldown(t *testing.T) {
	a, na := backend(t, "ionet", llmtest.WithReplies(llmtest.Reply{Status: 429, RetryAfter: 120 * time.Second}))
	b, nb := backend(t, "akash", llmtest.WithHandler(func(llmtest.Request) llmtest.Reply { return llmtest.Reply{Text: "ok"} }))
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))

	before := time.Now()
	for i := range 2 {
		if _, err := r.GenerateContent(t.Context(), ask("hi")); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if a.Count() != 1 {
		t.Fatalf("ionet got %d requests; in cooldown it must be skipped", a.Count())
	}
	if b.Count() != 2 {
		t.Fatalf("akash got %d requests, want 2", b.Count())
	}
	h := healthOf(t, r, "ionet")
	if h.State != llm.StateCooldown || h.CooldownUntil.Before(before.Add(119*time.Second)) {
		t.Fatalf("ionet health %+v: want cooldown honoring Retry-After 120s", h)
	}
}

func TestRouterCooldownUsedWhenAllCooling(t *testing.T) {
	a, na := backend(t, "ionet", llmtest.WithReplies(llmtest.Reply{Status: 503}, llmtest.Reply{Text: "ionet again"}))
	_, nb := backend(t, "akash", llmtest.WithReplies(llmtest.Reply{Status: 503}))
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))
	if _, err := r.GenerateContent(t.Context(), ask("hi")); err == nil {
		t.Fatal("both failed, want an error")
	}
	// Both cool down; a request is still tried rather than refused.
	resp, err := r.GenerateContent(t.Context(), ask("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if got := answerText(t, resp); got != "ionet again" || a.Count() != 2 {
		t.Fatalf("answer %q after %d ionet requests", got, a.Count())
	}
}

func TestRouterMisconfiguredOnce(t *testing.T) {
	const wrongKey = "sk-wrong-0123456789abcdef"
	a, na := backend(t, "ionet", llmtest.WithAPIKey("sk-right"))
	be := a.Backend("ionet")
	be.APIKey = wrongKey
	na = llm.Route(be)
	b, nb := backend(t, "akash", llmtest.WithHandler(func(llmtest.Request) llmtest.Reply { return llmtest.Reply{Text: "ok"} }))
	var logs syncBuffer
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(slog.New(slog.NewTextHandler(&logs, nil))))

	for i := range 3 {
		if _, err := r.GenerateContent(t.Context(), ask("hi")); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	if a.Count() != 1 || b.Count() != 3 {
		t.Fatalf("requests: ionet %d akash %d; a refused key must be tried once", a.Count(), b.Count())
	}
	out := logs.String()
	if n := strings.Count(out, "refused its credentials"); n != 1 {
		t.Fatalf("logged %d times, want once:\n%s", n, out)
	}
	if !strings.Contains(out, "IOINTELLIGENCE_API_KEY") || !strings.Contains(out, "level=WARN") {
		t.Fatalf("log does not name the key variable at Warn:\n%s", out)
	}
	if strings.Contains(out, wrongKey) {
		t.Fatalf("log spells the key:\n%s", out)
	}
	h := healthOf(t, r, "ionet")
	if h.State != llm.StateMisconfigured || strings.Contains(h.LastError, wrongKey) {
		t.Fatalf("ionet health %+v", h)
	}
}

func TestRouterNoFailoverAfterFirstToken(t *testing.T) {
	_, na := backend(t, "ionet", llmtest.WithReplies(llmtest.Reply{
		Text: "hello there world", Chunks: 3, FailAfter: 1, MidStreamError: true, ErrorMessage: "gpu fell over",
	}))
	b, nb := backend(t, "akash", llmtest.WithReplies(llmtest.Reply{Text: "should not be asked"}))
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))

	var chunks []string
	_, err := r.GenerateContent(t.Context(), ask("hi"), llms.WithStreamingFunc(func(_ context.Context, c []byte) error {
		chunks = append(chunks, string(c))
		return nil
	}))
	var se *llm.StreamError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want the StreamError as is", err)
	}
	if b.Count() != 0 {
		t.Fatal("failed over after the caller had received text")
	}
	got := strings.Join(chunks, "")
	if len(chunks) != 1 || got == "" || !strings.HasPrefix("hello there world", got) || got == "hello there world" {
		t.Fatalf("caller received %q; want the partial text once", chunks)
	}
}

func TestRouterStreamFailsOverBeforeFirstToken(t *testing.T) {
	_, na := backend(t, "ionet", llmtest.WithReplies(llmtest.Reply{Text: "never", MidStreamError: true}))
	_, nb := backend(t, "akash", llmtest.WithReplies(llmtest.Reply{Text: "from akash", Chunks: 2}))
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))
	var got strings.Builder
	resp, err := r.GenerateContent(t.Context(), ask("hi"), llms.WithStreamingFunc(func(_ context.Context, c []byte) error {
		got.Write(c)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != "from akash" || answerText(t, resp) != "from akash" {
		t.Fatalf("streamed %q, answer %q", got.String(), answerText(t, resp))
	}
}

func TestRouterToolStepsSkipToollessBackends(t *testing.T) {
	a, na := backend(t, "morpheus", llmtest.WithHandler(func(llmtest.Request) llmtest.Reply { return llmtest.Reply{Text: "plain"} }))
	na.Tools = false
	b, nb := backend(t, "akash", llmtest.WithReplies(llmtest.Reply{ToolCalls: []llmtest.ToolCall{{Name: "wallet_transfer", Arguments: `{"to":"0xabc"}`}}}))
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))

	resp, err := r.GenerateContent(t.Context(), ask("send"), llms.WithTools(transferTool))
	if err != nil {
		t.Fatal(err)
	}
	if a.Count() != 0 || b.Count() != 1 {
		t.Fatalf("requests: morpheus %d akash %d", a.Count(), b.Count())
	}
	if tc := resp.Choices[0].ToolCalls; len(tc) != 1 || tc[0].FunctionCall.Name != "wallet_transfer" {
		t.Fatalf("tool calls %+v", tc)
	}
	// Without tools the first backend is used again.
	if _, err := r.GenerateContent(t.Context(), ask("hello")); err != nil || a.Count() != 1 {
		t.Fatalf("plain step: err %v, morpheus requests %d", err, a.Count())
	}
	// Only tool-less backends: a clear ErrNoBackend.
	r2 := llm.NewRouter([]llm.Named{na})
	if _, err := r2.GenerateContent(t.Context(), ask("send"), llms.WithTools(transferTool)); !errors.Is(err, llm.ErrNoBackend) {
		t.Fatalf("err = %v, want ErrNoBackend", err)
	}
}

func TestRouterFatalErrorNotFailedOver(t *testing.T) {
	_, na := backend(t, "ionet", llmtest.WithReplies(llmtest.Reply{Status: 400, ErrorMessage: "bad request"}))
	b, nb := backend(t, "akash")
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))
	_, err := r.GenerateContent(t.Context(), ask("hi"))
	var he *llm.HTTPError
	if !errors.As(err, &he) || he.Status != 400 || b.Count() != 0 {
		t.Fatalf("err = %v, akash requests %d: a 400 is the request's fault", err, b.Count())
	}
	if h := healthOf(t, r, "ionet"); h.State != llm.StateOK || h.Failures != 0 {
		t.Fatalf("a 400 must not cool the backend down: %+v", h)
	}
}

// prime gives a backend the latency samples hedging needs, through the
// router itself.
func prime(t *testing.T, r *llm.Router, name string, opts ...llms.CallOption) {
	t.Helper()
	for i := range 10 {
		if _, err := r.GenerateContent(t.Context(), ask("warm up"), opts...); err != nil {
			t.Fatalf("warm-up %d: %v", i, err)
		}
	}
	if h := healthOf(t, r, name); h.Samples < 10 {
		t.Fatalf("%s has %d samples after warm-up", name, h.Samples)
	}
}

func TestRouterHedgesPastP95(t *testing.T) {
	for _, streaming := range []bool{false, true} {
		name := map[bool]string{false: "whole", true: "streaming"}[streaming]
		t.Run(name, func(t *testing.T) {
			// ionet answers ten times, then stalls until its request is
			// cancelled. Failover cannot help (no error, no attempt
			// timeout): only a hedge finishes the call.
			var replies []llmtest.Reply
			for range 10 {
				replies = append(replies, llmtest.Reply{Text: "warm"})
			}
			replies = append(replies, llmtest.Reply{Stall: true})
			a, na := backend(t, "ionet", llmtest.WithReplies(replies...))
			b, nb := backend(t, "akash", llmtest.WithReplies(llmtest.Reply{Text: "fast answer", Chunks: 2}))
			r := llm.NewRouter([]llm.Named{na, nb}, llm.WithAttemptTimeout(0), llm.WithRouterLogger(quietLogger()))
			var (
				opts []llms.CallOption
				got  strings.Builder
			)
			if streaming {
				opts = append(opts, llms.WithStreamingFunc(func(_ context.Context, c []byte) error {
					got.Write(c)
					return nil
				}))
			}
			prime(t, r, "ionet", opts...)
			got.Reset()
			if b.Count() != 0 {
				t.Fatal("hedged during warm-up")
			}

			resp, err := r.GenerateContent(t.Context(), ask("hi"), opts...)
			if err != nil {
				t.Fatal(err)
			}
			if answerText(t, resp) != "fast answer" {
				t.Fatalf("answer %q", answerText(t, resp))
			}
			if streaming && got.String() != "fast answer" {
				t.Fatalf("streamed %q; want only the winner's text", got.String())
			}
			if a.Count() != 11 || b.Count() != 1 {
				t.Fatalf("requests: ionet %d akash %d", a.Count(), b.Count())
			}
			if n := routerGoroutines(); n != 0 {
				t.Fatalf("%d router goroutines left behind", n)
			}
			// The call returned, so the stalled loser was cancelled and
			// waited for; losing a race is not a failure.
			if h := healthOf(t, r, "ionet"); h.Failures != 0 || h.State != llm.StateOK || h.Requests != 11 {
				t.Fatalf("ionet health %+v", h)
			}
		})
	}
}

func TestRouterCallerCancellation(t *testing.T) {
	arrived := make(chan struct{}, 1)
	a, na := backend(t, "ionet", llmtest.WithHandler(func(llmtest.Request) llmtest.Reply {
		arrived <- struct{}{}
		return llmtest.Reply{Stall: true}
	}))
	b, nb := backend(t, "akash")
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithRouterLogger(quietLogger()))

	for _, streaming := range []bool{false, true} {
		ctx, cancel := context.WithCancel(t.Context())
		var opts []llms.CallOption
		if streaming {
			opts = append(opts, llms.WithStreamingFunc(func(context.Context, []byte) error { return nil }))
		}
		done := make(chan error, 1)
		go func() {
			_, err := r.GenerateContent(ctx, ask("hi"), opts...)
			done <- err
		}()
		<-arrived
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("streaming=%v: err = %v, want context.Canceled", streaming, err)
		}
	}
	if b.Count() != 0 {
		t.Fatal("the caller's cancellation was failed over")
	}
	if n := routerGoroutines(); n != 0 {
		t.Fatalf("%d router goroutines left behind", n)
	}
	if h := healthOf(t, r, "ionet"); h.Failures != 0 || h.State != llm.StateOK || a.Count() != 2 {
		t.Fatalf("the caller's cancellation counted against the backend: %+v", h)
	}
}

func TestRouterAttemptTimeoutFailsOver(t *testing.T) {
	_, na := backend(t, "ionet", llmtest.WithReplies(llmtest.Reply{Stall: true}))
	_, nb := backend(t, "akash", llmtest.WithReplies(llmtest.Reply{Text: "ok"}))
	// The attempt timeout ends the stalled backend's attempt; what is
	// checked is the choice made, not how long it took. It is long enough
	// that the healthy backend answers within it on a loaded machine (a
	// millisecond was not: both attempts timed out).
	r := llm.NewRouter([]llm.Named{na, nb}, llm.WithAttemptTimeout(2*time.Second), llm.WithRouterLogger(quietLogger()))
	resp, err := r.GenerateContent(t.Context(), ask("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if answerText(t, resp) != "ok" {
		t.Fatalf("answer %q", answerText(t, resp))
	}
	if h := healthOf(t, r, "ionet"); h.State != llm.StateCooldown || !strings.Contains(h.LastError, "timed out") {
		t.Fatalf("ionet health %+v", h)
	}
}

func TestRouterNoBackends(t *testing.T) {
	r := llm.NewRouter(nil)
	if _, err := r.Call(t.Context(), "hi"); !errors.Is(err, llm.ErrNoBackend) {
		t.Fatalf("err = %v", err)
	}
}

func TestRouterProbe(t *testing.T) {
	_, na := backend(t, "ionet", llmtest.WithReplies(llmtest.Reply{Text: "pong"}))
	_, nb := backend(t, "akash", llmtest.WithReplies(llmtest.Reply{Status: 500}))
	s, _ := backend(t, "venice", llmtest.WithAPIKey("right"))
	be := s.Backend("venice")
	be.APIKey = "wrong"
	nc := llm.Route(be)
	r := llm.NewRouter([]llm.Named{na, nb, nc}, llm.WithRouterLogger(quietLogger()))
	hs := r.Probe(t.Context())
	want := []llm.BackendState{llm.StateOK, llm.StateCooldown, llm.StateMisconfigured}
	for i, h := range hs {
		if h.State != want[i] || h.Requests != 1 {
			t.Errorf("%s: %+v, want state %s", h.Name, h, want[i])
		}
	}
	if hs[0].Samples != 1 || hs[0].P50 <= 0 {
		t.Errorf("probe latency not recorded: %+v", hs[0])
	}
	if s.Requests()[0].MaxTokens != 1 {
		t.Errorf("probe asked for %d tokens", s.Requests()[0].MaxTokens)
	}
}

func TestRouterConcurrentUse(t *testing.T) {
	var n atomicCounter
	_, na := backend(t, "ionet", llmtest.WithHandler(func(llmtest.Request) llmtest.Reply {
		if n.next()%2 == 0 {
			return llmtest.Reply{Status: 503}
		}
		return llmtest.Reply{Text: "ionet", Chunks: 2}
	}))
	_, nb := backend(t, "akash", llmtest.WithHandler(func(llmtest.Request) llmtest.Reply { return llmtest.Reply{Text: "akash", Chunks: 2} }))
	_, nc := backend(t, "chutes", llmtest.WithHandler(func(llmtest.Request) llmtest.Reply { return llmtest.Reply{Status: 429} }))
	// A cooldown of a nanosecond keeps every backend in play, so that calls
	// race through failover, hedging and health updates together.
	r := llm.NewRouter([]llm.Named{na, nb, nc}, llm.WithCooldown(time.Nanosecond, time.Nanosecond), llm.WithRouterLogger(quietLogger()))
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				var opts []llms.CallOption
				if (g+i)%2 == 0 {
					opts = append(opts, llms.WithStreamingFunc(func(context.Context, []byte) error { return nil }))
				}
				if _, err := r.GenerateContent(t.Context(), ask("hi"), opts...); err != nil {
					errs <- err
				}
				_ = r.Health()
			}
		})
	}
	wg.Go(func() { r.Probe(t.Context()) })
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

type atomicCounter struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCounter) next() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

// routerGoroutines counts goroutines still running router code. A call that
// has returned must leave none behind: losers are cancelled and waited for.
// A goroutine that has delivered its result may need a moment to exit, so
// the count is taken again after yielding, a bounded number of times.
func routerGoroutines() int {
	buf := make([]byte, 1<<20)
	n := 0
	for range 100 {
		stacks := string(buf[:runtime.Stack(buf, true)])
		n = strings.Count(stacks, "llm.(*routeCall)") + strings.Count(stacks, "llm.(*Router).Quorum")
		if n == 0 {
			return 0
		}
		runtime.Gosched()
	}
	return n
}
