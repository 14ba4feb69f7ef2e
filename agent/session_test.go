package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
	"github.com/mandatehq/mandate/tools"
)

// scripted answers with a tool call until it has seen a tool's result, then
// with text. Its answers are built once and shared by every call, as a
// caching model's would be: the agent must only read them.
type scripted struct {
	call, done *llms.ContentResponse
}

func newScripted(id, args string) scripted {
	return scripted{
		call: &llms.ContentResponse{Choices: []*llms.ContentChoice{{StopReason: "tool_calls",
			ToolCalls: []llms.ToolCall{{ID: id, Type: "function", FunctionCall: &llms.FunctionCall{Name: "echo", Arguments: args}}}}}},
		done: &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "done", StopReason: "stop"}}},
	}
}

func (m scripted) GenerateContent(_ context.Context, msgs []llms.MessageContent, _ ...llms.CallOption) (*llms.ContentResponse, error) {
	if last := msgs[len(msgs)-1]; last.Role == llms.ChatMessageTypeTool {
		return m.done, nil
	}
	return m.call, nil
}

func (m scripted) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

type echoArgs struct {
	Text string `json:"text"`
}

func echoTool(run func(ctx context.Context, a echoArgs) (tools.Result, error)) *tools.Registry {
	return tools.NewRegistry([]tools.Tool{tools.Func("echo", "echoes", tools.Schema(map[string]string{"text": "what to echo"}), run)})
}

func echoResult(_ context.Context, a echoArgs) (tools.Result, error) {
	return tools.Result{Text: a.Text}, nil
}

// The model's answer is read-only: a call without an ID is named in the
// events and in what the model is sent next, and the answer the model
// returned (and may return again) is left as it was.
func TestModelAnswerIsNotModified(t *testing.T) {
	m := newScripted("", `{"text":"hi"}`)
	a := agent.New(m, echoTool(echoResult))
	for range 2 {
		evs := collect(t, a.Session("ro"), "echo hi")
		call := find(evs, agent.EventToolCall)
		if call == nil || call.CallID != "call-1-0" {
			t.Fatalf("tool call event %+v", call)
		}
		if res := find(evs, agent.EventToolResult); res == nil || res.CallID != "call-1-0" || res.Text != "hi" {
			t.Fatalf("tool result event %+v", res)
		}
	}
	if id := m.call.Choices[0].ToolCalls[0].ID; id != "" {
		t.Fatalf("the agent wrote the ID %q into the model's answer", id)
	}
}

// A consumer that changes the bytes of a tool call event's arguments does
// not change what the tool is called with, and vice versa.
func TestEventArgsAreACopy(t *testing.T) {
	var got string
	a := agent.New(newScripted("c1", `{"text":"hi"}`), echoTool(func(_ context.Context, x echoArgs) (tools.Result, error) {
		got = x.Text
		return tools.Result{Text: "ok"}, nil
	}))
	for ev, err := range a.Session("args").Send(context.Background(), "echo hi") {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == agent.EventToolCall {
			if string(ev.Args) != `{"text":"hi"}` {
				t.Fatalf("event args %s", ev.Args)
			}
			copy(ev.Args, `{"text":"XX"}`)
			_ = append(ev.Args[:len(ev.Args)], `garbage`...)
		}
	}
	if got != "hi" {
		t.Fatalf("the tool was called with %q", got)
	}
}

// The context tools and the model see is the caller's, cancelled when the
// turn ends, whether or not anything waited on it during the turn.
func TestTurnContext(t *testing.T) {
	type key struct{}
	for _, tc := range []struct {
		name  string
		wait  bool // the tool asks for Done during the turn
		brk   bool // the consumer breaks out at the tool's result
		abort bool // the caller cancels its context while the tool runs
	}{
		{name: "finished"},
		{name: "finished, waited on", wait: true},
		{name: "broken off", brk: true},
		{name: "broken off, waited on", wait: true, brk: true},
		{name: "caller cancels", abort: true},
		{name: "caller cancels, waited on", wait: true, abort: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancelParent := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
			defer cancelParent()
			var (
				seen, derived context.Context
				cancelDerived context.CancelFunc = func() {}
			)
			defer func() { cancelDerived() }()
			a := agent.New(newScripted("c1", `{"text":"hi"}`), echoTool(func(ctx context.Context, x echoArgs) (tools.Result, error) {
				seen = ctx
				if ctx.Value(key{}) != "v" {
					t.Error("the caller's values are not in the tool's context")
				}
				if ctx.Err() != nil {
					t.Errorf("the context is done during the turn: %v", ctx.Err())
				}
				if tc.wait {
					derived, cancelDerived = context.WithCancel(ctx) // left to the turn to cancel
					select {
					case <-ctx.Done():
						t.Error("Done is closed during the turn")
					default:
					}
				}
				if tc.abort {
					cancelParent()
					<-ctx.Done()
					if !errors.Is(ctx.Err(), context.Canceled) {
						t.Errorf("after the caller cancelled: %v", ctx.Err())
					}
				}
				return tools.Result{Text: "ok"}, nil
			}))
			for ev := range a.Session("ctx").Send(parent, "echo hi") {
				if tc.brk && ev.Kind == agent.EventToolResult {
					break
				}
			}
			if seen == nil {
				t.Fatal("the tool was not called")
			}
			if !errors.Is(seen.Err(), context.Canceled) {
				t.Fatalf("after the turn Err = %v", seen.Err())
			}
			select {
			case <-seen.Done():
			default:
				t.Fatal("after the turn Done is not closed")
			}
			if derived != nil && !errors.Is(derived.Err(), context.Canceled) {
				t.Fatalf("a context derived during the turn: Err = %v", derived.Err())
			}
			after, cancelAfter := context.WithCancel(seen)
			defer cancelAfter()
			if !errors.Is(after.Err(), context.Canceled) {
				t.Fatalf("a context derived after the turn: Err = %v", after.Err())
			}
		})
	}
}

// Streamed text reaches the consumer as it comes, through the real client
// and through a router (whose attempts call back with contexts of their
// own), once: the whole answer is not repeated after its pieces.
func TestStreamedText(t *testing.T) {
	const answer = "Your balance is 12.5 USDC, owner."
	for _, tc := range []struct {
		name  string
		model func(*llmtest.Server) llms.Model
	}{
		{"client", func(s *llmtest.Server) llms.Model { return llm.NewClient(s.Backend("stream")) }},
		{"router", func(s *llmtest.Server) llms.Model {
			return llm.NewRouter([]llm.Named{llm.Route(s.Backend("stream"))})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := llmtest.NewServer(t, llmtest.WithReplies(
				llmtest.Reply{ToolCalls: []llmtest.ToolCall{{Name: "echo", Arguments: `{"text":"hi"}`}}, Chunks: 3},
				llmtest.Reply{Text: answer, Chunks: 4}))
			evs := collect(t, agent.New(tc.model(srv), echoTool(echoResult)).Session("stream"), "balance")
			var pieces []string
			for _, ev := range evs {
				if ev.Kind == agent.EventText {
					pieces = append(pieces, ev.Text)
				}
			}
			if len(pieces) < 2 || strings.Join(pieces, "") != answer {
				t.Fatalf("text events %q, want the answer in pieces", pieces)
			}
			if done := find(evs, agent.EventDone); done == nil || done.Text != answer {
				t.Fatalf("done %+v", done)
			}
			if reqs := srv.Requests(); len(reqs) != 2 || !reqs[0].Stream {
				t.Fatalf("%d requests, streaming %v", len(reqs), len(reqs) > 0 && reqs[0].Stream)
			}
		})
	}
}

// Breaking out while text streams stops the turn: nothing more is yielded.
func TestBreakWhileStreaming(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithReplies(llmtest.Reply{Text: "one two three four five six", Chunks: 6}))
	a := agent.New(llm.NewClient(srv.Backend("stream")), echoTool(echoResult))
	n := 0
	for ev, err := range a.Session("brk").Send(context.Background(), "count") {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if ev.Kind != agent.EventText {
			t.Fatalf("first event %+v", ev)
		}
		break
	}
	if n != 1 {
		t.Fatalf("%d events", n)
	}
}

// What the model is sent after a tool call: the call, and the result as
// JSON marked as untrusted data.
func TestToolResultForModel(t *testing.T) {
	var sent []llms.MessageContent
	m := &spy{Model: newScripted("c1", `{"text":"<b>hi</b> \u2028"}`), last: &sent}
	collect(t, agent.New(m, echoTool(echoResult)).Session("res"), "echo")
	if len(sent) != 4 {
		t.Fatalf("%d messages", len(sent))
	}
	ai, tool := sent[2], sent[3]
	if c, ok := ai.Parts[0].(llms.ToolCall); !ok || c.ID != "c1" || c.FunctionCall.Name != "echo" {
		t.Fatalf("the call: %+v", ai.Parts)
	}
	r, ok := tool.Parts[0].(llms.ToolCallResponse)
	if !ok || r.ToolCallID != "c1" || r.Name != "echo" {
		t.Fatalf("the result: %+v", tool.Parts)
	}
	want, _ := json.Marshal(struct {
		Tool      string `json:"tool"`
		Untrusted bool   `json:"untrusted_data"`
		Text      string `json:"text"`
	}{"echo", true, "<b>hi</b> \u2028"})
	if r.Content != string(want) {
		t.Fatalf("content %s, want %s", r.Content, want)
	}
}

type spy struct {
	llms.Model
	last *[]llms.MessageContent
}

func (s *spy) GenerateContent(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	*s.last = append([]llms.MessageContent(nil), msgs...)
	return s.Model.GenerateContent(ctx, msgs, opts...)
}
