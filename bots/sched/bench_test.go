package sched_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mandatehq/mandate/bots/sched"
	"github.com/mandatehq/mandate/bots/sched/schedtest"
)

// BenchmarkScheduler measures the scheduler's own cost: 2,000 sends across 200 chats
// under Telegram's limits, on a fake clock so the limits cost no wall time. virtual-s is
// how long the burst takes at those limits (2,000 at 30/s is at least 66.6s). The
// observer that keeps fake time from jumping past a send in flight is part of the cost.
func BenchmarkScheduler(b *testing.B) {
	const chats, sends = 200, 2000
	keys := make([]string, chats)
	for i := range keys {
		keys[i] = fmt.Sprintf("chat-%d", i)
	}
	send := func(context.Context) error { return nil }
	var virtual time.Duration
	b.ReportAllocs()
	for b.Loop() {
		clk := schedtest.NewClock(epoch)
		rec := newRecorder()
		s := sched.New(sched.TelegramLimits, sched.WithClock(clk), sched.WithObserver(rec.observe))
		ctx, cancel := context.WithCancel(context.Background())
		go clk.Run(ctx, rec.settle)
		results := make([]<-chan error, 0, sends)
		for i := 0; i < sends; i++ {
			results = append(results, s.Enqueue(ctx, keys[i%chats], i%chats%4 == 0, send))
		}
		for _, ch := range results {
			if err := <-ch; err != nil {
				b.Fatal(err)
			}
		}
		virtual = clk.Now().Sub(epoch)
		if err := s.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		cancel()
	}
	b.ReportMetric(virtual.Seconds(), "virtual-s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/sends, "ns/send")
}
