package agent_test

import (
	"context"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
	"github.com/mandatehq/mandate/memory/memtest"
)

func transferTo(to, amount string) llmtest.Reply {
	return call("wallet_transfer", `{"to":"`+to+`","token":"USDC","amount":"`+amount+`"}`)
}

// Value-moving steps under quorum: three backends over the real wire
// protocol; the call is taken only when a majority proposes it.
func TestQuorum(t *testing.T) {
	st := memtest.SQLite(t)
	r := newRig(t, st)
	router := func(a, b, c []llmtest.Reply) *llm.Router {
		var named []llm.Named
		for i, rs := range [][]llmtest.Reply{a, b, c} {
			srv := llmtest.NewServer(t, llmtest.WithReplies(rs...))
			named = append(named, llm.Route(srv.Backend(string(rune('a'+i)))))
		}
		return llm.NewRouter(named)
	}
	t.Run("majority", func(t *testing.T) {
		before := r.usdc(t, r.to)
		m := router(
			[]llmtest.Reply{transferTo(r.to, "10"), transferTo(r.to, "10"), {Text: "sent"}},
			[]llmtest.Reply{call("wallet_transfer", `{"token":"USDC","amount":"10","to":"`+r.to+`"}`)}, // same call, keys in another order
			[]llmtest.Reply{transferTo(attacker, "10")},
		)
		a := agent.New(m, r.reg, agent.WithMemory(mandate.ChatMemory(st.Store.Chats())), agent.WithQuorum(3))
		evs := collect(t, a.Session("quorum:1"), "send 10 USDC to my friend")
		if find(evs, agent.EventTx) == nil {
			t.Fatalf("the agreed transfer did not run: %+v", evs)
		}
		if got := new(big.Int).Sub(r.usdc(t, r.to), before); got.Cmp(big.NewInt(10_000_000)) != 0 {
			t.Fatalf("friend received %s", got)
		}
	})
	t.Run("no majority", func(t *testing.T) {
		before := r.usdc(t, r.to)
		m := router(
			[]llmtest.Reply{transferTo(r.to, "10"), transferTo(r.to, "10")},
			[]llmtest.Reply{transferTo(r.to, "20")},
			[]llmtest.Reply{transferTo(attacker, "10")},
		)
		a := agent.New(m, r.reg, agent.WithMemory(mandate.ChatMemory(st.Store.Chats())), agent.WithQuorum(3))
		evs := collect(t, a.Session("quorum:2"), "send 10 USDC to my friend")
		if find(evs, agent.EventTx) != nil || find(evs, agent.EventToolCall) != nil {
			t.Fatalf("acted without a majority: %+v", evs)
		}
		done := find(evs, agent.EventDone)
		if done == nil || !strings.Contains(done.Text, "did not agree") {
			t.Fatalf("the owner was not asked: %+v", done)
		}
		if r.usdc(t, r.to).Cmp(before) != 0 {
			t.Fatal("funds moved without a majority")
		}
	})
}

func (r *rig) usdc(t *testing.T, who string) *big.Int {
	t.Helper()
	v, err := r.w.Client().TokenBalance(context.Background(), r.d.Address("USDC"), common.HexToAddress(who))
	if err != nil {
		t.Fatal(err)
	}
	return v
}
