package agent_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"text/template"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
	"github.com/mandatehq/mandate/llm/offline"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/tools"
	"github.com/tmc/langchaingo/llms"
)

const policyTmpl = `version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "{{.USDC}}", decimals: 6}
recipients:
  deny: ["0x000000000000000000000000000000000000dEaD"]
limits:
  per_tx: {ETH: "1", USDC: "1000"}
  daily: {ETH: "2", USDC: "1500"}
approvals:
  max: {USDC: "100"}
  unlimited: false
`

// rig is a runtime on the shared devnet, reached over RPC as a user's
// would be: a fresh funded account, the policy above, the store under test.
type rig struct {
	d     *devnet.Devnet
	w     *evm.Wallet
	store *memory.Store
	reg   *tools.Registry
	list  *tokenlist.List
	to    string
}

func newRig(t testing.TB, st memtest.Named) *rig {
	t.Helper()
	d := devnettest.Shared(t)
	url, err := d.Serve(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := devnettest.Account(t, d)
	other, _ := devnettest.Account(t, d)
	var buf bytes.Buffer
	template.Must(template.New("p").Parse(policyTmpl)).Execute(&buf, map[string]string{"USDC": d.Address(devnet.USDC).Hex()})
	rt, err := mandate.Open(context.Background(), mandate.Config{RPCURL: url, PrivateKey: acct.PrivateKey, DB: st.DSN, PolicySource: buf.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return &rig{d: d, w: rt.Wallet(), store: rt.Store(), reg: rt.Tools(), list: rt.Tokens(), to: other.Address.Hex()}
}

// collect runs one turn and returns its events, failing on a turn error.
func collect(t *testing.T, s *agent.Session, text string) []agent.Event {
	t.Helper()
	var evs []agent.Event
	for ev, err := range s.Send(context.Background(), text) {
		if err != nil {
			t.Fatalf("turn %q: %v", text, err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func find(evs []agent.Event, k agent.EventKind) *agent.Event {
	for i := range evs {
		if evs[i].Kind == k {
			return &evs[i]
		}
	}
	return nil
}

func TestOfflineTransferAndDenial(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			r := newRig(t, st)
			a := agent.New(offline.New(), r.reg, agent.WithMemory(mandate.ChatMemory(st.Store.Chats())))
			s := a.Session("test:1")

			evs := collect(t, s, "send 10 USDC to "+r.to)
			call := find(evs, agent.EventToolCall)
			if call == nil || call.Tool != "wallet_transfer" {
				t.Fatalf("no wallet_transfer call: %+v", evs)
			}
			if tx := find(evs, agent.EventTx); tx == nil || tx.TxStatus != string(evm.TxMined) {
				t.Fatalf("no mined transaction: %+v", evs)
			}
			done := find(evs, agent.EventDone)
			if done == nil || !strings.Contains(done.Text, "10 USDC") {
				t.Fatalf("answer does not report the transfer: %+v", done)
			}

			evs = collect(t, s, "send 5000 USDC to "+r.to)
			dec := find(evs, agent.EventDecision)
			if dec == nil || dec.Decision != "deny" || len(dec.Reasons) == 0 {
				t.Fatalf("no denial with reasons: %+v", evs)
			}
			done = find(evs, agent.EventDone)
			if done == nil || !strings.Contains(done.Text, "limits.per_tx.USDC") {
				t.Fatalf("the answer does not carry the policy's reasons: %+v", done)
			}
			if find(evs, agent.EventTx) != nil {
				t.Fatal("a denied transfer produced a transaction")
			}
		})
	}
}

// The conversation is in the store, so a new agent over the same database
// (a restart) continues it: the model is sent the earlier turns.
func TestMemorySurvivesRestart(t *testing.T) {
	st := memtest.SQLite(t)
	r := newRig(t, st)
	a := agent.New(offline.New(), r.reg, agent.WithMemory(mandate.ChatMemory(st.Store.Chats())))
	collect(t, a.Session("test:restart"), "what is my address")

	rec := &recorder{Model: offline.New()}
	b := agent.New(rec, r.reg, agent.WithMemory(mandate.ChatMemory(st.Store.Chats())))
	collect(t, b.Session("test:restart"), "balance")
	if !rec.saw("what is my address") {
		t.Fatal("after a restart the model was not sent the earlier turn")
	}
	rec2 := &recorder{Model: offline.New()}
	c := agent.New(rec2, r.reg, agent.WithMemory(mandate.ChatMemory(st.Store.Chats())))
	collect(t, c.Session("test:other"), "balance")
	if rec2.saw("what is my address") {
		t.Fatal("another chat saw this chat's messages")
	}
}

// recorder wraps a model and remembers the human and system text it was sent.
type recorder struct {
	llms.Model
	sent   []string
	system []string
}

func (r *recorder) GenerateContent(ctx context.Context, msgs []llms.MessageContent, opts ...llms.CallOption) (*llms.ContentResponse, error) {
	for _, m := range msgs {
		for _, p := range m.Parts {
			if tc, ok := p.(llms.TextContent); ok && m.Role == llms.ChatMessageTypeHuman {
				r.sent = append(r.sent, tc.Text)
			}
			if tc, ok := p.(llms.TextContent); ok && m.Role == llms.ChatMessageTypeSystem {
				r.system = append(r.system, tc.Text)
			}
		}
	}
	return r.Model.GenerateContent(ctx, msgs, opts...)
}

func (r *recorder) saw(s string) bool {
	for _, x := range r.sent {
		if x == s {
			return true
		}
	}
	return false
}

// A conversation longer than the history budget keeps its beginning as a
// stored summary, which the model is sent.
func TestSummaryOfOldTurns(t *testing.T) {
	st := memtest.SQLite(t)
	r := newRig(t, st)
	rec := &recorder{Model: offline.New()}
	a := agent.New(rec, r.reg, agent.WithMemory(mandate.ChatMemory(st.Store.Chats())), agent.WithHistoryBudget(120))
	s := a.Session("test:long")
	collect(t, s, "what is my address")
	for range 6 {
		collect(t, s, "help")
	}
	text, upTo, err := st.Store.Chats().Summary(context.Background(), "test:long")
	if err != nil || upTo == 0 || !strings.Contains(text, "owner: what is my address") {
		t.Fatalf("summary %q up to %d (%v)", text, upTo, err)
	}
	if !rec.sawSystem("owner: what is my address") {
		t.Fatal("the model was not sent the summary")
	}
}

func (r *recorder) sawSystem(s string) bool {
	for _, x := range r.system {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

// An earlier message that left the history window is recalled into the
// prompt, as quoted data, when a new message speaks of the same thing.
func TestRecallOfOldMessage(t *testing.T) {
	st := memtest.SQLite(t)
	r := newRig(t, st)
	a := agent.New(offline.New(), r.reg, agent.WithMemory(mandate.ChatMemory(st.Store.Chats())), agent.WithHistoryBudget(100))
	s := a.Session("test:recall")
	collect(t, s, "note that the mortgage payment is 1200 DAI on the first")
	for range 4 {
		collect(t, s, "help")
	}
	rec := &recorder{Model: offline.New()}
	b := agent.New(rec, r.reg, agent.WithMemory(mandate.ChatMemory(st.Store.Chats())), agent.WithHistoryBudget(100))
	collect(t, b.Session("test:recall"), "when is the mortgage due")
	if !rec.sawSystem(`"note that the mortgage payment is 1200 DAI on the first"`) {
		t.Fatalf("the earlier message was not recalled: %v", rec.system)
	}
}

// With an embedder, the owner's messages are stored as vectors tagged with
// the model that made them, and a message of similar meaning is recalled
// even when it shares no word with the new one (here: the same text, whose
// llmtest vector is identical, said again after many turns).
func TestEmbeddingsRecall(t *testing.T) {
	st := memtest.SQLite(t)
	r := newRig(t, st)
	srv := llmtest.NewServer(t)
	router := llm.NewRouter([]llm.Named{llm.Route(srv.Backend("emb"))})
	a := agent.New(offline.New(), r.reg, agent.WithMemory(mandate.ChatMemory(st.Store.Chats())), agent.WithHistoryBudget(100),
		agent.WithEmbedder(router, router.EmbeddingModel()))
	s := a.Session("test:emb")
	collect(t, s, "zqx vault rotation")
	for range 4 {
		collect(t, s, "help")
	}
	if srv.EmbeddingCount() == 0 {
		t.Fatal("no message was embedded")
	}
	near, err := st.Store.Chats().Nearest(context.Background(), "test:emb", "emb/"+llmtest.DefaultEmbeddingModel,
		llmtest.Embedding("zqx vault rotation", llmtest.DefaultEmbeddingDim), 1)
	if err != nil || len(near) != 1 || near[0].Content != "zqx vault rotation" {
		t.Fatalf("nearest = %+v (%v)", near, err)
	}
}
