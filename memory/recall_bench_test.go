package memory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

// benchVocabulary is the word list conversations are drawn from, most
// frequent first: function words, then the trading vocabulary of a wallet
// agent, then made-up words standing for the long tail (names, tickers,
// typos), 5,000 in all. Words are drawn with a Zipf law, as in real text.
var benchVocabulary = func() []string {
	words := strings.Fields(`the to a i of and you is it that in for my on with what be this can
		have do not your me at how much are was will from so but if just please all now there get
		want about ok yes no thanks send swap balance eth usdc price wallet token buy sell fee gas
		address transfer amount today dai approve limit policy quote pool weth transaction denied
		approved network chain market order trade bridge hash block slippage router contract safe
		signer owner deadline minimum maximum portfolio history daily weekly spend account deposit
		withdraw stake reward yield liquidity position profit loss chart volume trend bullish bearish
		support resistance exchange rate dollar euro bitcoin solana arbitrum base optimism polygon
		ledger cold hot backup seed phrase key secret nonce pending confirmed failed retry cancel
		replace speed estimate simulation report explain why because later tomorrow yesterday week
		month year morning evening night alice bob carol dave friend team treasury multisig proposal
		vote threshold module guard fallback refund allowance unlimited revoke spender recipient memo
		note remember forget summary again check show list status update new old small large half
		double total remaining available locked unlocked fees tip priority base max min average`)
	syll := strings.Fields("ka ri to mu sen da lo vi ne pa zu chi ro be ta mi go fa ke lu")
	r := rand.New(rand.NewPCG(7, 7))
	seen := map[string]bool{}
	for _, w := range words {
		seen[w] = true
	}
	for len(words) < 5000 {
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteString(syll[r.IntN(len(syll))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}()

// benchConversation returns n messages of deterministic, varied text:
// 3 to 60 Zipf-distributed words, some numbers and addresses, and now and
// then a JSON tool result.
func benchConversation(n int) []memory.Message {
	r := rand.New(rand.NewPCG(42, 42))
	zipf := rand.NewZipf(r, 1.07, 2, uint64(len(benchVocabulary)-1))
	out := make([]memory.Message, n)
	for i := range out {
		var b strings.Builder
		for j := range 3 + r.IntN(58) {
			if j > 0 {
				b.WriteByte(' ')
			}
			switch x := r.IntN(40); {
			case x == 0:
				fmt.Fprintf(&b, "%d.%02d", r.IntN(10000), r.IntN(100))
			case x == 1:
				fmt.Fprintf(&b, "0x%040x", r.Uint64())
			default:
				b.WriteString(benchVocabulary[zipf.Uint64()])
			}
		}
		role := []string{memory.RoleUser, memory.RoleAssistant}[i%2]
		text := b.String()
		if i%10 == 9 {
			role, text = memory.RoleTool, fmt.Sprintf(`{"result": %q, "block": %d}`, text, 19_000_000+i)
		}
		out[i] = memory.Message{Role: role, Content: text, At: day.Add(time.Duration(i) * time.Second)}
	}
	return out
}

// benchQueries are what a person might ask to be reminded of: two or three
// words of middling frequency, each matching hundreds to a few thousand of
// the 100,000 messages.
var benchQueries = []string{
	"what was the slippage on that swap",
	"bridge fees arbitrum",
	"ledger seed phrase",
	"revoke unlimited allowance",
	"treasury multisig proposal",
	"alice recipient memo",
	"weekly spend limit",
	"why was it denied",
}

// BenchmarkRecall measures Recall (k = 10) in a chat of 100,000 messages.
// Per-call durations are recorded and reported as p50-ns and p99-ns, since
// the median is what the agent feels on a turn and ns/op hides the tail.
//
//	MANDATE_TEST_POSTGRES=$(scripts/postgres.sh) go test ./memory -run '^$' -bench BenchmarkRecall -benchtime 2000x
func BenchmarkRecall(b *testing.B) {
	const n, batch = 100_000, 1_000
	conv := benchConversation(n)
	for _, st := range memtest.Stores(b) {
		ctx := context.Background()
		c := st.Store.Chats()
		for i := 0; i < n; i += batch {
			if err := c.Append(ctx, "bench:recall", conv[i:i+batch]...); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(st.Name, func(b *testing.B) {
			var durs []time.Duration
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				q := benchQueries[i%len(benchQueries)]
				i++
				t0 := time.Now()
				ms, err := c.Recall(ctx, "bench:recall", q, 10)
				durs = append(durs, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				if len(ms) == 0 {
					b.Fatalf("Recall(%q) found nothing", q)
				}
			}
			slices.Sort(durs)
			b.ReportMetric(float64(durs[len(durs)/2]), "p50-ns")
			b.ReportMetric(float64(durs[len(durs)*99/100]), "p99-ns")
		})
	}
}
