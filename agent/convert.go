package agent

import (
	"encoding/json"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/memory"
)

type storedCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

func encodeCalls(calls []llms.ToolCall) json.RawMessage {
	out := make([]storedCall, 0, len(calls))
	for _, c := range calls {
		sc := storedCall{ID: c.ID}
		if c.FunctionCall != nil {
			sc.Name, sc.Arguments = c.FunctionCall.Name, c.FunctionCall.Arguments
		}
		out = append(out, sc)
	}
	b, _ := json.Marshal(out)
	return b
}

// toLLM turns stored messages back into what the model reads.
func toLLM(ms []memory.Message) []llms.MessageContent {
	out := make([]llms.MessageContent, 0, len(ms))
	for _, m := range ms {
		switch m.Role {
		case "user":
			out = append(out, llms.TextParts(llms.ChatMessageTypeHuman, m.Content))
		case "system":
			out = append(out, llms.TextParts(llms.ChatMessageTypeSystem, m.Content))
		case "assistant":
			var parts []llms.ContentPart
			if m.Content != "" {
				parts = append(parts, llms.TextContent{Text: m.Content})
			}
			var calls []storedCall
			if len(m.ToolCalls) > 0 && json.Unmarshal(m.ToolCalls, &calls) == nil {
				for _, c := range calls {
					parts = append(parts, llms.ToolCall{ID: c.ID, Type: "function", FunctionCall: &llms.FunctionCall{Name: c.Name, Arguments: c.Arguments}})
				}
			}
			if len(parts) > 0 {
				out = append(out, llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: parts})
			}
		case "tool":
			out = append(out, llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
				llms.ToolCallResponse{ToolCallID: m.ToolCallID, Name: m.ToolName, Content: m.Content},
			}})
		}
	}
	return out
}
