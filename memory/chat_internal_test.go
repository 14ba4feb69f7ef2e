package memory

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestChatQueryPlans checks that conversation reads stay index lookups on
// SQLite, so their cost follows what they return, not the chat's length.
func TestChatQueryPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		query string
		args  []any
		want  string
	}{
		{`SELECT id, role, tokens, tool_calls IS NOT NULL AS calls FROM chat_messages
			WHERE chat = ? AND id < ? ORDER BY id DESC LIMIT 10`, []any{"c", 1 << 62}, "INDEX chat_messages_chat"},
		{"SELECT COUNT(*) FROM chat_messages WHERE chat = ?", []any{"c"}, "INDEX chat_messages_chat"},
		{"SELECT message_id, vec FROM chat_embeddings WHERE chat = ? AND model = ? AND dim = ?", []any{"c", "m", 3}, "INDEX chat_embeddings_chat"},
		// FTS5 must drive the recall join; the other way round runs the MATCH
		// once per message of the chat (measured: a minute on 100,000).
		{`SELECT f.rowid FROM chat_messages_fts f CROSS JOIN chat_messages m ON m.id = f.rowid
			WHERE f.chat_messages_fts MATCH ? AND m.chat = ? ORDER BY f.rowid DESC LIMIT 10`, []any{`body : "x"`, "c"}, "VIRTUAL TABLE INDEX"},
	} {
		var plan []struct {
			ID, Parent, Notused int
			Detail              string
		}
		if err := s.db.Raw("EXPLAIN QUERY PLAN "+tc.query, tc.args...).Scan(&plan).Error; err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		var details []string
		for _, p := range plan {
			details = append(details, p.Detail)
		}
		if len(details) == 0 || !strings.Contains(details[0], tc.want) || strings.Contains(strings.Join(details, "; "), "TEMP B-TREE") {
			t.Errorf("%s\nplan %q: want %s first and no sort", tc.query, details, tc.want)
		}
	}
}

func TestQueryTermsAndFTSQuoting(t *testing.T) {
	got := queryTerms(`The "swap" AND usd* NEAR(a b) -x ETH eth 日本語 don't`)
	want := []string{"swap", "usd", "near", "b", "x", "eth", "日本語", "don"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("queryTerms = %q, want %q", got, want)
	}
	if q := ftsJoin([]string{`a"b`, "c"}, "OR"); q != `"a""b" OR "c"` {
		t.Errorf("ftsJoin = %s", q)
	}
	if chatTag("a:1") != "c613A310" {
		t.Errorf("chatTag = %s", chatTag("a:1"))
	}
}
