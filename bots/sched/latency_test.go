package sched_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/bots/sched"
	"github.com/mandatehq/mandate/bots/sched/schedtest"
)

// TestLimitsHoldWhereTheServerTimesThem checks the limits where the platform measures
// them: when a request reaches the server, some moment between its grant and its answer
// that the scheduler cannot see. Every send here takes 10ms of fake time, and the test
// places each arrival at one end or the other at random: just after its grant or just
// before its answer, so a slow request is often followed by a fast one.
// A scheduler that spaced grants alone by the limits would put a chat's fast message
// less than a second after its slow one, which the server answers with a 429.
func TestLimitsHoldWhereTheServerTimesThem(t *testing.T) {
	const latency = 10 * time.Millisecond
	clk := schedtest.NewClock(epoch)
	rec := newRecorder()
	s := sched.New(sched.TelegramLimits, sched.WithClock(clk), sched.WithObserver(rec.observe))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	var arrivals []sched.Event // At: when the server saw the request
	coin := rand.New(rand.NewPCG(13, 429))
	var results []<-chan error
	// Three busy chats meet the per-chat limit, the rest make up the global one, and
	// chat-0 is a group.
	const chats, perChat = 45, 4
	for m := 0; m < perChat; m++ {
		for c := 0; c < chats; c++ {
			key := fmt.Sprintf("chat-%d", c)
			if c >= 3 && m >= 2 {
				continue
			}
			results = append(results, s.Enqueue(ctx, key, c == 0, func(context.Context) error {
				mu.Lock()
				slow := coin.IntN(2) == 0
				mu.Unlock()
				at := clk.Now()
				clk.Advance(latency)
				if slow {
					at = clk.Now()
				}
				mu.Lock()
				arrivals = append(arrivals, sched.Event{Chat: key, At: at})
				mu.Unlock()
				return nil
			}))
		}
	}
	go clk.Run(ctx, rec.settle)
	for i, err := range wait(t, results) {
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	checkWindow(t, "global, as the server saw it", arrivals, 30, time.Second)
	byChat := map[string][]sched.Event{}
	for _, a := range arrivals {
		byChat[a.Chat] = append(byChat[a.Chat], a)
	}
	for key, as := range byChat {
		checkWindow(t, key+", as the server saw it", as, 1, time.Second)
	}
	checkWindow(t, "group chat-0, as the server saw it", byChat["chat-0"], 20, time.Minute)
}
