package mandate_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

// ChatMemory is every store the agent looks for, and what goes through it
// comes back as it was stored, with what the database filled in (the
// agent tells the owner's message from recalled ones by the ID Append
// writes back).
func TestChatMemory(t *testing.T) {
	ctx := context.Background()
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			chats := st.Store.Chats()
			m := mandate.ChatMemory(chats)
			rc, isRecaller := m.(agent.Recaller)
			vs, isVectors := m.(agent.Vectors)
			sm, isSummaries := m.(agent.Summaries)
			fs, isFacts := m.(agent.FactStore)
			if !isRecaller || !isVectors || !isSummaries || !isFacts {
				t.Fatalf("ChatMemory is Recaller %v, Vectors %v, Summaries %v, FactStore %v; want all four",
					isRecaller, isVectors, isSummaries, isFacts)
			}

			calls := json.RawMessage(`[{"id":"c1","name":"wallet_balance","arguments":"{}"}]`)
			msgs := []agent.Message{
				{Role: "user", Content: "what is my balance on the lighthouse wallet", Tokens: 9},
				{Role: "assistant", ToolCalls: calls, Tokens: 12},
				{Role: "tool", Content: `{"ETH":"1.5"}`, ToolCallID: "c1", ToolName: "wallet_balance", Tokens: 4},
			}
			if err := m.Append(ctx, "test:chat", msgs...); err != nil {
				t.Fatal(err)
			}
			for i, msg := range msgs {
				if msg.ID == 0 || msg.Chat != "test:chat" || msg.At.IsZero() {
					t.Errorf("message %d after Append: ID %d, Chat %q, At %v; want them filled in", i, msg.ID, msg.Chat, msg.At)
				}
			}

			got, err := m.Recent(ctx, "test:chat", 1000)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(msgs) {
				t.Fatalf("Recent = %d messages, want %d", len(got), len(msgs))
			}
			for i := range msgs {
				want, g := msgs[i], got[i]
				if g.ID != want.ID || g.Role != want.Role || g.Content != want.Content || string(g.ToolCalls) != string(want.ToolCalls) ||
					g.ToolCallID != want.ToolCallID || g.ToolName != want.ToolName || g.Tokens != want.Tokens || !g.At.Equal(want.At) {
					t.Errorf("Recent[%d] = %+v, want %+v", i, g, want)
				}
			}

			found, err := rc.Recall(ctx, "test:chat", "lighthouse", 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != 1 || found[0].ID != msgs[0].ID {
				t.Errorf("Recall(lighthouse) = %+v, want the first message only", found)
			}

			if err := vs.PutEmbedding(ctx, msgs[0].ID, "emb", []float32{1, 0}); err != nil {
				t.Fatal(err)
			}
			near, err := vs.Nearest(ctx, "test:chat", "emb", []float32{1, 0.1}, 3)
			if err != nil {
				t.Fatal(err)
			}
			if len(near) != 1 || near[0].ID != msgs[0].ID {
				t.Errorf("Nearest = %+v, want the embedded message", near)
			}
			if err := vs.PutEmbedding(ctx, 1<<40, "emb", []float32{1, 0}); !errors.Is(err, memory.ErrNotFound) {
				t.Errorf("PutEmbedding of a missing message = %v, want memory.ErrNotFound through the adapter", err)
			}

			if err := sm.SetSummary(ctx, "test:chat", "asked for the balance", msgs[2].ID); err != nil {
				t.Fatal(err)
			}
			if text, upTo, err := sm.Summary(ctx, "test:chat"); err != nil || text != "asked for the balance" || upTo != msgs[2].ID {
				t.Errorf("Summary = %q, %d, %v; want the summary set, up to %d", text, upTo, err, msgs[2].ID)
			}

			if err := chats.Remember(ctx, "test:chat", "name", "Ada"); err != nil {
				t.Fatal(err)
			}
			if facts, err := fs.Facts(ctx, "test:chat"); err != nil || facts["name"] != "Ada" {
				t.Errorf("Facts = %v, %v; want name=Ada", facts, err)
			}

			empty, err := m.Recent(ctx, "test:other", 1000)
			if err != nil || empty != nil {
				t.Errorf("Recent of an empty chat = %v, %v; want nil, nil", empty, err)
			}
			if err := m.Append(ctx, "test:chat", agent.Message{Role: "narrator", Content: "x"}); !errors.Is(err, memory.ErrInvalid) {
				t.Errorf("Append of an unknown role = %v, want memory.ErrInvalid", err)
			}
		})
	}
}

// A nil *memory.Chats is no memory: the agent keeps the conversation in
// process rather than failing on its first message.
func TestChatMemoryNil(t *testing.T) {
	if m := mandate.ChatMemory(nil); m != nil {
		t.Errorf("ChatMemory(nil) = %#v, want nil", m)
	}
}
