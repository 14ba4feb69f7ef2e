package llmtest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
)

// A test scripts the model's answers, runs the code under test against the
// server, and checks what the model was sent.
func Example() {
	t := &testing.T{} // in a real test, the test's own t
	s := llmtest.NewServer(t, llmtest.WithReplies(
		llmtest.Reply{ToolCalls: []llmtest.ToolCall{{Name: "wallet_balance", Arguments: `{"token":"USDC"}`}}, Chunks: 4},
		llmtest.Reply{Status: 429, RetryAfter: 2 * time.Second},
	))
	defer s.Close()
	c := llm.NewClient(s.Backend("scripted"))

	resp, _ := c.GenerateContent(context.Background(),
		[]llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "how much USDC do I have?")},
		llms.WithStreamingFunc(func(context.Context, []byte) error { return nil }))
	tc := resp.Choices[0].ToolCalls[0]
	fmt.Println(tc.FunctionCall.Name, tc.FunctionCall.Arguments)

	_, err := c.Call(context.Background(), "again")
	fmt.Println(err)
	fmt.Println(s.Count(), s.Requests()[0].Stream)
	// Output:
	// wallet_balance {"token":"USDC"}
	// llm backend scripted answered HTTP 429: Too Many Requests
	// 2 true
}

// A Handler scripts a model that reacts to what it is sent, e.g. one that
// keeps asking for the same transfer after the policy refused it.
func ExampleWithHandler() {
	t := &testing.T{}
	s := llmtest.NewServer(t, llmtest.WithHandler(func(req llmtest.Request) llmtest.Reply {
		if last := req.LastMessage(); last.Role == "tool" {
			return llmtest.Reply{Text: "The transfer was refused: " + last.Content}
		}
		return llmtest.Reply{ToolCalls: []llmtest.ToolCall{{ID: "call_1", Name: "wallet_transfer",
			Arguments: `{"to":"0xdead","token":"ETH","amount":"100"}`}}}
	}))
	defer s.Close()
	c := llm.NewClient(s.Backend("hostile"))

	msgs := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "hi")}
	resp, _ := c.GenerateContent(context.Background(), msgs)
	call := resp.Choices[0].ToolCalls[0]
	msgs = append(msgs,
		llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{call}},
		llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
			llms.ToolCallResponse{ToolCallID: call.ID, Name: call.FunctionCall.Name, Content: "recipient not allowed"}}})
	resp, _ = c.GenerateContent(context.Background(), msgs)
	fmt.Println(resp.Choices[0].Content)
	// Output:
	// The transfer was refused: recipient not allowed
}
