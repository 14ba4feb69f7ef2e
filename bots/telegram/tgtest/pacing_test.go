package tgtest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-telegram/bot"

	"github.com/mandatehq/mandate/bots/sched"
	"github.com/mandatehq/mandate/bots/telegram/tgtest"
)

// A real client paced by bots/sched meets the documented limits as this server enforces
// them: no 429. Three chats get four messages each, so the one-per-second limit is met at
// its edge; forty more get one each, so the thirty-per-second one is too. Before the
// scheduler counted a send until its answer, the first messages of a run (slower: their
// connections were being opened) drew a 429 in about half the runs.
func TestPacedBySchedulerNoTooManyRequests(t *testing.T) {
	srv := tgtest.New(t)
	type msg struct {
		chat int64
		n    int
	}
	var msgs []msg
	for n := range 4 {
		for c := range 43 {
			if c < 3 || n == 0 {
				msgs = append(msgs, msg{int64(5000 + c), n})
			}
		}
	}
	for c := range 43 {
		srv.SendText(tgtest.Chat{ID: int64(5000 + c), Type: "private"}, alice, "hi")
	}
	b := newBot(t, srv)
	s := sched.New(sched.TelegramLimits)
	defer s.Close(context.Background())
	var results []<-chan error
	for _, m := range msgs {
		results = append(results, s.Enqueue(context.Background(), fmt.Sprint(m.chat), false, func(ctx context.Context) error {
			_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: m.chat, Text: fmt.Sprintf("answer %d", m.n)})
			var tm *bot.TooManyRequestsError
			if errors.As(err, &tm) {
				return &sched.RateLimitError{Wait: time.Duration(tm.RetryAfter) * time.Second, Err: err}
			}
			return err
		}))
	}
	for i, ch := range results {
		select {
		case err := <-ch:
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		case <-time.After(time.Minute):
			t.Fatalf("message %d of %d never sent (stats %+v)", i, len(msgs), srv.Stats())
		}
	}
	if n := srv.Stats().TooManyRequests; n != 0 {
		t.Fatalf("the server answered %d messages with 429", n)
	}
	for c := range 43 {
		want := 1
		if c < 3 {
			want = 4
		}
		if got := len(srv.Sent(int64(5000 + c))); got != want {
			t.Fatalf("chat %d: %d messages recorded, want %d", 5000+c, got, want)
		}
	}
}
