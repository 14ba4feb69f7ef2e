package llm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tmc/langchaingo/llms"
)

// QuorumResult says how a Quorum vote went.
type QuorumResult struct {
	N      int      // backends whose answers count
	Needed int      // votes a proposal needed: a strict majority of N
	Agreed []string // backends whose proposal was taken, in routing order
	// Proposals holds what each asked backend answered (or how it failed),
	// in routing order.
	Proposals []Proposal
}

// Proposal is one backend's answer in a Quorum vote.
type Proposal struct {
	Backend string
	// Calls are the tool calls proposed, arguments canonicalized (JSON with
	// sorted keys, no spaces); empty when the backend answered in text.
	Calls []ProposedCall
	Text  string // the text answer, shortened, when there are no Calls
	Err   string // why the backend gave no answer (redacted); then nothing else is set
}

// ProposedCall is one tool call as voted on.
type ProposedCall struct {
	Name      string
	Arguments string // canonical JSON; the raw text when it is not JSON
}

func (p Proposal) String() string {
	switch {
	case p.Err != "":
		return p.Backend + " failed: " + p.Err
	case len(p.Calls) == 0:
		return fmt.Sprintf("%s answered without a tool call: %q", p.Backend, p.Text)
	}
	calls := make([]string, len(p.Calls))
	for i, c := range p.Calls {
		calls[i] = c.Name + " " + c.Arguments
	}
	return p.Backend + " proposed " + strings.Join(calls, ", then ")
}

// NoQuorumError is returned by Quorum when no proposal won a strict
// majority. It lists what each backend proposed so that the agent can put
// the question to a person instead of acting.
type NoQuorumError struct {
	Result QuorumResult
}

func (e *NoQuorumError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "llm: no quorum: %d of %d backends had to agree", e.Result.Needed, e.Result.N)
	for i, p := range e.Result.Proposals {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Quorum asks n backends the same question in parallel and takes a tool
// call only when a strict majority of them propose the same calls: same
// tool names in the same order with the same arguments once canonicalized
// (JSON parsed and re-encoded with sorted keys; numbers, and numbers written
// as strings, are compared exactly as given, so "1.5" and 1.5 differ). A
// majority answering without a tool call is taken too: nothing moves.
// Otherwise it returns a *NoQuorumError. This is for steps that move value,
// where one wrong or hostile model must not be enough.
//
// n <= 0 means every usable backend. A backend that fails is replaced by the
// next usable one, so n answers are sought; the majority is always counted
// over n. The answer returned is the first agreeing backend's, in routing
// order. Quorum does not stream: opts' streaming functions are ignored.
func (r *Router) Quorum(ctx context.Context, n int, messages []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, QuorumResult, error) {
	var co llms.CallOptions
	for _, o := range opts {
		o(&co)
	}
	needTools := len(co.Tools) > 0 || len(co.Functions) > 0
	cands, _ := r.candidates(needTools, r.cfg.now())
	if n <= 0 {
		n = len(cands)
	}
	res := QuorumResult{N: n, Needed: n/2 + 1}
	if len(cands) == 0 {
		return nil, res, r.noBackend(needTools)
	}
	if len(cands) < n {
		return nil, res, fmt.Errorf("%w: a quorum of %d needs %d backends, %d usable", ErrNoBackend, n, n, len(cands))
	}

	qctx, cancelAll := context.WithCancel(ctx)
	defer cancelAll()
	callOpts := make([]llms.CallOption, len(opts), len(opts)+1)
	copy(callOpts, opts)
	callOpts = append(callOpts, func(o *llms.CallOptions) {
		o.StreamingFunc, o.StreamingReasoningFunc = nil, nil
	})

	type answer struct {
		i    int // index in cands: routing order
		resp *llms.ContentResponse
		err  error
		// cause is why the Router cancelled the attempt (a timeout), when
		// it did.
		cause error
		lat   time.Duration
	}
	answers := make(chan answer, len(cands))
	start := func(i int) {
		b := cands[i]
		b.st.begin()
		go func() {
			actx, cancel := context.WithCancelCause(qctx)
			defer cancel(nil)
			if d := r.cfg.attemptTimeout; d > 0 {
				t := time.AfterFunc(d, func() { cancel(errAttemptTimeout) })
				defer t.Stop()
			}
			begin := r.cfg.now()
			resp, err := b.Model.GenerateContent(actx, messages, callOpts...)
			a := answer{i: i, resp: resp, err: err, lat: r.cfg.now().Sub(begin)}
			if err != nil && actx.Err() != nil && qctx.Err() == nil {
				a.cause = context.Cause(actx)
			}
			answers <- a
		}()
	}
	next, inflight := 0, 0
	for ; next < n; next++ {
		start(next)
		inflight++
	}

	got := make([]*answer, len(cands))
	votes := map[string]int{}
	keys := make([]string, len(cands))
	decided := false
	for inflight > 0 && !decided {
		select {
		case <-ctx.Done():
			cancelAll()
			for ; inflight > 0; inflight-- {
				<-answers
			}
			return nil, res, fmt.Errorf("llm quorum: %w", context.Cause(ctx))
		case a := <-answers:
			inflight--
			got[a.i] = &a
			b := cands[a.i]
			if a.err != nil {
				if ctx.Err() != nil {
					continue // the caller gave up; the ctx case returns
				}
				r.recordFailure(b, a.err, a.cause)
				if next < len(cands) {
					start(next)
					next++
					inflight++
				}
				continue
			}
			b.st.success(a.lat)
			keys[a.i] = voteKey(b.Name, a.resp)
			// A strict majority of n cannot be overturned by the answers
			// still to come: stop waiting for them.
			if votes[keys[a.i]]++; votes[keys[a.i]] >= res.Needed {
				decided = true
			}
		}
	}
	cancelAll()
	for ; inflight > 0; inflight-- {
		<-answers
	}
	if ctx.Err() != nil {
		return nil, res, fmt.Errorf("llm quorum: %w", context.Cause(ctx))
	}

	var winner string
	for k, v := range votes {
		if v >= res.Needed {
			winner = k
		}
	}
	var resp *llms.ContentResponse
	for i, a := range got {
		if a == nil {
			continue
		}
		p := Proposal{Backend: cands[i].Name}
		if a.err != nil {
			p.Err = redactError(a.err)
		} else {
			p.Calls, p.Text = proposalOf(a.resp)
			if winner != "" && keys[i] == winner {
				res.Agreed = append(res.Agreed, cands[i].Name)
				if resp == nil {
					resp = a.resp
				}
			}
		}
		res.Proposals = append(res.Proposals, p)
	}
	if winner == "" {
		return nil, res, &NoQuorumError{Result: res}
	}
	return resp, res, nil
}

// voteKey is what answers must share to agree. Arguments that are not JSON
// get a key of their own per backend: a call no tool could parse never
// carries a vote.
func voteKey(backend string, resp *llms.ContentResponse) string {
	calls, _ := proposalOf(resp)
	if len(calls) == 0 {
		return "text"
	}
	var b strings.Builder
	b.WriteString("calls")
	for _, c := range calls {
		if !json.Valid([]byte(c.Arguments)) {
			return "invalid\x00" + backend
		}
		b.WriteByte(0)
		b.WriteString(c.Name)
		b.WriteByte(0)
		b.WriteString(c.Arguments)
	}
	return b.String()
}

// maxProposalText bounds the text kept from an answer without tool calls.
const maxProposalText = 200

// proposalOf extracts the canonicalized tool calls of an answer's first
// choice, or its text when it has none.
func proposalOf(resp *llms.ContentResponse) ([]ProposedCall, string) {
	if resp == nil || len(resp.Choices) == 0 || resp.Choices[0] == nil {
		return nil, ""
	}
	ch := resp.Choices[0]
	var calls []ProposedCall
	for _, tc := range ch.ToolCalls {
		if tc.FunctionCall == nil {
			continue
		}
		calls = append(calls, ProposedCall{Name: tc.FunctionCall.Name, Arguments: canonicalArgs(tc.FunctionCall.Arguments)})
	}
	if len(calls) == 0 && ch.FuncCall != nil {
		calls = append(calls, ProposedCall{Name: ch.FuncCall.Name, Arguments: canonicalArgs(ch.FuncCall.Arguments)})
	}
	if len(calls) > 0 {
		return calls, ""
	}
	text := strings.TrimSpace(ch.Content)
	if r := []rune(text); len(r) > maxProposalText {
		text = string(r[:maxProposalText]) + "…"
	}
	return nil, text
}

// canonicalArgs re-encodes JSON arguments with sorted object keys and no
// insignificant space, keeping every number's literal text (json.Number),
// so that {"b":1, "a":"2"} and {"a":"2","b":1} agree and 1.0 and 1 do not:
// the router does not decide that two amounts are equal, the tool does.
// Text that is not JSON is returned unchanged (trimmed).
func canonicalArgs(raw string) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "{}" // some servers send no arguments for a call without any
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return raw
	}
	if _, err := dec.Token(); err != io.EOF { // trailing text after the value
		return raw
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return raw
	}
	return strings.TrimSuffix(buf.String(), "\n")
}
