package offline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/tmc/langchaingo/llms"
)

// Model is the offline intent model. It holds only configuration, so one
// Model serves any number of sessions concurrently.
type Model struct {
	name   string
	chunks int
}

var _ llms.Model = (*Model)(nil)

// Option configures a Model.
type Option func(*Model)

// WithName sets the model name reported in GenerationInfo["model"]
// (default "mandate-offline"), for event streams and logs that show which
// model answered.
func WithName(name string) Option { return func(m *Model) { m.name = name } }

// WithStreamChunks sets how many pieces a streamed text answer is cut into
// (default 4), so streaming front ends exercise the same path as with a
// real backend.
func WithStreamChunks(n int) Option {
	return func(m *Model) {
		if n > 0 {
			m.chunks = n
		}
	}
}

// New returns the offline model.
func New(opts ...Option) *Model {
	m := &Model{name: "mandate-offline", chunks: 4}
	for _, o := range opts {
		o(m)
	}
	return m
}

// ErrNoMessages is returned for an empty conversation: there is nothing to
// answer, and answering anyway would hide a caller's bug.
var ErrNoMessages = errors.New("offline: no messages")

// GenerateContent answers the conversation's last message. It is stateless
// and deterministic: the same messages give the same answer and the same
// tool call IDs.
//
//   - A tool result (ToolCallResponse parts) is relayed in words.
//   - The owner's (human) message is parsed; a recognised command becomes a
//     tool call if the tool is offered, anything else a text answer.
//   - Any other last message (AI, system, a generic chat member) is not the
//     owner speaking and is never parsed.
func (m *Model) GenerateContent(ctx context.Context, messages []llms.MessageContent, options ...llms.CallOption) (*llms.ContentResponse, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(messages) == 0 {
		return nil, ErrNoMessages
	}
	var opts llms.CallOptions
	for _, o := range options {
		o(&opts)
	}
	idx := len(messages) - 1
	last := messages[idx]

	if results := toolResults(last); len(results) > 0 {
		return m.text(ctx, &opts, relay(results))
	}
	if last.Role != llms.ChatMessageTypeHuman {
		return m.text(ctx, &opts, "Nothing to do: the last message is not from you.")
	}
	userText := textOf(last)
	in := parse(userText)
	if in.Tool == "" {
		return m.text(ctx, &opts, in.Text)
	}
	in.Tool = chooseChain(&opts, in)
	if !offered(&opts, in.Tool) {
		return m.text(ctx, &opts, notAvailableText(in.Tool))
	}
	args, err := json.Marshal(in.Args) // map keys are sorted: deterministic
	if err != nil {
		return nil, fmt.Errorf("offline: encode arguments: %w", err)
	}
	call := llms.ToolCall{
		ID:           callID(idx, userText),
		Type:         "function",
		FunctionCall: &llms.FunctionCall{Name: in.Tool, Arguments: string(args)},
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{
		StopReason:     "tool_calls",
		GenerationInfo: m.info(),
		FuncCall:       call.FunctionCall,
		ToolCalls:      []llms.ToolCall{call},
	}}}, nil
}

// Call answers a single prompt in text. A recognised command is described
// rather than executed: Call has no way to return a tool call, and saying
// what would be called is what `mandate llm ask` should show.
func (m *Model) Call(ctx context.Context, prompt string, options ...llms.CallOption) (string, error) {
	resp, err := m.GenerateContent(ctx, []llms.MessageContent{llms.TextParts(llms.ChatMessageTypeHuman, prompt)}, options...)
	if err != nil {
		return "", err
	}
	c := resp.Choices[0]
	if len(c.ToolCalls) > 0 {
		fc := c.ToolCalls[0].FunctionCall
		return fmt.Sprintf("I would call %s %s.", fc.Name, fc.Arguments), nil
	}
	return c.Content, nil
}

// text builds a text answer, streaming it first when asked to.
func (m *Model) text(ctx context.Context, opts *llms.CallOptions, s string) (*llms.ContentResponse, error) {
	if opts.StreamingFunc != nil {
		for _, chunk := range split(s, m.chunks) {
			if err := opts.StreamingFunc(ctx, []byte(chunk)); err != nil {
				return nil, fmt.Errorf("offline: streaming: %w", err)
			}
		}
	}
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{
		Content:        s,
		StopReason:     "stop",
		GenerationInfo: m.info(),
	}}}, nil
}

// info carries the model name and no token counts: there are no tokens, and
// a zero would read as "free" in usage accounting rather than "unknown".
func (m *Model) info() map[string]any {
	return map[string]any{"model": m.name}
}

// split cuts s at word boundaries into at most n pieces whose concatenation
// is exactly s.
func split(s string, n int) []string {
	words := strings.SplitAfter(s, " ")
	per := (len(words) + n - 1) / n
	if per < 1 {
		per = 1
	}
	var out []string
	for i := 0; i < len(words); i += per {
		out = append(out, strings.Join(words[i:min(i+per, len(words))], ""))
	}
	return out
}

// callID is deterministic per conversation position and text, so a replayed
// conversation produces the same IDs and journals can be compared.
func callID(idx int, text string) string {
	sum := sha256.Sum256([]byte(strconv.Itoa(idx) + "\x00" + text))
	return "offline-" + hex.EncodeToString(sum[:6])
}

// chooseChain picks the Solana tool for in when the words say Solana, or
// when the wallet does: only the Solana tool is offered, not the EVM one.
// Words that say Solana where only the EVM tool is offered go to the EVM
// tool, whose own checks refuse a base58 address with a reason.
func chooseChain(opts *llms.CallOptions, in intent) string {
	sol, ok := solanaTool[in.Tool]
	if !ok {
		return in.Tool
	}
	evm := offered(opts, in.Tool)
	if offered(opts, sol) && (in.Solana || !evm) {
		return sol
	}
	return in.Tool
}

// offered reports whether tool may be called. With no tools listed at all
// every tool is assumed available (as with `mandate llm ask`); a caller that
// lists tools, or sets tool_choice "none", restricts the model like a real one.
func offered(opts *llms.CallOptions, tool string) bool {
	if s, ok := opts.ToolChoice.(string); ok && s == "none" {
		return false
	}
	if len(opts.Tools) == 0 && len(opts.Functions) == 0 {
		return true
	}
	for _, t := range opts.Tools {
		if t.Function != nil && t.Function.Name == tool {
			return true
		}
	}
	for _, f := range opts.Functions {
		if f.Name == tool {
			return true
		}
	}
	return false
}

func toolResults(msg llms.MessageContent) []resultPart {
	var out []resultPart
	for _, p := range msg.Parts {
		if r, ok := p.(llms.ToolCallResponse); ok {
			out = append(out, resultPart{name: r.Name, content: r.Content})
		}
	}
	return out
}

// textOf joins the text parts of the owner's message. Extra parts (context
// a caller prepended) make the message not match the anchored grammar,
// which answers "not understood" rather than guessing.
func textOf(msg llms.MessageContent) string {
	var parts []string
	for _, p := range msg.Parts {
		if t, ok := p.(llms.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	return strings.Join(parts, "\n")
}
