package agent_test

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
)

// fanOut is one reply of n calls to the same tool with the same arguments.
func fanOut(prefix string, n int, name, args string) llmtest.Reply {
	r := llmtest.Reply{}
	for i := range n {
		r.ToolCalls = append(r.ToolCalls, llmtest.ToolCall{ID: fmt.Sprintf("%s-%d", prefix, i), Name: name, Arguments: args})
	}
	return r
}

// walletState is what a value-moving call leaves behind: the wallet's
// nonce on chain, the journal's highest nonce, the decisions in the audit,
// the friend's USDC and the allowance granted to the friend.
type walletState struct {
	nonce     uint64
	journaled int64 // -1: nothing journaled
	decisions int
	friend    *big.Int
	allowance *big.Int
}

func (s walletState) String() string {
	return fmt.Sprintf("nonce %d, journaled up to %d, %d decisions, friend %s USDC units, allowance %s", s.nonce, s.journaled, s.decisions, s.friend, s.allowance)
}

func (h *hostile) state(ctx context.Context) (walletState, error) {
	c, usdc, me := h.w.Client(), h.d.Address(devnet.USDC), h.w.Address()
	var s walletState
	var err error
	if s.nonce, err = c.PendingNonce(ctx, me); err != nil {
		return s, err
	}
	n, ok, err := h.w.Journal().MaxNonce(ctx, h.w.JournalChain(), me.Hex())
	if err != nil {
		return s, err
	}
	s.journaled = -1
	if ok {
		s.journaled = int64(n)
	}
	ds, err := h.store.Decisions(ctx, memory.DecisionFilter{Wallet: me.Hex()})
	if err != nil {
		return s, err
	}
	s.decisions = len(ds)
	if s.friend, err = c.TokenBalance(ctx, usdc, common.HexToAddress(h.to)); err != nil {
		return s, err
	}
	s.allowance, err = c.Allowance(ctx, usdc, me, common.HexToAddress(h.to))
	return s, err
}

// A hostile model fans out more tool calls in one reply than the agent
// allows: the reply is refused whole (no decision, no transaction, no
// journal entry: the policy would have let every one of them through),
// the model is told why in the answer to each call and the owner in an
// EventRefused; its next reply, with fewer calls, runs.
func TestToolCallLimitRefusesWholeReply(t *testing.T) {
	for _, tc := range []struct {
		name     string
		limit    int // 0: the default
		calls    int
		tool     string
		args     string // FRIEND is the allowed recipient
		retry    int    // calls in the next reply
		friend   int64  // USDC base units the friend has more at the end
		allowed  int64  // the allowance granted to the friend at the end
		maxShown int
	}{
		{"17 approvals", 0, 17, "token_approve", `{"token":"USDC","spender":"FRIEND","amount":"10"}`, 2, 0, 10e6, agent.DefaultMaxToolCalls},
		{"30 transfers", 0, 30, "wallet_transfer", `{"to":"FRIEND","token":"USDC","amount":"1"}`, 2, 2e6, 0, agent.DefaultMaxToolCalls},
		{"3 transfers over a limit of 2", 2, 3, "wallet_transfer", `{"to":"FRIEND","token":"USDC","amount":"1"}`, 2, 2e6, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHostile(t)
			args := strings.ReplaceAll(tc.args, "FRIEND", h.to)
			before, err := h.state(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			// The second request comes after the refused reply was answered
			// and before the retry runs: the wallet's state then is what
			// the refused reply did.
			var (
				mu       sync.Mutex
				between  walletState
				stateErr error
			)
			script := []llmtest.Reply{fanOut("many", tc.calls, tc.tool, args), fanOut("few", tc.retry, tc.tool, args), {Text: "done"}}
			srv := llmtest.NewServer(t, llmtest.WithHandler(func(req llmtest.Request) llmtest.Reply {
				if req.Index == 1 {
					mu.Lock()
					between, stateErr = h.state(context.Background())
					mu.Unlock()
				}
				if req.Index < len(script) {
					return script[req.Index]
				}
				return llmtest.Reply{Text: "out of script"}
			}))
			ag := agent.New(llm.NewClient(srv.Backend("fan-out")), h.reg, agent.WithMemory(mandate.ChatMemory(h.store.Chats())), agent.WithMaxToolCalls(tc.limit))
			evs := collect(t, ag.Session("hostile:fan-out"), "tidy up my wallet")

			mu.Lock()
			defer mu.Unlock()
			if stateErr != nil {
				t.Fatal(stateErr)
			}
			if between.nonce != before.nonce || between.journaled != before.journaled || between.decisions != before.decisions ||
				between.friend.Cmp(before.friend) != 0 || between.allowance.Cmp(before.allowance) != 0 {
				t.Fatalf("the refused reply acted: before %v; after it %v", before, between)
			}

			var refused []agent.Event
			calls, approved := 0, 0
			for _, ev := range evs {
				switch ev.Kind {
				case agent.EventRefused:
					refused = append(refused, ev)
				case agent.EventToolCall:
					calls++
				case agent.EventDecision:
					if ev.Decision == string(policies.DecisionApprove) {
						approved++
					}
				}
			}
			wantWhy := fmt.Sprintf("%d tool calls in one reply and at most %d", tc.calls, tc.maxShown)
			if len(refused) != 1 || !strings.Contains(refused[0].Text, wantWhy) {
				t.Fatalf("refusal events %+v, want one saying %q", refused, wantWhy)
			}
			if calls != tc.retry || approved != tc.retry {
				t.Fatalf("%d tool-call events and %d approvals, want the retry's %d", calls, approved, tc.retry)
			}

			// Every refused call was answered, with the reason, in the
			// request that followed.
			reqs := srv.Requests()
			if len(reqs) != 3 {
				t.Fatalf("%d model requests, want 3", len(reqs))
			}
			answered := 0
			for _, m := range reqs[1].Messages {
				if m.Role == "tool" && strings.HasPrefix(m.ToolCallID, "many-") {
					answered++
					if !strings.Contains(m.Content, "none of them ran") || !strings.Contains(m.Content, fmt.Sprintf("at most %d", tc.maxShown)) {
						t.Fatalf("the model was told %s", m.Content)
					}
				}
			}
			if answered != tc.calls {
				t.Fatalf("%d of the %d refused calls were answered", answered, tc.calls)
			}

			after, err := h.state(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if got := after.nonce - before.nonce; got != uint64(tc.retry) {
				t.Errorf("the retry sent %d transactions, want %d", got, tc.retry)
			}
			if after.journaled != before.journaled+int64(tc.retry) {
				t.Errorf("journal's highest nonce %d, want %d", after.journaled, before.journaled+int64(tc.retry))
			}
			if got := after.decisions - before.decisions; got != tc.retry {
				t.Errorf("%d decisions recorded, want %d", got, tc.retry)
			}
			if got := new(big.Int).Sub(after.friend, before.friend); got.Int64() != tc.friend {
				t.Errorf("the friend received %s base units, want %d", got, tc.friend)
			}
			if after.allowance.Int64() != tc.allowed {
				t.Errorf("allowance %s, want %d", after.allowance, tc.allowed)
			}
		})
	}
}

// A model that keeps fanning out is stopped by the step limit with
// nothing done.
func TestToolCallLimitEndlessFanOut(t *testing.T) {
	h := newHostile(t)
	args := `{"to":"` + h.to + `","token":"USDC","amount":"1"}`
	srv := llmtest.NewServer(t, llmtest.WithHandler(func(llmtest.Request) llmtest.Reply {
		return fanOut("many", 17, "wallet_transfer", args)
	}))
	before, err := h.state(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ag := agent.New(llm.NewClient(srv.Backend("loop")), h.reg, agent.WithMaxSteps(3))
	var last error
	refused := 0
	for ev, err := range ag.Session("hostile:fan-out-loop").Send(t.Context(), "hi") {
		if err != nil {
			last = err
		}
		if ev.Kind == agent.EventRefused {
			refused++
		}
	}
	if last == nil || !strings.Contains(last.Error(), "step limit") || refused != 3 {
		t.Fatalf("%d refusals, error %v; want 3 and the step limit", refused, last)
	}
	after, err := h.state(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if after.nonce != before.nonce || after.decisions != before.decisions || after.friend.Cmp(before.friend) != 0 {
		t.Fatalf("something ran: before %v; after %v", before, after)
	}
}
