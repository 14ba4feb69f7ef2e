package offline_test

import (
	"context"
	"fmt"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/llm/offline"
)

// The offline model answers the owner's command with the tool call a real
// model would make, and relays the tool's result in words afterwards.
func Example() {
	ctx := context.Background()
	model := offline.New()
	tools := llms.WithTools([]llms.Tool{
		{Type: "function", Function: &llms.FunctionDefinition{Name: "dex_swap"}},
	})

	conv := []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, "please swap 0.5 ETH to USDC with 0.3% slippage")}
	resp, err := model.GenerateContent(ctx, conv, tools)
	if err != nil {
		panic(err)
	}
	call := resp.Choices[0].ToolCalls[0]
	fmt.Println(call.FunctionCall.Name, call.FunctionCall.Arguments)

	// The agent runs the tool through the policy gate and hands back the result.
	conv = append(conv,
		llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: []llms.ContentPart{call}},
		llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{llms.ToolCallResponse{
			ToolCallID: call.ID, Name: "dex_swap",
			Content: `{"denied":true,"reasons":["value 1,650 USD exceeds per-tx limit 1,000 USD (rule spend.per_tx)"]}`,
		}}})
	resp, err = model.GenerateContent(ctx, conv, tools)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Choices[0].Content)
	// Output:
	// dex_swap {"amount":"0.5","from":"ETH","slippage_bps":"30","to":"USDC"}
	// Refused: dex_swap was not done. Reasons: value 1,650 USD exceeds per-tx limit 1,000 USD (rule spend.per_tx).
}

// Commands feeds help texts in the CLI and the bots.
func ExampleCommands() {
	for _, c := range offline.Commands()[:3] {
		fmt.Printf("%s: %q → %s\n", c.Name, c.Example, c.Tool)
	}
	// Output:
	// balance: "balance of USDC" → wallet_balance
	// address: "what is my address" → wallet_address
	// send: "send 10 USDC to 0x…" → wallet_transfer
}
