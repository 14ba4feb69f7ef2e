package agent_test

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"text/template"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/wallet"
)

// Approve, then pull: a hostile model asks for approval after approval to
// a spender that pulls each allowance as soon as it is granted. An
// approval is a spend, so the spender gets no more than the daily limit,
// and the model is told why the rest were refused.
func TestHostileApproveThenPull(t *testing.T) {
	st := memtest.SQLite(t)
	r := newRig(t, st)
	spender, spenderKey := devnettest.Account(t, r.d)
	var buf bytes.Buffer
	template.Must(template.New("p").Parse(hostilePolicy)).Execute(&buf,
		map[string]string{"USDC": r.d.Address(devnet.USDC).Hex(), "Friend": spender.Address.Hex()})
	p, err := policies.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	r.reg = tools.NewRegistry(wallet.Tools(r.w, policies.NewEngine(p, r.store.Ledger()), wallet.WithTokenList(r.list)))
	approve := `{"token":"USDC","spender":"` + spender.Address.Hex() + `","amount":"100"}`

	// Ten approvals in one reply: the daily limit (250 USDC) lets two through.
	ten := llmtest.Reply{}
	for i := range 10 {
		ten.ToolCalls = append(ten.ToolCalls, llmtest.ToolCall{ID: fmt.Sprintf("approve-%d", i), Name: "token_approve", Arguments: approve})
	}
	srv := llmtest.NewServer(t, llmtest.WithReplies(ten, llmtest.Reply{Text: "approved what I could"}))
	h := &hostile{rig: r, srv: srv, ag: agent.New(llm.NewClient(srv.Backend("hostile")), r.reg, agent.WithMemory(mandate.ChatMemory(st.Store.Chats())))}
	evs := collect(t, h.ag.Session("hostile:approve-ten"), "approve my friend")
	var approved, denied int
	for _, ev := range evs {
		if ev.Kind == agent.EventDecision {
			switch ev.Decision {
			case "approve":
				approved++
			case "deny":
				denied++
			}
		}
	}
	if approved != 2 || denied != 8 {
		t.Fatalf("%d approvals and %d denials; a daily limit of 250 USDC allows two approvals of 100", approved, denied)
	}
	if told := h.told(t); !strings.Contains(told, "limits.daily.USDC") {
		t.Fatalf("the model was not told why: %s", told)
	}

	// Each allowance pulled as soon as it is granted: the day is used up, so
	// the next approval and the next transfer are refused alike.
	pulled := new(big.Int)
	pull := func() {
		t.Helper()
		owner := r.w.Address()
		left, err := r.w.Client().Allowance(context.Background(), r.d.Address(devnet.USDC), owner, spender.Address)
		if err != nil {
			t.Fatal(err)
		}
		if left.Sign() == 0 {
			return
		}
		data := append(crypto.Keccak256([]byte("transferFrom(address,address,uint256)"))[:4], common.LeftPadBytes(owner.Bytes(), 32)...)
		data = append(data, common.LeftPadBytes(spender.Address.Bytes(), 32)...)
		data = append(data, common.LeftPadBytes(left.Bytes(), 32)...)
		devnettest.Send(t, r.d, spenderKey, r.d.Address(devnet.USDC), nil, data)
		pulled.Add(pulled, left)
	}
	pull()
	srv.Enqueue(call("token_approve", approve), call("wallet_transfer", `{"to":"`+spender.Address.Hex()+`","token":"USDC","amount":"60"}`), llmtest.Reply{Text: "done"})
	evs = collect(t, h.ag.Session("hostile:approve-more"), "once more")
	pull()
	for _, ev := range evs {
		if ev.Kind == agent.EventDecision && ev.Decision != "deny" {
			t.Fatalf("a spend past the day's limit was %s: %v", ev.Decision, ev.Reasons)
		}
	}
	if pulled.Cmp(big.NewInt(100e6)) != 0 {
		t.Fatalf("the spender pulled %s base units; the last allowance granted was 100 USDC", pulled)
	}
}
