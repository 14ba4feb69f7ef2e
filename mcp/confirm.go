package mcp

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// confirmID names the one input request a tool call asks its client for:
// a person's yes or no.
const confirmID = "confirm"

// confirmTTL is how long a person's answer stays good for the call it was
// asked in.
const confirmTTL = 10 * time.Minute

// confirmer is the person behind one MCP tool call, asked through the
// client (MCP elicitation, as a multi-round-trip input request). The call
// cannot wait for the answer: the tool stops before anything is signed,
// the handler returns the question, and the client calls again with the
// answer, which approves only the very action it was asked about (its
// policies.ActionDigest), once.
type confirmer struct {
	s      *Server
	tool   string
	canAsk bool

	mu      sync.Mutex
	prior   *confirmState     // the verified question this call answers, if any
	answer  *sdk.ElicitResult // the client's answer to prior
	pending *question         // what to ask, when the tool stopped to ask
}

type question struct {
	in     policies.Intent
	why    []string
	action string
}

// confirmState is what a question carries to its answer, sealed by the
// server: the client echoes it back and can neither forge nor alter it.
type confirmState struct {
	Tool   string `json:"t"`
	Action string `json:"a"`
	Nonce  string `json:"n"`
	Exp    int64  `json:"e"`
}

func (s *Server) confirmer(req *sdk.CallToolRequest, tool string) *confirmer {
	c := &confirmer{s: s, tool: tool}
	if caps := req.ClientCapabilities(); caps != nil && caps.Elicitation != nil {
		// Form elicitation, which a client that names neither mode has.
		c.canAsk = caps.Elicitation.Form != nil || caps.Elicitation.URL == nil
	}
	if req.Params.RequestState == "" {
		return c
	}
	st, ok := s.state.open(req.Params.RequestState)
	if !ok || st.Tool != tool || time.Now().Unix() > st.Exp {
		return c
	}
	if ans, ok := req.Params.InputResponses[confirmID].(*sdk.ElicitResult); ok && ans != nil && s.state.spend(st.Nonce, st.Exp) {
		c.prior, c.answer = &st, ans
	}
	return c
}

// Approve answers from the client's reply when this call carries one for
// this very action; otherwise it stops the tool (nothing is signed) to put
// the question to the client, or, when the client cannot ask anyone,
// refuses and says where a person can confirm.
func (c *confirmer) Approve(_ context.Context, in policies.Intent, why []string) (bool, error) {
	action, err := policies.ActionDigest(in)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prior != nil && c.prior.Action == action {
		ans := c.answer
		c.prior, c.answer = nil, nil // one answer, one approval
		approve, _ := ans.Content["approve"].(bool)
		return ans.Action == "accept" && approve, nil
	}
	if !c.canAsk {
		return false, fmt.Errorf("%w: the policy wants a person to confirm this %s (%s), and this MCP client cannot ask one (it does not support elicitation); do it where a person can confirm it: %s",
			tools.ErrNotConfirmed, in.Kind(), strings.Join(why, "; "), c.s.elsewhere)
	}
	if c.pending != nil {
		return false, errAsking // one question a round
	}
	c.pending = &question{in: in, why: why, action: action}
	return false, errAsking
}

var errAsking = fmt.Errorf("%w: waiting for the client's user to confirm", tools.ErrNotConfirmed)

// question returns the input-required result that asks the client's user,
// when the tool stopped to ask.
func (c *confirmer) question() (*sdk.CallToolResult, bool) {
	c.mu.Lock()
	q := c.pending
	c.mu.Unlock()
	if q == nil {
		return nil, false
	}
	raw, err := policies.Marshal(q.in)
	if err != nil {
		return nil, false
	}
	var shown json.RawMessage = raw
	if pretty, err := json.MarshalIndent(shown, "", "  "); err == nil {
		shown = pretty
	}
	msg := fmt.Sprintf("The wallet owner's policy asks a person to confirm this %s before it is signed (%s):\n%s\nBecause: %s\nApprove it?",
		q.in.Kind(), c.tool, shown, strings.Join(q.why, "; "))
	st := c.s.state.seal(confirmState{Tool: c.tool, Action: q.action, Nonce: nonce(), Exp: time.Now().Add(confirmTTL).Unix()})
	return &sdk.CallToolResult{
		InputRequests: sdk.InputRequestMap{confirmID: &sdk.ElicitParams{
			Mode:    "form",
			Message: msg,
			RequestedSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"approve": map[string]any{"type": "boolean", "title": "Approve", "description": "true signs and sends it; false refuses it"},
				},
				"required": []string{"approve"},
			},
		}},
		RequestState: st,
	}, true
}

// stateKey seals confirmation states with an HMAC under a key of this
// process, and remembers the answers spent, so one "yes" approves one
// action once.
type stateKey struct {
	key []byte

	mu    sync.Mutex
	spent map[string]int64 // nonce → expiry
}

func newStateKey() *stateKey {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		panic("mcp: no randomness for the confirmation key: " + err.Error())
	}
	return &stateKey{key: k, spent: map[string]int64{}}
}

func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (k *stateKey) mac(payload string) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func (k *stateKey) seal(st confirmState) string {
	b, _ := json.Marshal(st)
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(k.mac(payload))
}

func (k *stateKey) open(s string) (confirmState, bool) {
	payload, sig, ok := strings.Cut(s, ".")
	if !ok {
		return confirmState{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, k.mac(payload)) {
		return confirmState{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	var st confirmState
	if err != nil || json.Unmarshal(b, &st) != nil {
		return confirmState{}, false
	}
	return st, true
}

// spend marks a question's nonce answered, false when it already was.
func (k *stateKey) spend(nonce string, exp int64) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now().Unix()
	for n, e := range k.spent {
		if e < now {
			delete(k.spent, n)
		}
	}
	if _, used := k.spent[nonce]; used {
		return false
	}
	k.spent[nonce] = exp
	return true
}
