package agent

import (
	"encoding/json"
	"time"
)

// Message is one turn of a conversation as the agent stores and replays
// it. The agent owns this type so that a program importing agent links no
// store: a Memory keeps Messages in whatever it is built on (the runtime's
// adapter over the database has the same fields, so it converts without
// copying field by field).
type Message struct {
	ID         int64           // numbered by the Memory's Append
	Chat       string          // the conversation it belongs to, e.g. "telegram:42"
	Role       string          // "system", "user", "assistant" or "tool"
	Content    string          // the text
	ToolCalls  json.RawMessage // an assistant's tool calls: a JSON array of ToolCall; nil when none
	ToolCallID string          // for role "tool": the call this result answers
	ToolName   string          // for role "tool": the tool that answered
	Tokens     int             // estimated tokens, which the history budget counts
	At         time.Time       // when it was stored; set by the Memory's Append
}

// ToolCall is one element of Message.ToolCalls: how a call is kept, so a
// Memory's stored conversation replays to any model.
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}
