package agent

import (
	"encoding/json"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/internal/jsonstr"
)

// appendCalls appends calls as a Memory keeps them: the bytes json.Marshal
// gives for the []ToolCall, written without reflection.
func appendCalls(dst []byte, calls []llms.ToolCall) []byte {
	dst = append(dst, '[')
	for i, c := range calls {
		if i > 0 {
			dst = append(dst, ',')
		}
		name, args := "", ""
		if c.FunctionCall != nil {
			name, args = c.FunctionCall.Name, c.FunctionCall.Arguments
		}
		dst = append(dst, `{"id":`...)
		dst = jsonstr.Append(dst, c.ID)
		dst = append(dst, `,"name":`...)
		dst = jsonstr.Append(dst, name)
		dst = append(dst, `,"arguments":`...)
		dst = jsonstr.Append(dst, args)
		dst = append(dst, '}')
	}
	return append(dst, ']')
}

// appendLLM appends stored messages to msgs as the model reads them.
func appendLLM(msgs []llms.MessageContent, ms []Message) []llms.MessageContent {
	for _, m := range ms {
		switch m.Role {
		case "user":
			msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeHuman, m.Content))
		case "system":
			msgs = append(msgs, llms.TextParts(llms.ChatMessageTypeSystem, m.Content))
		case "assistant":
			var parts []llms.ContentPart
			if m.Content != "" {
				parts = append(parts, llms.TextContent{Text: m.Content})
			}
			var calls []ToolCall
			if len(m.ToolCalls) > 0 && json.Unmarshal(m.ToolCalls, &calls) == nil {
				for _, c := range calls {
					parts = append(parts, llms.ToolCall{ID: c.ID, Type: "function", FunctionCall: &llms.FunctionCall{Name: c.Name, Arguments: c.Arguments}})
				}
			}
			if len(parts) > 0 {
				msgs = append(msgs, llms.MessageContent{Role: llms.ChatMessageTypeAI, Parts: parts})
			}
		case "tool":
			msgs = append(msgs, llms.MessageContent{Role: llms.ChatMessageTypeTool, Parts: []llms.ContentPart{
				llms.ToolCallResponse{ToolCallID: m.ToolCallID, Name: m.ToolName, Content: m.Content},
			}})
		}
	}
	return msgs
}
