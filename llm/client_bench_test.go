package llm_test

import (
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
)

// BenchmarkClient is one non-streamed request against a zero-latency
// llmtest server: the baseline the Router's overhead is measured against.
//
//	go test -run '^$' -bench BenchmarkClient -benchmem ./llm/
func BenchmarkClient(b *testing.B) {
	reply := llmtest.Reply{
		Text:  "Your balance is 1.5 ETH.",
		Usage: &llmtest.Usage{PromptTokens: 12, CompletionTokens: 7, TotalTokens: 19},
	}
	s := llmtest.NewServer(b, llmtest.WithHandler(func(llmtest.Request) llmtest.Reply { return reply }))
	c := llm.NewClient(s.Backend("bench"))
	msgs := human("balance?")
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.GenerateContent(b.Context(), msgs, llms.WithMaxTokens(64))
		if err != nil {
			b.Fatal(err)
		}
		if resp.Choices[0].Content != reply.Text {
			b.Fatalf("content %q", resp.Choices[0].Content)
		}
	}
}
