package memory_test

import (
	"context"
	"errors"
	"math"
	"testing"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

var history = []string{
	"What is my ETH balance?",
	"You hold 1.5 ETH and 300 USDC.",
	"Swap 0.5 ETH to USDC with 1% slippage please",
	"The swap was denied: slippage 100 bps exceeds the policy maximum of 50 bps.",
	"Send 10 DAI to my friend Alice",
	"Remember that my cold wallet is the Ledger one",
	"How much gas did the last transaction cost?",
	"Approve 100 USDC for the router",
	"The NEAR protocol token is not on this chain",
	"Price of WETH in DAI, and the pool stats for WETH/DAI",
}

func appendHistory(t *testing.T, c *memory.Chats, chat string) []memory.Message {
	t.Helper()
	ms := make([]memory.Message, len(history))
	for i, h := range history {
		role := memory.RoleUser
		if i%2 == 1 {
			role = memory.RoleAssistant
		}
		ms[i] = memory.Message{Role: role, Content: h}
	}
	if err := c.Append(context.Background(), chat, ms...); err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestRecallRelevance(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			c := st.Store.Chats()
			appendHistory(t, c, "telegram:42")
			for _, tc := range []struct{ query, first string }{
				{"why was my swap denied?", history[3]},
				{"what was the slippage on my ETH swap?", history[2]},
				{"swapping ETH", history[2]}, // stemming: swapping ~ swap
				{"dai alice", history[4]},
				{"Ledger", history[5]},
				{"gas cost", history[6]},
				{"pool stats", history[9]},
			} {
				got, err := c.Recall(ctx, "telegram:42", tc.query, 3)
				if err != nil {
					t.Fatalf("Recall(%q): %v", tc.query, err)
				}
				if len(got) == 0 || got[0].Content != tc.first {
					t.Errorf("Recall(%q) = %q, want %q first", tc.query, contents(got), tc.first)
				}
				if len(got) > 3 {
					t.Errorf("Recall(%q, 3) returned %d", tc.query, len(got))
				}
			}
			got, _ := c.Recall(ctx, "telegram:42", "usdc", 10)
			if len(got) != 3 {
				t.Errorf("Recall(usdc) = %q, want the 3 messages naming USDC", contents(got))
			}
			for _, q := range []string{"", "   ", "?!", "the and of", "zzzunknown"} {
				if got, err := c.Recall(ctx, "telegram:42", q, 5); err != nil || len(got) != 0 {
					t.Errorf("Recall(%q) = %q, %v; want nothing", q, contents(got), err)
				}
			}
			if got, err := c.Recall(ctx, "telegram:42", "swap", 0); err != nil || len(got) != 0 {
				t.Errorf("Recall(k=0) = %q, %v", contents(got), err)
			}
		})
	}
}

// TestRecallQuerySyntaxIsText feeds FTS5 and tsquery syntax as the query:
// none of it may fail, and none of it may act as an operator.
func TestRecallQuerySyntaxIsText(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			c := st.Store.Chats()
			appendHistory(t, c, "s")
			for _, q := range []string{
				`"`, `""`, `"unterminated`, `'`, `''`, `\`, `\"`, `*`, `usd*`, `^swap`, `:`, `body:swap`,
				`body : swap`, `{body chat_tag}: swap`, `chat_tag : c0`, `-swap`, `NOT swap`, `swap NOT eth`,
				`swap AND`, `OR`, `AND OR NOT`, `NEAR(swap eth)`, `NEAR/2`, `(`, `)`, `a) OR (b`, `+`, `&`, `|`,
				`!swap`, `swap & !eth`, `swap <-> eth`, `swap:*`, `'swap' | 'eth'`, `swap:A`, `%`, `_`, `--`,
				`'; DROP TABLE chat_messages; --`, "\x00", "\xff\xfe", `chat_tag:"c730"`, `rowid = 1`,
			} {
				if _, err := c.Recall(ctx, "s", q, 5); err != nil {
					t.Errorf("Recall(%q): %v", q, err)
				}
			}
			for _, tc := range []struct {
				query string
				want  []string
			}{
				// Negation and column filters are not operators: "-swap" is swap.
				{`-swap`, []string{history[2], history[3]}},
				{`NOT swap`, []string{history[2], history[3]}},
				// "*" is no prefix operator: usd* is the word usd, which no message has.
				{`usd*`, nil},
				// NEAR is a word like any other.
				{`NEAR(protocol)`, []string{history[8]}},
				{`chat_tag : protocol`, []string{history[8]}},
			} {
				got, err := c.Recall(ctx, "s", tc.query, 5)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tc.want) {
					t.Errorf("Recall(%q) = %q, want %q", tc.query, contents(got), tc.want)
					continue
				}
				for i := range got {
					if got[i].Content != tc.want[i] && (len(tc.want) < 2 || got[i].Content != tc.want[1-i]) {
						t.Errorf("Recall(%q) = %q, want %q", tc.query, contents(got), tc.want)
					}
				}
			}
			if n, _ := c.Count(ctx, "s"); n != len(history) {
				t.Errorf("Count after the queries = %d", n)
			}
		})
	}
}

// TestChatIsolation: nothing of one chat is visible from another, including
// chats whose ids share a prefix or differ only in case or punctuation.
func TestChatIsolation(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			c := st.Store.Chats()
			a := appendHistory(t, c, "telegram:42")
			for _, other := range []string{"telegram:4", "telegram:420", "Telegram:42", "telegram-42", "telegram:42 "} {
				if err := c.Append(ctx, other, memory.Message{Role: memory.RoleUser, Content: "swap slippage ETH USDC secret " + other}); err != nil {
					t.Fatal(err)
				}
				if err := c.Remember(ctx, other, "wallet", "other"); err != nil {
					t.Fatal(err)
				}
			}
			got, err := c.Recall(ctx, "telegram:42", "swap slippage secret", 50)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range got {
				if m.Chat != "telegram:42" {
					t.Errorf("Recall in telegram:42 returned %q of %s", m.Content, m.Chat)
				}
			}
			if len(got) != 2 {
				t.Errorf("Recall = %q", contents(got))
			}
			got, _ = c.Recent(ctx, "telegram:42", 1<<20)
			if len(got) != len(history) || got[len(got)-1].ID != a[len(a)-1].ID {
				t.Errorf("Recent mixes chats: %q", contents(got))
			}
			if n, _ := c.Count(ctx, "telegram:4"); n != 1 {
				t.Errorf("Count(telegram:4) = %d", n)
			}
			if f, _ := c.Facts(ctx, "telegram:42"); len(f) != 0 {
				t.Errorf("Facts leak: %v", f)
			}
			if got, _ := c.Recall(ctx, "nobody", "swap", 5); len(got) != 0 {
				t.Errorf("Recall in an empty chat = %q", contents(got))
			}
		})
	}
}

func TestFactsUpsertForget(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			c := st.Store.Chats()
			if f, err := c.Facts(ctx, "f"); err != nil || f == nil || len(f) != 0 {
				t.Fatalf("Facts of a new chat = %v, %v", f, err)
			}
			must(t, c.Remember(ctx, "f", "name", "Sam"))
			must(t, c.Remember(ctx, "f", "wallet", "0xabc"))
			must(t, c.Remember(ctx, "f", "name", "Samantha"))
			must(t, c.Remember(ctx, "g", "name", "Bob"))
			f, err := c.Facts(ctx, "f")
			if err != nil || len(f) != 2 || f["name"] != "Samantha" || f["wallet"] != "0xabc" {
				t.Fatalf("Facts = %v, %v", f, err)
			}
			must(t, c.Forget(ctx, "f", "name"))
			must(t, c.Forget(ctx, "f", "name")) // twice is fine
			must(t, c.Forget(ctx, "f", "never set"))
			if f, _ := c.Facts(ctx, "f"); len(f) != 1 || f["wallet"] != "0xabc" {
				t.Errorf("Facts after Forget = %v", f)
			}
			if f, _ := c.Facts(ctx, "g"); f["name"] != "Bob" {
				t.Errorf("Forget in f touched g: %v", f)
			}
			if err := c.Remember(ctx, "f", "", "x"); !errors.Is(err, memory.ErrInvalid) {
				t.Errorf("Remember with an empty key = %v", err)
			}
		})
	}
}

func TestSummaryRoundTrip(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			c := st.Store.Chats()
			if text, upTo, err := c.Summary(ctx, "s"); err != nil || text != "" || upTo != 0 {
				t.Fatalf("Summary of a new chat = %q, %d, %v", text, upTo, err)
			}
			must(t, c.SetSummary(ctx, "s", "the user swapped ETH", 10))
			must(t, c.SetSummary(ctx, "s", "the user swapped ETH to USDC", 10))
			must(t, c.SetSummary(ctx, "s", "then sent DAI", 25))
			if text, upTo, _ := c.Summary(ctx, "s"); text != "then sent DAI" || upTo != 25 {
				t.Errorf("Summary = %q, %d", text, upTo)
			}
			if err := c.SetSummary(ctx, "s", "stale", 20); !errors.Is(err, memory.ErrInvalid) {
				t.Errorf("SetSummary covering less = %v, want ErrInvalid", err)
			}
			if text, upTo, _ := c.Summary(ctx, "s"); text != "then sent DAI" || upTo != 25 {
				t.Errorf("a stale summary replaced the newer one: %q, %d", text, upTo)
			}
			if text, _, _ := c.Summary(ctx, "other"); text != "" {
				t.Errorf("Summary leaks across chats: %q", text)
			}
		})
	}
}

func TestEmbeddingsNeverMixModelsOrDimensions(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			c := st.Store.Chats()
			ms := appendHistory(t, c, "e")
			other := appendHistory(t, c, "e2")
			put := func(i int, model string, v ...float32) {
				t.Helper()
				must(t, c.PutEmbedding(ctx, ms[i].ID, model, v))
			}
			put(0, "m1", 1, 0, 0)
			put(1, "m1", 0.9, 0.1, 0)
			put(2, "m1", 0, 1, 0)
			put(3, "m2", 1, 0, 0)       // another model, same dimension
			put(4, "m1", 1, 0, 0, 0)    // same model, another dimension (the model changed)
			put(5, "m1", -1, 0, 0)      // opposite
			put(6, "m1", 0, 0, 1)       // replaced below
			put(6, "m1", 0.1, 0.9, 0.0) // re-embedding replaces
			must(t, c.PutEmbedding(ctx, other[0].ID, "m1", []float32{1, 0, 0}))

			got, err := c.Nearest(ctx, "e", "m1", []float32{2, 0, 0}, 10)
			if err != nil {
				t.Fatal(err)
			}
			wantContents(t, "Nearest(m1, 3 dims)", got, history[0], history[1], history[6], history[2], history[5])
			got, _ = c.Nearest(ctx, "e", "m1", []float32{1, 0, 0, 0}, 10)
			wantContents(t, "Nearest(m1, 4 dims)", got, history[4])
			got, _ = c.Nearest(ctx, "e", "m2", []float32{1, 0, 0}, 10)
			wantContents(t, "Nearest(m2)", got, history[3])
			got, _ = c.Nearest(ctx, "e", "m3", []float32{1, 0, 0}, 10)
			wantContents(t, "Nearest(m3)", got)
			got, _ = c.Nearest(ctx, "e", "m1", []float32{1, 0, 0}, 2)
			wantContents(t, "Nearest(k=2)", got, history[0], history[1])
			for _, m := range got {
				if m.Chat != "e" {
					t.Errorf("Nearest returned a message of %s", m.Chat)
				}
			}

			for name, v := range map[string][]float32{
				"empty": {}, "zero": {0, 0, 0}, "NaN": {float32(math.NaN()), 1, 0}, "Inf": {float32(math.Inf(1)), 0, 0},
			} {
				if err := c.PutEmbedding(ctx, ms[0].ID, "m1", v); !errors.Is(err, memory.ErrInvalid) {
					t.Errorf("PutEmbedding(%s) = %v, want ErrInvalid", name, err)
				}
				if _, err := c.Nearest(ctx, "e", "m1", v, 3); !errors.Is(err, memory.ErrInvalid) {
					t.Errorf("Nearest(%s) = %v, want ErrInvalid", name, err)
				}
			}
			if err := c.PutEmbedding(ctx, ms[0].ID, "", []float32{1}); !errors.Is(err, memory.ErrInvalid) {
				t.Errorf("PutEmbedding without a model = %v", err)
			}
			if err := c.PutEmbedding(ctx, 1<<40, "m1", []float32{1}); !errors.Is(err, memory.ErrNotFound) {
				t.Errorf("PutEmbedding of a missing message = %v, want ErrNotFound", err)
			}
		})
	}
}

// TestChatRestart: everything a chat holds is read back by a new Store on
// the same database.
func TestChatRestart(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			c := st.Store.Chats()
			ms := appendHistory(t, c, "r")
			must(t, c.Remember(ctx, "r", "name", "Sam"))
			must(t, c.SetSummary(ctx, "r", "a summary", ms[4].ID))
			must(t, c.PutEmbedding(ctx, ms[2].ID, "m", []float32{1, 2, 3}))
			must(t, st.Store.Close())

			s2, err := memory.Open(ctx, st.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			c = s2.Chats()
			if n, _ := c.Count(ctx, "r"); n != len(history) {
				t.Errorf("Count after restart = %d", n)
			}
			got, _ := c.Recent(ctx, "r", 1<<20)
			if len(got) != len(history) || got[0].ID != ms[0].ID || !got[0].At.Equal(ms[0].At) || got[9].Content != history[9] {
				t.Errorf("Recent after restart = %+v", got)
			}
			if got, _ := c.Recall(ctx, "r", "alice", 1); len(got) != 1 || got[0].ID != ms[4].ID {
				t.Errorf("Recall after restart = %q", contents(got))
			}
			if f, _ := c.Facts(ctx, "r"); f["name"] != "Sam" {
				t.Errorf("Facts after restart = %v", f)
			}
			if text, upTo, _ := c.Summary(ctx, "r"); text != "a summary" || upTo != ms[4].ID {
				t.Errorf("Summary after restart = %q, %d", text, upTo)
			}
			if got, _ := c.Nearest(ctx, "r", "m", []float32{1, 2, 3}, 1); len(got) != 1 || got[0].ID != ms[2].ID {
				t.Errorf("Nearest after restart = %q", contents(got))
			}
			// Appending after the restart continues the same history.
			must(t, c.Append(ctx, "r", memory.Message{Role: memory.RoleUser, Content: "back again"}))
			if got, _ := c.Recent(ctx, "r", 1<<20); len(got) != len(history)+1 || got[len(got)-1].ID <= ms[9].ID {
				t.Errorf("Append after restart: %q", contents(got))
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
