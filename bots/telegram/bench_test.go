package telegram_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/bots/sched"
	"github.com/mandatehq/mandate/bots/telegram"
	"github.com/mandatehq/mandate/bots/telegram/tgtest"
)

// instant is a model with no latency: it answers every turn at once with text naming the
// message it answers, so each answer can be traced to its update.
type instant struct{}

func (instant) GenerateContent(_ context.Context, msgs []llms.MessageContent, _ ...llms.CallOption) (*llms.ContentResponse, error) {
	return &llms.ContentResponse{Choices: []*llms.ContentChoice{{Content: answerTo(lastHuman(msgs)), StopReason: "stop"}}}, nil
}

func (m instant) Call(ctx context.Context, prompt string, opts ...llms.CallOption) (string, error) {
	return llms.GenerateFromSinglePrompt(ctx, m, prompt, opts...)
}

func lastHuman(msgs []llms.MessageContent) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role != llms.ChatMessageTypeHuman {
			continue
		}
		for _, p := range msgs[i].Parts {
			if t, ok := p.(llms.TextContent); ok {
				return t.Text
			}
		}
	}
	return ""
}

func answerTo(question string) string { return "noted: " + question }

// burst is updates spread over chats, each chat a private one with its own person, who
// is an owner (so an answer is the model's text alone, one message).
type burst struct {
	first   int64 // the first chat's id (and its person's)
	chats   int
	perChat int
}

func (b burst) chat(i int) tgtest.Chat { return tgtest.Chat{ID: b.first + int64(i), Type: "private"} }

func (b burst) person(i int) tgtest.User {
	id := b.first + int64(i)
	return tgtest.User{ID: id, Username: fmt.Sprintf("p%d", id), FirstName: "P"}
}

func (b burst) owners() []int64 {
	ids := make([]int64, b.chats)
	for i := range ids {
		ids[i] = b.first + int64(i)
	}
	return ids
}

func (b burst) total() int { return b.chats * b.perChat }

func (b burst) question(chat, n int) string {
	return fmt.Sprintf("question %d in chat %d", n, b.first+int64(chat))
}

// send delivers every update to the server, chats interleaved as people would write.
func (b burst) send(srv *tgtest.Server) {
	for n := range b.perChat {
		for c := range b.chats {
			srv.SendText(b.chat(c), b.person(c), b.question(c, n))
		}
	}
}

// wait blocks until the bot has sent as many messages as there are updates, counting
// the server's answers rather than reading every chat on every change, so waiting costs
// the bot under test next to nothing.
func (b burst) wait(tb testing.TB, srv *tgtest.Server, before tgtest.Stats) {
	tb.Helper()
	srv.WaitFor(tb, fmt.Sprintf("answers to %d updates", b.total()), func() bool {
		st := srv.Stats()
		return st.Succeeded["sendMessage"]-before.Succeeded["sendMessage"] >= b.total()
	})
}

// check fails unless every update in every chat was answered exactly once, in order,
// and the bot sent nothing else.
func (b burst) check(tb testing.TB, srv *tgtest.Server) {
	tb.Helper()
	for c := range b.chats {
		want := make([]string, b.perChat)
		for n := range want {
			want[n] = answerTo(b.question(c, n))
		}
		var got []string
		for _, m := range srv.Sent(b.chat(c).ID) {
			got = append(got, m.Kind+": "+m.Text)
		}
		for n := range want {
			want[n] = "send: " + want[n]
		}
		if !slices.Equal(got, want) {
			tb.Fatalf("chat %d: the bot did\n  %s\nwant each question answered once, in order:\n  %s",
				b.chat(c).ID, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// openRuntime is a devnet runtime whose agent runs model.
func openRuntime(tb testing.TB, model llms.Model) *mandate.Runtime {
	tb.Helper()
	cfg := mandate.Config{Devnet: true, PolicySource: []byte(askPolicy), Model: model,
		DB: "sqlite:" + filepath.Join(tb.TempDir(), "mandate.db")}
	rt, err := mandate.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("open the devnet runtime: %v", err)
	}
	tb.Cleanup(func() { rt.Close() })
	return rt
}

// startBot runs a bot against srv until the test ends.
func startBot(tb testing.TB, rt *mandate.Runtime, srv *tgtest.Server, cfg telegram.Config) {
	tb.Helper()
	cfg.Token, cfg.APIURL = srv.Token(), srv.URL()
	bot, err := telegram.New(rt, cfg)
	if err != nil {
		tb.Fatalf("telegram.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- bot.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil && !errors.Is(err, telegram.ErrUnauthorized) {
				tb.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			tb.Errorf("Run did not return after its context ended")
		}
	})
}

// BenchmarkUpdates is updates answered per second through the whole bot: the Bot API
// client polling the local server, the bot's per-chat queues, the agent with the
// runtime's memory on SQLite, the send scheduler and the answer, in rounds of 300
// updates across 100 chats. The model answers at once and the server enforces no
// limits. "paced" is the bot as it ships, its scheduler keeping Telegram's 30 messages a
// second, which caps it at 30 answers a second; "unpaced" runs it with no limits, to
// show what the bot's own path could take. cpu-ms/update is the process's CPU time
// (bot, server and devnet together) per update.
func BenchmarkUpdates(b *testing.B) {
	b.Run("paced", func(b *testing.B) { benchUpdates(b, nil) })
	b.Run("unpaced", func(b *testing.B) { benchUpdates(b, &sched.Limits{}) })
}

// benchUpdates runs the rounds through a bot keeping limits (nil: Telegram's).
func benchUpdates(b *testing.B, limits *sched.Limits) {
	const chats, perChat, rounds = 100, 3, 64
	rt := openRuntime(b, instant{})
	srv := tgtest.New(b, tgtest.WithLimits(tgtest.NoLimits()), tgtest.WithWaitTimeout(5*time.Minute))
	round := func(i int) burst { return burst{first: int64(1_000_000 + i*chats), chats: chats, perChat: perChat} }
	var owners []int64
	for i := range rounds {
		owners = append(owners, round(i).owners()...)
	}
	startBot(b, rt, srv, telegram.Config{Owners: owners, UserRate: 1000, Limits: limits})

	n, updates := 0, 0
	var cpu time.Duration
	for b.Loop() {
		if n == rounds {
			b.Fatalf("more than %d rounds: raise rounds", rounds)
		}
		u := round(n)
		before, used := srv.Stats(), cpuTime()
		u.send(srv)
		u.wait(b, srv, before)
		cpu += cpuTime() - used
		b.StopTimer()
		u.check(b, srv)
		b.StartTimer()
		n++
		updates += u.total()
	}
	b.ReportMetric(float64(updates)/b.Elapsed().Seconds(), "updates/s")
	if cpu > 0 {
		b.ReportMetric(cpu.Seconds()*1000/float64(updates), "cpu-ms/update")
	}
	if n := srv.Stats().TooManyRequests; n != 0 {
		b.Fatalf("%d answers 429 from a server with no limits", n)
	}
}

// burst429 runs u through a bot against a server enforcing Telegram's documented limits
// and returns how many 429s the bot received; it fails unless every update was answered
// exactly once.
func burst429(tb testing.TB, u burst) int {
	rt := openRuntime(tb, instant{})
	srv := tgtest.New(tb, tgtest.WithWaitTimeout(5*time.Minute))
	startBot(tb, rt, srv, telegram.Config{Owners: u.owners()})
	before, start := srv.Stats(), time.Now()
	u.send(srv)
	u.wait(tb, srv, before)
	took := time.Since(start)
	u.check(tb, srv)
	n := srv.Stats().TooManyRequests - before.TooManyRequests
	tb.Logf("%d updates across %d chats answered in %v (%.1f/s), %d 429s",
		u.total(), u.chats, took.Round(time.Millisecond), float64(u.total())/took.Seconds(), n)
	return n
}

// BenchmarkBurst429 is the burst: 2,000 updates across 200 chats against
// Telegram's limits. The target is zero 429s with every update answered exactly once;
// the time is bounded below by the 30 messages a second the limits allow (66.7s).
func BenchmarkBurst429(b *testing.B) {
	u := burst{first: 2_000_000, chats: 200, perChat: 10}
	total := 0
	for b.Loop() {
		total += burst429(b, u)
	}
	b.ReportMetric(float64(total)/float64(b.N), "429s/burst")
	b.ReportMetric(float64(u.total()*b.N)/b.Elapsed().Seconds(), "updates/s")
}

// TestBurstNoTooManyRequests guards the burst's target in CI at a size that runs in
// seconds: 200 updates across 40 chats, five each, against Telegram's limits.
func TestBurstNoTooManyRequests(t *testing.T) {
	if n := burst429(t, burst{first: 3_000_000, chats: 40, perChat: 5}); n != 0 {
		t.Fatalf("the bot received %d 429s; a bot paced by its scheduler should receive none", n)
	}
}
