package llmtest

import (
	"encoding/json"
	"net/http"
	"time"
)

// Reply is what the server answers to one request: an answer (Text and/or
// ToolCalls), how to deliver it when the client streams, and at most one
// fault. The zero Reply is an empty answer with finish_reason "stop".
type Reply struct {
	Text      string
	ToolCalls []ToolCall
	// Usage is reported when set (in the final chunk when streaming and the
	// client asked for it); nil leaves usage out, as many servers do.
	Usage *Usage
	// FinishReason defaults to "tool_calls" when there are tool calls and
	// "stop" otherwise.
	FinishReason string

	// Chunks splits the text and each tool call's arguments into this many
	// deltas when streaming (default 1). Only the first delta of a tool call
	// carries its id, type and name; the rest carry its index and a
	// fragment of the arguments, as real servers do.
	Chunks int
	// Interleave sends the deltas of several tool calls round-robin by
	// index rather than one call after another.
	Interleave bool
	// KeepAlives puts an SSE comment line before every chunk.
	KeepAlives bool
	// NoDone ends a stream after finish_reason without the [DONE] line,
	// which some servers do and a client must accept.
	NoDone bool

	// Latency is waited before the first byte; ChunkLatency between
	// streamed chunks. Both end early when the client goes away.
	Latency      time.Duration
	ChunkLatency time.Duration

	// Status answers with this HTTP status and an OpenAI-style error body
	// carrying ErrorMessage (default: the status text).
	Status int
	// RetryAfter, with Status, is sent as a Retry-After header in whole
	// seconds (rounded up).
	RetryAfter time.Duration
	// Header is added to the response (e.g. a Retry-After HTTP date).
	Header http.Header
	// ErrorMessage is the message of a Status error or a MidStreamError.
	ErrorMessage string

	// FailAfter is how many deltas a stream delivers before its fault
	// (MidStreamError, Truncate, MalformedJSON or Stall).
	FailAfter int
	// Stall accepts the request and never answers (after FailAfter deltas
	// when streaming), until the client goes away or the server closes.
	Stall bool
	// MalformedJSON answers 200 with a body (or, streaming, an SSE event)
	// that is not valid JSON.
	MalformedJSON bool
	// MidStreamError sends {"error": {...}} as an SSE event after
	// FailAfter deltas and ends the stream. Without streaming it is a 200
	// whose body is that error object.
	MidStreamError bool
	// Truncate ends a stream after FailAfter deltas with neither a
	// finish_reason nor [DONE]; without streaming it cuts the JSON body.
	Truncate bool
}

// ToolCall is a tool call the scripted model makes.
type ToolCall struct {
	ID        string // default "call_<n>"
	Name      string
	Arguments string // JSON text
}

// Usage is the token usage a reply reports.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Handler scripts replies that depend on the request or on state, e.g. a
// hostile model that reacts to the tool results it is sent. It runs on
// the server's goroutines and may be called concurrently.
type Handler func(req Request) Reply

// Request is one request as the server received it: a chat completion,
// or an embeddings request (Path EmbeddingsPath), which sets only Index,
// Path, Model, Input, Header and Body.
type Request struct {
	Index int // order of arrival, from 0, embeddings requests included
	// Path is the URL path: ChatPath or EmbeddingsPath.
	Path       string
	Model      string
	Input      []string // the texts of an embeddings request
	Messages   []Message
	Tools      []Tool
	ToolChoice json.RawMessage
	Stream     bool
	// IncludeUsage is stream_options.include_usage.
	IncludeUsage bool
	Temperature  *float64
	MaxTokens    int
	Stop         []string
	Seed         *int
	Header       http.Header
	Body         json.RawMessage // the raw body, for anything not decoded above
}

// Message is one message of a request. Content is the text, with the text
// parts of an array content joined; ContentNull says the content was null.
type Message struct {
	Role        string
	Content     string
	ContentNull bool
	ToolCalls   []ToolCall
	ToolCallID  string
	Name        string
}

// Tool is a tool offered in a request.
type Tool struct {
	Type        string
	Name        string
	Description string
	Parameters  json.RawMessage
}

// LastMessage returns the request's last message, or a zero Message.
func (r Request) LastMessage() Message {
	if len(r.Messages) == 0 {
		return Message{}
	}
	return r.Messages[len(r.Messages)-1]
}

// ToolNames lists the names of the tools offered.
func (r Request) ToolNames() []string {
	var names []string
	for _, t := range r.Tools {
		names = append(names, t.Name)
	}
	return names
}

type wireRequest struct {
	Model         string          `json:"model"`
	Messages      []wireMessage   `json:"messages"`
	Tools         []wireTool      `json:"tools"`
	ToolChoice    json.RawMessage `json:"tool_choice"`
	Stream        bool            `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Temperature *float64 `json:"temperature"`
	MaxTokens   int      `json:"max_tokens"`
	Stop        []string `json:"stop"`
	Seed        *int     `json:"seed"`
}

type wireMessage struct {
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	ToolCalls []struct {
		ID       string `json:"id"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
	} `json:"tool_calls"`
	ToolCallID string `json:"tool_call_id"`
	Name       string `json:"name"`
}

type wireTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

func decodeRequest(body []byte) (Request, error) {
	var w wireRequest
	if err := json.Unmarshal(body, &w); err != nil {
		return Request{Body: body}, err
	}
	r := Request{
		Model: w.Model, ToolChoice: w.ToolChoice, Stream: w.Stream,
		IncludeUsage: w.StreamOptions != nil && w.StreamOptions.IncludeUsage,
		Temperature:  w.Temperature, MaxTokens: w.MaxTokens, Stop: w.Stop, Seed: w.Seed,
		Body: body,
	}
	for _, m := range w.Messages {
		msg := Message{Role: m.Role, ToolCallID: m.ToolCallID, Name: m.Name}
		switch c := m.Content; {
		case len(c) == 0 || string(c) == "null":
			msg.ContentNull = true
		case c[0] == '"':
			if err := json.Unmarshal(c, &msg.Content); err != nil {
				return r, err
			}
		default:
			var parts []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			}
			if err := json.Unmarshal(c, &parts); err != nil {
				return r, err
			}
			for _, p := range parts {
				if p.Type == "text" {
					msg.Content += p.Text
				}
			}
		}
		for _, tc := range m.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
		}
		r.Messages = append(r.Messages, msg)
	}
	for _, t := range w.Tools {
		r.Tools = append(r.Tools, Tool{Type: t.Type, Name: t.Function.Name, Description: t.Function.Description, Parameters: t.Function.Parameters})
	}
	return r, nil
}
