package llm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tmc/langchaingo/llms"
)

var (
	sseData  = []byte("data:")
	sseEvent = []byte("event:")
	sseDone  = []byte("[DONE]")
)

// readStream reads an SSE chat completion stream, passing text deltas to
// the streaming functions as they arrive, and assembles the whole answer.
func (c *Client) readStream(ctx context.Context, body io.Reader, co *llms.CallOptions) (*llms.ContentResponse, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, min(64<<10, c.maxLine)), c.maxLine)

	a := assembler{c: c, co: co}
	var (
		data  []byte // data lines of the event being read
		event string // its event: field, when a server names events
	)
	flush := func() (done bool, err error) {
		if len(data) == 0 {
			event = ""
			return false, nil
		}
		d, ev := data, event
		data, event = data[:0], ""
		return a.event(ctx, d, ev)
	}
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case len(line) == 0:
			if done, err := flush(); done || err != nil {
				return a.result(done, err)
			}
		case line[0] == ':':
			// comment or keep-alive
		case bytes.HasPrefix(line, sseData):
			v := bytes.TrimPrefix(bytes.TrimPrefix(line, sseData), []byte(" "))
			if len(data) > 0 && json.Valid(data) {
				// A server that leaves out the blank line between
				// events: dispatch the complete one first.
				if done, err := flush(); done || err != nil {
					return a.result(done, err)
				}
			}
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, v...)
		case bytes.HasPrefix(line, sseEvent):
			event = string(bytes.TrimSpace(bytes.TrimPrefix(line, sseEvent)))
		default:
			// id:, retry: and unknown fields carry nothing for us
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("llm backend %s: %w: an SSE line is longer than %d bytes (see WithMaxLineBytes): %v",
				c.b.Name, ErrMalformedResponse, c.maxLine, err)
		}
		return nil, c.transportError(ctx, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, c.transportError(ctx, err)
	}
	done, err := flush()
	return a.result(done, err)
}

// assembler accumulates a streamed answer.
type assembler struct {
	c      *Client
	co     *llms.CallOptions
	text   []byte
	reason []byte
	calls  []*toolCallState // by the delta's index
	finish string
	usage  *wireUsage
}

type toolCallState struct {
	id, typ, name string
	args          []byte
}

// event handles one SSE data payload; done reports [DONE].
func (a *assembler) event(ctx context.Context, data []byte, event string) (done bool, err error) {
	name := a.c.b.Name
	if bytes.Equal(bytes.TrimSpace(data), sseDone) {
		return true, nil
	}
	var ch streamChunk
	if err := json.Unmarshal(data, &ch); err != nil {
		if event == "error" {
			return false, &StreamError{Backend: name, Message: a.c.clean(string(data))}
		}
		return false, fmt.Errorf("llm backend %s: %w: invalid JSON (%v) in SSE event starting %q",
			name, ErrMalformedResponse, err, shorten(a.c.clean(string(data)), 80))
	}
	if len(ch.Error) > 0 && string(ch.Error) != "null" {
		return false, &StreamError{Backend: name, Message: a.c.clean(errorMessage(ch.Error))}
	}
	if event == "error" {
		return false, &StreamError{Backend: name, Message: a.c.clean(string(data))}
	}
	if ch.Usage != nil {
		a.usage = ch.Usage
	}
	for _, choice := range ch.Choices {
		if choice.Index != 0 {
			continue // we never ask for n > 1
		}
		d := choice.Delta
		if d.ReasoningContent != "" {
			a.reason = append(a.reason, d.ReasoningContent...)
			if f := a.co.StreamingReasoningFunc; f != nil {
				if err := f(ctx, []byte(d.ReasoningContent), nil); err != nil {
					return false, fmt.Errorf("llm backend %s: streaming callback: %w", name, err)
				}
			}
		}
		if d.Content != "" {
			a.text = append(a.text, d.Content...)
			if err := a.co.StreamingFunc(ctx, []byte(d.Content)); err != nil {
				return false, fmt.Errorf("llm backend %s: streaming callback: %w", name, err)
			}
		}
		for _, td := range d.ToolCalls {
			if err := a.merge(td); err != nil {
				return false, fmt.Errorf("llm backend %s: %w: %v", name, ErrMalformedResponse, err)
			}
		}
		if choice.FinishReason != nil && *choice.FinishReason != "" {
			a.finish = *choice.FinishReason
		}
	}
	return false, nil
}

// merge folds a tool-call delta into the call at its index. Later deltas
// usually carry only the index and an arguments fragment, so id, type and
// name are kept from whichever delta first gave them.
func (a *assembler) merge(td toolCallDelta) error {
	i := a.indexOf(td)
	if i < 0 || i > 1024 {
		return fmt.Errorf("tool call index %d out of range", i)
	}
	for len(a.calls) <= i {
		a.calls = append(a.calls, nil)
	}
	st := a.calls[i]
	if st == nil {
		st = &toolCallState{}
		a.calls[i] = st
	}
	if st.id == "" {
		st.id = td.ID
	}
	if st.typ == "" {
		st.typ = td.Type
	}
	if st.name == "" {
		st.name = td.Function.Name
	}
	frag, err := td.Function.Arguments.text()
	if err != nil {
		return fmt.Errorf("tool call %d arguments: %v", i, err)
	}
	st.args = append(st.args, frag...)
	return nil
}

// indexOf places a delta. The index is authoritative; for servers that
// omit it, a new id starts a new call and anything else continues the last.
func (a *assembler) indexOf(td toolCallDelta) int {
	if td.Index != nil {
		return *td.Index
	}
	if td.ID != "" {
		for i, st := range a.calls {
			if st != nil && st.id == td.ID {
				return i
			}
		}
		return len(a.calls)
	}
	return max(len(a.calls)-1, 0)
}

// result turns the assembled stream into a response, or reports why not.
func (a *assembler) result(done bool, err error) (*llms.ContentResponse, error) {
	if err != nil {
		return nil, err
	}
	if !done && a.finish == "" {
		// Some servers stop after finish_reason without [DONE]; that is
		// complete. Neither means the connection was cut short.
		return nil, fmt.Errorf("llm backend %s: %w", a.c.b.Name, ErrStreamTruncated)
	}
	choice := &llms.ContentChoice{
		Content:          string(a.text),
		StopReason:       a.finish,
		ReasoningContent: string(a.reason),
	}
	for _, st := range a.calls {
		if st == nil {
			continue // a server whose indices skip a number, or start at 1
		}
		choice.ToolCalls = append(choice.ToolCalls, llms.ToolCall{
			ID:           st.id,
			Type:         "function",
			FunctionCall: &llms.FunctionCall{Name: st.name, Arguments: string(st.args)},
		})
	}
	finishChoice(choice, a.usage)
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{choice}}, nil
}
