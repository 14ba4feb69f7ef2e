package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

func msg(role, content string, tokens int) memory.Message {
	return memory.Message{Role: role, Content: content, Tokens: tokens}
}

func calls(ids ...string) json.RawMessage {
	type call struct{ ID, Name, Arguments string }
	var cs []call
	for _, id := range ids {
		cs = append(cs, call{id, "wallet_balance", "{}"})
	}
	b, _ := json.Marshal(cs)
	return b
}

func toolResult(id, content string, tokens int) memory.Message {
	return memory.Message{Role: memory.RoleTool, Content: content, ToolCallID: id, ToolName: "wallet_balance", Tokens: tokens}
}

func contents(ms []memory.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Content
	}
	return out
}

func wantContents(t *testing.T, what string, got []memory.Message, want ...string) {
	t.Helper()
	if g := strings.Join(contents(got), "|"); g != strings.Join(want, "|") {
		t.Errorf("%s = [%s], want [%s]", what, g, strings.Join(want, "|"))
	}
}

func TestChatAppendRecent(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			c := st.Store.Chats()
			if ms, err := c.Recent(ctx, "cli:default", 100); err != nil || len(ms) != 0 {
				t.Fatalf("Recent of an empty chat = %v, %v", ms, err)
			}
			before := time.Now().UTC()
			var batch []memory.Message
			for i := range 10 {
				batch = append(batch, msg(memory.RoleUser, fmt.Sprintf("m%d", i), 10))
			}
			if err := c.Append(ctx, "cli:default", batch[:4]...); err != nil {
				t.Fatal(err)
			}
			if err := c.Append(ctx, "cli:default", batch[4:]...); err != nil {
				t.Fatal(err)
			}
			for i, m := range batch {
				if m.ID == 0 || (i > 0 && m.ID <= batch[i-1].ID) || m.Chat != "cli:default" || m.At.Before(before.Add(-time.Second)) {
					t.Fatalf("Append did not set ID/Chat/At in order: %+v", batch)
				}
			}
			got, err := c.Recent(ctx, "cli:default", 35)
			if err != nil {
				t.Fatal(err)
			}
			wantContents(t, "Recent(35)", got, "m7", "m8", "m9")
			if got[2].ID != batch[9].ID || !got[2].At.Equal(batch[9].At) || got[2].Tokens != 10 || got[2].Role != memory.RoleUser {
				t.Errorf("Recent message = %+v, want %+v", got[2], batch[9])
			}
			got, _ = c.Recent(ctx, "cli:default", 30)
			wantContents(t, "Recent(30)", got, "m7", "m8", "m9")
			got, _ = c.Recent(ctx, "cli:default", 9)
			wantContents(t, "Recent(9)", got)
			got, _ = c.Recent(ctx, "cli:default", 0)
			wantContents(t, "Recent(0)", got)
			got, _ = c.Recent(ctx, "cli:default", 1<<30)
			if len(got) != 10 || got[0].Content != "m0" {
				t.Errorf("Recent(all) = %v", contents(got))
			}
			if n, err := c.Count(ctx, "cli:default"); err != nil || n != 10 {
				t.Errorf("Count = %d, %v", n, err)
			}
		})
	}
}

func TestChatRecentPagesLongChats(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			c := st.Store.Chats()
			var batch []memory.Message
			for i := range 700 { // more than one page of heads
				batch = append(batch, msg(memory.RoleAssistant, fmt.Sprint(i), 1))
			}
			if err := c.Append(ctx, "x", batch...); err != nil {
				t.Fatal(err)
			}
			got, err := c.Recent(ctx, "x", 600)
			if err != nil || len(got) != 600 || got[0].Content != "100" || got[599].Content != "699" {
				t.Fatalf("Recent(600) = %d messages from %v, %v", len(got), contents(got[:1]), err)
			}
		})
	}
}

func TestChatEstimateTokens(t *testing.T) {
	for _, tc := range []struct {
		m    memory.Message
		want int
	}{
		{memory.Message{Content: ""}, 1},
		{memory.Message{Content: "abcd"}, 1},
		{memory.Message{Content: "abcde"}, 2},
		{memory.Message{Content: "abcd", ToolCalls: json.RawMessage(`[{"id":"1"}]`)}, 4},
	} {
		if got := memory.EstimateTokens(tc.m); got != tc.want {
			t.Errorf("EstimateTokens(%q, %s) = %d, want %d", tc.m.Content, tc.m.ToolCalls, got, tc.want)
		}
	}
}

func TestChatToolCallGroupsNeverSplit(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			c := st.Store.Chats()
			call := msg(memory.RoleAssistant, "calling", 10)
			call.ToolCalls = calls("a", "b")
			if err := c.Append(ctx, "g",
				msg(memory.RoleUser, "balance?", 10),
				call,
				toolResult("a", "ra", 10),
				toolResult("b", "rb", 10),
				msg(memory.RoleAssistant, "you have 1 ETH", 10),
			); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				budget int
				want   []string
			}{
				{15, []string{"you have 1 ETH"}},
				{25, []string{"you have 1 ETH"}}, // the 30-token group does not fit: dropped whole
				{39, []string{"you have 1 ETH"}},
				{40, []string{"calling", "ra", "rb", "you have 1 ETH"}},
				{49, []string{"calling", "ra", "rb", "you have 1 ETH"}},
				{50, []string{"balance?", "calling", "ra", "rb", "you have 1 ETH"}},
			} {
				got, err := c.Recent(ctx, "g", tc.budget)
				if err != nil {
					t.Fatal(err)
				}
				wantContents(t, fmt.Sprintf("Recent(%d)", tc.budget), got, tc.want...)
			}
			got, _ := c.Recent(ctx, "g", 100)
			if string(got[1].ToolCalls) != string(calls("a", "b")) || got[2].ToolCallID != "a" || got[2].ToolName != "wallet_balance" || got[0].ToolCalls != nil {
				t.Errorf("tool fields did not round-trip: %+v", got[:3])
			}

			// A tool result whose call is not right before it is left out.
			if err := c.Append(ctx, "g", msg(memory.RoleUser, "hm", 1), toolResult("z", "orphan", 1), msg(memory.RoleUser, "ok", 1)); err != nil {
				t.Fatal(err)
			}
			got, _ = c.Recent(ctx, "g", 3)
			wantContents(t, "Recent with an orphan", got, "hm", "ok")
		})
	}
}

// TestChatRecentProperty checks Recent on random conversations against
// what it promises: within budget, a contiguous tail, and every tool result
// with its call and every call with its results.
func TestChatRecentProperty(t *testing.T) {
	st := memtest.SQLite(t)
	ctx := context.Background()
	c := st.Store.Chats()
	r := rand.New(rand.NewPCG(1, 2))
	for conv := range 20 {
		chat := fmt.Sprint("p", conv)
		var all []memory.Message
		for len(all) < 40 {
			switch r.IntN(3) {
			case 0:
				all = append(all, msg(memory.RoleUser, "u", 1+r.IntN(20)))
			case 1:
				all = append(all, msg(memory.RoleAssistant, "a", 1+r.IntN(20)))
			case 2:
				m := msg(memory.RoleAssistant, "call", 1+r.IntN(20))
				m.ToolCalls = calls("x")
				all = append(all, m)
				for range r.IntN(4) {
					all = append(all, toolResult("x", "r", 1+r.IntN(20)))
				}
			}
		}
		if err := c.Append(ctx, chat, all...); err != nil {
			t.Fatal(err)
		}
		pos := map[int64]int{}
		for i, m := range all {
			pos[m.ID] = i
		}
		for budget := 0; budget < 450; budget += 3 {
			got, err := c.Recent(ctx, chat, budget)
			if err != nil {
				t.Fatal(err)
			}
			sum := 0
			for i, m := range got {
				sum += m.Tokens
				p := pos[m.ID]
				if i > 0 && p != pos[got[i-1].ID]+1 {
					t.Fatalf("budget %d: not contiguous at %d", budget, p)
				}
				if m.Role == memory.RoleTool && (i == 0 || (got[i-1].Role != memory.RoleTool && got[i-1].ToolCalls == nil)) {
					t.Fatalf("budget %d: tool result %d without its call", budget, p)
				}
				if m.ToolCalls != nil || m.Role == memory.RoleTool {
					if p+1 < len(all) && all[p+1].Role == memory.RoleTool && (i+1 == len(got) || got[i+1].ID != all[p+1].ID) {
						t.Fatalf("budget %d: call group at %d split", budget, p)
					}
				}
			}
			if sum > budget {
				t.Fatalf("budget %d: got %d tokens", budget, sum)
			}
			if len(got) > 0 && pos[got[len(got)-1].ID] != len(all)-1 {
				t.Fatalf("budget %d: window does not end at the newest message", budget)
			}
		}
	}
}

func TestChatAppendValidatesAndIsAtomic(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			c := st.Store.Chats()
			bad := msg(memory.RoleAssistant, "x", 1)
			bad.ToolCalls = json.RawMessage(`[{"id":`)
			for name, tc := range map[string]struct {
				chat string
				ms   []memory.Message
			}{
				"role":       {"v", []memory.Message{msg(memory.RoleUser, "ok", 1), msg("owner", "x", 1)}},
				"tool calls": {"v", []memory.Message{msg(memory.RoleUser, "ok", 1), bad}},
				"empty chat": {"", []memory.Message{msg(memory.RoleUser, "ok", 1)}},
				"NUL chat":   {"a\x00b", []memory.Message{msg(memory.RoleUser, "ok", 1)}},
			} {
				if err := c.Append(ctx, tc.chat, tc.ms...); !errors.Is(err, memory.ErrInvalid) {
					t.Errorf("%s: Append = %v, want ErrInvalid", name, err)
				}
			}
			if n, _ := c.Count(ctx, "v"); n != 0 {
				t.Errorf("a refused batch stored %d messages", n)
			}
			if err := c.Append(ctx, "v"); err != nil {
				t.Errorf("Append of nothing = %v", err)
			}
			empty := msg(memory.RoleAssistant, "", 0)
			empty.ToolCalls = json.RawMessage(" null ")
			if err := c.Append(ctx, "v", empty); err != nil {
				t.Fatal(err)
			}
			got, _ := c.Recent(ctx, "v", 10)
			if len(got) != 1 || got[0].ToolCalls != nil || got[0].Tokens != 1 {
				t.Errorf("null tool calls = %+v, want none and 1 token", got)
			}
		})
	}
}

func TestChatContentAnyUTF8AndLong(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			c := st.Store.Chats()
			long := strings.Repeat("lorem ipsum ", 5000) + "zebracorn"
			long += strings.Repeat(" ", 65536-len(long))
			texts := []string{
				long,
				"日本語のテキスト 🚀 emoji, العربية, Ελληνικά, \u200d zero-width joiner",
				"line\nbreaks\ttabs and 'quotes' \"double\" \\ backslash; DROP TABLE chat_messages; --",
			}
			for _, s := range texts {
				if err := c.Append(ctx, "u", msg(memory.RoleUser, s, 0)); err != nil {
					t.Fatal(err)
				}
			}
			// What PostgreSQL text cannot hold is repaired the same way on both.
			if err := c.Append(ctx, "u", msg(memory.RoleUser, "nul\x00and bad \xff byte", 0)); err != nil {
				t.Fatal(err)
			}
			got, err := c.Recent(ctx, "u", 1<<30)
			if err != nil || len(got) != 4 {
				t.Fatalf("Recent = %d, %v", len(got), err)
			}
			for i, s := range texts {
				if got[i].Content != s {
					t.Errorf("message %d changed (len %d → %d)", i, len(s), len(got[i].Content))
				}
			}
			if got[0].Tokens != 65536/4 {
				t.Errorf("estimated tokens of 64 KiB = %d", got[0].Tokens)
			}
			if want := "nul\uFFFDand bad \uFFFD byte"; got[3].Content != want {
				t.Errorf("repaired content = %q, want %q", got[3].Content, want)
			}
			for q, want := range map[string]string{"zebracorn": long, "日本語のテキスト": texts[1], "emoji": texts[1], "backslash": texts[2]} {
				r, err := c.Recall(ctx, "u", q, 1)
				if err != nil || len(r) != 1 || r[0].Content != want {
					t.Errorf("Recall(%q) = %d messages, %v", q, len(r), err)
				}
			}
		})
	}
}
