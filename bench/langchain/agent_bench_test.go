// Package langchain measures Mandate's agent loop against langchaingo's
// agents.Executor on the same run: a zero-latency model that asks for one
// trivial tool and then answers, so what is measured is each framework's
// own overhead. It is a separate module so the main module does not depend
// on langchaingo's agents and chains.
package langchain

import (
	"context"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tmc/langchaingo/agents"
	"github.com/tmc/langchaingo/chains"
	"github.com/tmc/langchaingo/llms"
	lctools "github.com/tmc/langchaingo/tools"

	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/tools"
)

// The fake models answer with responses built once: a model's answer is
// read-only to its caller (both frameworks only read it, and
// checkResponses verifies that after each benchmark), so neither framework
// is charged for allocations that a real model's client would make anyway.
var (
	fnCallEcho, fnDone    = fnResponses()
	reactEcho, reactFinal = reactResponses()
)

func fnResponses() (call, done *llms.ContentResponse) {
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{
			StopReason: "tool_calls",
			ToolCalls: []llms.ToolCall{{ID: "call-1", Type: "function",
				FunctionCall: &llms.FunctionCall{Name: "echo", Arguments: `{"text":"hi"}`}}},
		}}},
		&llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "done", StopReason: "stop"}}}
}

func reactResponses() (echo, final *llms.ContentResponse) {
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "Thought: I should echo.\nAction: echo\nAction Input: hi"}}},
		&llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "Thought: I know.\nFinal Answer: done"}}}
}

// checkResponses fails b if a framework changed the models' shared answers.
func checkResponses(b *testing.B) {
	call, done := fnResponses()
	echo, final := reactResponses()
	for _, c := range []struct{ got, want *llms.ContentResponse }{
		{fnCallEcho, call}, {fnDone, done}, {reactEcho, echo}, {reactFinal, final},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			b.Fatalf("a model's answer was modified by its caller: %+v", c.got.Choices[0])
		}
	}
}

// fnModel answers with a tool call until it sees a tool's result, then with
// text: two model calls per run, as an OpenAI-functions model would.
type fnModel struct{}

func (fnModel) GenerateContent(_ context.Context, msgs []llms.MessageContent, _ ...llms.CallOption) (*llms.ContentResponse, error) {
	for _, m := range msgs {
		for _, p := range m.Parts {
			if _, ok := p.(llms.ToolCallResponse); ok {
				return fnDone, nil
			}
		}
	}
	return fnCallEcho, nil
}

func (m fnModel) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

// reactModel is the same run for a ReAct (one-shot, text-parsing) agent.
type reactModel struct{}

func (reactModel) GenerateContent(_ context.Context, msgs []llms.MessageContent, _ ...llms.CallOption) (*llms.ContentResponse, error) {
	for _, m := range msgs {
		for _, p := range m.Parts {
			if tc, ok := p.(llms.TextContent); ok && strings.Contains(tc.Text, "Observation: ok") {
				return reactFinal, nil
			}
		}
	}
	return reactEcho, nil
}

func (m reactModel) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

type echoTool struct{}

func (echoTool) Name() string        { return "echo" }
func (echoTool) Description() string { return "echoes" }
func (echoTool) Call(context.Context, string) (string, error) {
	return "ok", nil
}

// nopMemory keeps nothing: the session lives in the turn, as the
// executor's does.
type nopMemory struct{}

func (nopMemory) Append(context.Context, string, ...agent.Message) error { return nil }
func (nopMemory) Recent(context.Context, string, int) ([]agent.Message, error) {
	return nil, nil
}

func report(b *testing.B, d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	if len(d) == 0 {
		return
	}
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkMandate(b *testing.B) {
	echo := tools.Func("echo", "echoes", tools.Schema(map[string]string{"text": "what to echo"}),
		func(_ context.Context, a struct {
			Text string `json:"text"`
		}) (tools.Result, error) {
			return tools.Result{Text: "ok"}, nil
		})
	ag := agent.New(fnModel{}, tools.NewRegistry([]tools.Tool{echo}), agent.WithMemory(nopMemory{}))
	ctx := context.Background()
	d := make([]time.Duration, 0, b.N)
	// Declared once: the loop body below is a closure (range over Send's
	// iterator), and a variable it assigns would otherwise be moved to the
	// heap on every run.
	var final string
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		final = ""
		for ev, err := range ag.Session("bench").Send(ctx, "echo hi") {
			if err != nil {
				b.Fatal(err)
			}
			if ev.Kind == agent.EventDone {
				final = ev.Text
			}
		}
		d = append(d, time.Since(t0))
		if final != "done" {
			b.Fatalf("final answer %q", final)
		}
	}
	b.StopTimer()
	checkResponses(b)
	report(b, d)
}

func BenchmarkLangchainOpenAIFunctions(b *testing.B) {
	ex := agents.NewExecutor(agents.NewOpenAIFunctionsAgent(fnModel{}, []lctools.Tool{echoTool{}}))
	runLangchain(b, ex)
}

func BenchmarkLangchainOneShotReAct(b *testing.B) {
	ex := agents.NewExecutor(agents.NewOneShotAgent(reactModel{}, []lctools.Tool{echoTool{}}))
	runLangchain(b, ex)
}

func runLangchain(b *testing.B, ex *agents.Executor) {
	ctx := context.Background()
	d := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		out, err := chains.Run(ctx, ex, "echo hi")
		d = append(d, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if out != "done" {
			b.Fatalf("final answer %q", out)
		}
	}
	b.StopTimer()
	checkResponses(b)
	report(b, d)
}
