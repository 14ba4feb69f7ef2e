package agent

import "encoding/json"

// EventKind says what an Event reports.
type EventKind string

const (
	EventText       EventKind = "text"        // a piece of the model's answer (Text)
	EventToolCall   EventKind = "tool_call"   // the model asked for a tool (Tool, Args, CallID)
	EventToolResult EventKind = "tool_result" // a tool answered (Tool, CallID, Text, Data) or failed (Err)
	EventDecision   EventKind = "decision"    // the policy decided a tool's intent (Decision, Reasons)
	EventTx         EventKind = "tx"          // a transaction was sent (TxHash, TxStatus)
	EventRefused    EventKind = "refused"     // the agent refused a model reply whole, none of its tool calls ran (Text says why)
	EventDone       EventKind = "done"        // the turn ended; Text is the whole answer
)

// Event is one step of a turn, as the CLI and the bots render it and
// `mandate chat --json` prints it (one JSON object a line).
type Event struct {
	Kind     EventKind       `json:"kind"`
	Text     string          `json:"text,omitempty"`
	Tool     string          `json:"tool,omitempty"`
	CallID   string          `json:"call_id,omitempty"`
	Args     json.RawMessage `json:"args,omitempty"`
	Data     any             `json:"data,omitempty"`
	Err      string          `json:"error,omitempty"`
	Decision string          `json:"decision,omitempty"`
	Reasons  []string        `json:"reasons,omitempty"`
	TxHash   string          `json:"tx_hash,omitempty"`
	TxStatus string          `json:"tx_status,omitempty"`
	Steps    int             `json:"steps,omitempty"` // on done: model calls made
}
