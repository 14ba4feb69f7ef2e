package llm_test

import (
	"context"
	"testing"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/llm"
)

type instant struct{}

func (instant) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: "ok"}}}, nil
}
func (instant) Call(context.Context, string, ...llms.CallOption) (string, error) { return "ok", nil }

func BenchmarkZZInmem(b *testing.B) {
	r := llm.NewRouter([]llm.Named{{Name: "x", Model: instant{}}})
	msgs := ask("hi")
	b.ReportAllocs()
	for b.Loop() {
		r.GenerateContent(b.Context(), msgs)
	}
}
