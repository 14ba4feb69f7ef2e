package mcp

import (
	"encoding/json"
	"errors"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// Reply is a tool call's structured content: the tool's text and data, and
// for a tool that asked the policy, the same typed outcome the agent's
// events carry (decision, reasons, intent, transaction). A failed call has
// Error, and a refusal Denied, its reasons and advice.
type Reply struct {
	Tool      string `json:"tool"`
	Untrusted bool   `json:"untrusted_data"`
	Error     string `json:"error,omitempty"`
	// Kind says what kind of failure Error is: "denied" (the policy
	// refused), "not_confirmed" (a person declined, or none could be
	// asked), "bad_argument" (the caller's mistake) or "failed".
	Kind    string         `json:"kind,omitempty"`
	Denied  bool           `json:"denied,omitempty"`
	Reasons []string       `json:"reasons,omitempty"`
	Advice  string         `json:"advice,omitempty"`
	Text    string         `json:"text,omitempty"`
	Data    any            `json:"data,omitempty"`
	Outcome *tools.Outcome `json:"outcome,omitempty"`
}

// Failure kinds of a Reply.
const (
	KindDenied       = "denied"
	KindNotConfirmed = "not_confirmed"
	KindBadArgument  = "bad_argument"
	KindFailed       = "failed"
)

// Advice the model reads with a refusal, as the agent's model does.
const (
	adviceDenied       = "The owner's policy refused this. Explain the reasons; do not retry it in another form."
	adviceNotConfirmed = "A person must confirm this and did not. Tell the user; do not retry it in another form."
	adviceBadArgument  = "Fix the named argument (the tool's input schema lists them) and call again."
)

func success(name string, res tools.Result) *sdk.CallToolResult {
	r := Reply{Tool: name, Untrusted: true, Text: res.Text, Data: res.Data, Outcome: res.Outcome}
	return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: text(r)}}, StructuredContent: r}
}

// failure is a tool error the model can act on: a refusal names its
// reasons and says not to retry, a bad argument names the field.
func failure(name string, res tools.Result, err error) *sdk.CallToolResult {
	r := Reply{Tool: name, Untrusted: true, Outcome: res.Outcome, Error: err.Error(), Kind: KindFailed}
	denied, isDenied := errors.AsType[*policies.Denied](err)
	_, isArg := errors.AsType[*tools.ArgError](err)
	switch {
	case isDenied:
		r.Kind, r.Denied, r.Advice = KindDenied, true, adviceDenied
		for _, rs := range denied.Reasons {
			r.Reasons = append(r.Reasons, rs.String())
		}
	case errors.Is(err, tools.ErrNotConfirmed):
		r.Kind, r.Denied, r.Advice = KindNotConfirmed, true, adviceNotConfirmed
		if res.Outcome != nil {
			r.Reasons = res.Outcome.Reasons
		}
	case isArg:
		r.Kind, r.Advice = KindBadArgument, adviceBadArgument
	}
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: text(r)}}, StructuredContent: r}
}

// text is the reply as the model reads it: JSON marked as untrusted data,
// so strings from the chain (token names, memos) stay quoted.
func text(r Reply) string {
	b, err := json.Marshal(r)
	if err != nil {
		b, _ = json.Marshal(Reply{Tool: r.Tool, Untrusted: true, Text: r.Text, Error: r.Error, Kind: r.Kind, Reasons: r.Reasons, Advice: r.Advice})
	}
	return string(b)
}
