package llm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// The OpenAI chat completions wire format, as far as the client uses it.

type chatRequest struct {
	Model          string          `json:"model"`
	Messages       []wireMessage   `json:"messages"`
	Tools          []wireTool      `json:"tools,omitempty"`
	ToolChoice     any             `json:"tool_choice,omitempty"`
	Temperature    *float64        `json:"temperature,omitempty"`
	TopP           float64         `json:"top_p,omitempty"`
	MaxTokens      int             `json:"max_tokens,omitempty"`
	Stop           []string        `json:"stop,omitempty"`
	Seed           *int            `json:"seed,omitempty"`
	FrequencyPen   float64         `json:"frequency_penalty,omitempty"`
	PresencePen    float64         `json:"presence_penalty,omitempty"`
	ResponseFormat *responseFormat `json:"response_format,omitempty"`
	Stream         bool            `json:"stream,omitempty"`
	StreamOptions  *streamOptions  `json:"stream_options,omitempty"`
}

type responseFormat struct {
	Type string `json:"type"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// wireMessage is one message sent. Content is a string, an array of parts
// (images), or null (an assistant turn that only calls tools: null is what
// the widest range of servers accepts there).
type wireMessage struct {
	Role       string         `json:"role"`
	Content    any            `json:"content"`
	ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
	Name       string         `json:"name,omitempty"`
}

type wirePart struct {
	Type     string        `json:"type"`
	Text     string        `json:"text,omitempty"`
	ImageURL *wireImageURL `json:"image_url,omitempty"`
}

type wireImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type wireTool struct {
	Type     string           `json:"type"`
	Function wireFunctionDecl `json:"function"`
}

type wireFunctionDecl struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	Parameters  any    `json:"parameters,omitempty"`
	Strict      bool   `json:"strict,omitempty"`
}

type wireToolCall struct {
	ID       string       `json:"id,omitempty"`
	Type     string       `json:"type,omitempty"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Name      string   `json:"name,omitempty"`
	Arguments argsJSON `json:"arguments"`
}

// argsJSON holds tool-call arguments. The spec makes them a JSON-encoded
// string, but some servers send the object itself; both are accepted and
// returned as the JSON text.
type argsJSON json.RawMessage

func (a argsJSON) MarshalJSON() ([]byte, error) {
	if len(a) == 0 {
		return []byte(`""`), nil
	}
	return a, nil
}

func (a *argsJSON) UnmarshalJSON(b []byte) error {
	*a = append((*a)[:0], b...)
	return nil
}

// text returns the arguments as JSON text.
func (a argsJSON) text() (string, error) {
	b := bytes.TrimSpace(a)
	switch {
	case len(b) == 0 || string(b) == "null":
		return "", nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", err
		}
		return s, nil
	default:
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return "", err
		}
		return buf.String(), nil
	}
}

func argsString(s string) argsJSON {
	b, _ := json.Marshal(s)
	return argsJSON(b)
}

type wireUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

type chatResponse struct {
	Choices []struct {
		Message struct {
			Content          string         `json:"content"`
			ReasoningContent string         `json:"reasoning_content"`
			ToolCalls        []wireToolCall `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *wireUsage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// streamChunk is one SSE data event of a streamed answer.
type streamChunk struct {
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content          string          `json:"content"`
			ReasoningContent string          `json:"reasoning_content"`
			ToolCalls        []toolCallDelta `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *wireUsage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// toolCallDelta is a fragment of a streamed tool call. Only Index reliably
// says which call it belongs to: the id, type and name usually come in the
// first fragment only.
type toolCallDelta struct {
	Index    *int   `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string   `json:"name"`
		Arguments argsJSON `json:"arguments"`
	} `json:"function"`
}

// unset marks call options the caller did not give, so that a deliberate
// temperature 0 or seed 0 is sent while an absent one is left to the backend.
const unsetSeed = math.MinInt

func newCallOptions(opts []llms.CallOption) llms.CallOptions {
	co := llms.CallOptions{Temperature: math.NaN(), Seed: unsetSeed}
	for _, o := range opts {
		o(&co)
	}
	return co
}

// buildRequest maps langchaingo messages and options onto the wire request.
func buildRequest(model string, messages []llms.MessageContent, co *llms.CallOptions) (*chatRequest, error) {
	if co.Model != "" {
		model = co.Model
	}
	req := &chatRequest{
		Model:        model,
		MaxTokens:    co.MaxTokens,
		Stop:         co.StopWords,
		TopP:         co.TopP,
		FrequencyPen: co.FrequencyPenalty,
		PresencePen:  co.PresencePenalty,
		ToolChoice:   co.ToolChoice,
	}
	if !math.IsNaN(co.Temperature) {
		t := co.Temperature
		req.Temperature = &t
	}
	if co.Seed != unsetSeed {
		s := co.Seed
		req.Seed = &s
	}
	if co.JSONMode {
		req.ResponseFormat = &responseFormat{Type: "json_object"}
	}
	if co.StreamingFunc != nil {
		req.Stream = true
		req.StreamOptions = &streamOptions{IncludeUsage: true}
	}
	for _, t := range co.Tools {
		if t.Function == nil {
			return nil, fmt.Errorf("tool of type %q has no function definition", t.Type)
		}
		typ := t.Type
		if typ == "" {
			typ = "function"
		}
		req.Tools = append(req.Tools, wireTool{Type: typ, Function: wireFunctionDecl{
			Name: t.Function.Name, Description: t.Function.Description,
			Parameters: t.Function.Parameters, Strict: t.Function.Strict,
		}})
	}
	for _, f := range co.Functions { // deprecated langchaingo spelling of tools
		req.Tools = append(req.Tools, wireTool{Type: "function", Function: wireFunctionDecl{
			Name: f.Name, Description: f.Description, Parameters: f.Parameters, Strict: f.Strict,
		}})
	}
	if req.ToolChoice == nil && co.FunctionCallBehavior != "" && len(req.Tools) > 0 {
		req.ToolChoice = string(co.FunctionCallBehavior)
	}
	if len(req.Tools) == 0 {
		// tool_choice without tools is rejected by OpenAI and vLLM alike.
		req.ToolChoice = nil
	}
	msgs, err := wireMessages(messages)
	if err != nil {
		return nil, err
	}
	req.Messages = msgs
	return req, nil
}

// wireMessages maps langchaingo messages to wire messages. A tool result
// becomes its own "tool" message whatever the role of the message holding
// it, since the wire format allows one result per message.
func wireMessages(messages []llms.MessageContent) ([]wireMessage, error) {
	out := make([]wireMessage, 0, len(messages))
	for i, m := range messages {
		role, err := wireRole(m.Role)
		if err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
		var (
			texts    []string
			parts    []wirePart
			calls    []wireToolCall
			multiple bool // a non-text part forces the array form of content
		)
		for _, p := range m.Parts {
			switch p := p.(type) {
			case llms.TextContent:
				texts = append(texts, p.Text)
				parts = append(parts, wirePart{Type: "text", Text: p.Text})
			case llms.ImageURLContent:
				multiple = true
				parts = append(parts, wirePart{Type: "image_url", ImageURL: &wireImageURL{URL: p.URL, Detail: p.Detail}})
			case llms.BinaryContent:
				if !strings.HasPrefix(p.MIMEType, "image/") {
					return nil, fmt.Errorf("message %d: binary content of type %q is not supported", i, p.MIMEType)
				}
				multiple = true
				parts = append(parts, wirePart{Type: "image_url", ImageURL: &wireImageURL{URL: p.String()}})
			case llms.ToolCall:
				if p.FunctionCall == nil {
					return nil, fmt.Errorf("message %d: tool call %q has no function", i, p.ID)
				}
				args := p.FunctionCall.Arguments
				if strings.TrimSpace(args) == "" {
					args = "{}" // servers that parse the history's arguments choke on ""
				}
				calls = append(calls, wireToolCall{ID: p.ID, Type: "function",
					Function: wireFunction{Name: p.FunctionCall.Name, Arguments: argsString(args)}})
			case llms.ToolCallResponse:
				out = append(out, wireMessage{Role: "tool", Content: p.Content, ToolCallID: p.ToolCallID, Name: p.Name})
			default:
				return nil, fmt.Errorf("message %d: content part %T is not supported", i, p)
			}
		}
		if len(parts) == 0 && len(calls) == 0 {
			continue // only tool results, already added
		}
		if len(calls) > 0 && role != "assistant" {
			return nil, fmt.Errorf("message %d: tool calls in a %q message", i, m.Role)
		}
		wm := wireMessage{Role: role, ToolCalls: calls}
		switch {
		case multiple:
			if role != "user" {
				return nil, fmt.Errorf("message %d: images are only supported in user messages", i)
			}
			wm.Content = parts
		case len(texts) > 0:
			wm.Content = strings.Join(texts, "\n")
		case len(calls) == 0:
			wm.Content = ""
		}
		out = append(out, wm)
	}
	return out, nil
}

func wireRole(r llms.ChatMessageType) (string, error) {
	switch r {
	case llms.ChatMessageTypeSystem:
		return "system", nil
	case llms.ChatMessageTypeHuman, llms.ChatMessageTypeGeneric:
		return "user", nil
	case llms.ChatMessageTypeAI:
		return "assistant", nil
	case llms.ChatMessageTypeTool, llms.ChatMessageTypeFunction:
		return "tool", nil
	default:
		return "", fmt.Errorf("role %q is not supported", r)
	}
}

// The OpenAI embeddings wire format.

type embeddingRequest struct {
	Model string   `json:"model"`
	Input []string `json:"input"`
}

type embeddingResponse struct {
	Data []struct {
		// Index is the position of the input the vector belongs to; nil
		// when a server leaves it out, and the array position then counts.
		Index     *int            `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Error json.RawMessage `json:"error"`
}
