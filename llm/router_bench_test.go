package llm_test

import (
	"slices"
	"testing"
	"time"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/llmtest"
)

func okHandler(llmtest.Request) llmtest.Reply { return llmtest.Reply{Text: "ok"} }

// BenchmarkRouterOverhead compares one request through the bare Client with
// the same request through a Router holding only that Client, against the
// same zero-latency llmtest server: the difference is the Router's cost.
// "router-hedgeable" has a second, warm backend, so every attempt may be
// hedged and runs on its own goroutine: the Router's most expensive path.
func BenchmarkRouterOverhead(b *testing.B) {
	s := llmtest.NewServer(b, llmtest.WithHandler(okHandler))
	n := llm.Route(s.Backend("bench"))
	msgs := ask("hi")
	hedgeable := llm.NewRouter([]llm.Named{n, llm.Route(s.Backend("second"))}, llm.WithRouterLogger(quietLogger()))
	for range 10 {
		if _, err := hedgeable.GenerateContent(b.Context(), msgs); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name  string
		model llms.Model
	}{
		{"bare", n.Model},
		{"router", llm.NewRouter([]llm.Named{n}, llm.WithRouterLogger(quietLogger()))},
		{"router-hedgeable", hedgeable},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.model.GenerateContent(b.Context(), msgs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFailover503 is the time to an answer when the first backend
// answers 503 and the second answers, against both healthy. The cooldown is
// made negligible so that every request meets the 503 first.
func BenchmarkFailover503(b *testing.B) {
	bad := llmtest.NewServer(b, llmtest.WithHandler(func(llmtest.Request) llmtest.Reply { return llmtest.Reply{Status: 503} }))
	good1 := llmtest.NewServer(b, llmtest.WithHandler(okHandler))
	good2 := llmtest.NewServer(b, llmtest.WithHandler(okHandler))
	msgs := ask("hi")
	for _, bc := range []struct {
		name  string
		first *llmtest.Server
	}{{"first-ok", good1}, {"first-503", bad}} {
		b.Run(bc.name, func(b *testing.B) {
			r := llm.NewRouter([]llm.Named{llm.Route(bc.first.Backend("first")), llm.Route(good2.Backend("second"))},
				llm.WithCooldown(time.Nanosecond, time.Nanosecond), llm.WithRouterLogger(quietLogger()))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.GenerateContent(b.Context(), msgs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// tailLatency is a long-tailed latency: 1 ms usually, 30 ms for 3 requests
// in 100, spread deterministically.
func tailLatency(i int) time.Duration {
	if (i*37)%100 < 3 {
		return 30 * time.Millisecond
	}
	return time.Millisecond
}

// BenchmarkHedging reports p50 and p99 of the time to an answer when the
// first backend has a long-tailed latency and the second a steady 1 ms,
// with hedging on and off. Run it with a fixed count, e.g.
// -benchtime=1000x, so that both runs see the same latency sequence.
func BenchmarkHedging(b *testing.B) {
	msgs := ask("hi")
	for _, hedging := range []bool{false, true} {
		name := map[bool]string{false: "off", true: "on"}[hedging]
		b.Run(name, func(b *testing.B) {
			tail := llmtest.NewServer(b, llmtest.WithHandler(okHandler), llmtest.WithLatency(tailLatency))
			steady := llmtest.NewServer(b, llmtest.WithHandler(okHandler), llmtest.WithLatency(func(int) time.Duration { return time.Millisecond }))
			r := llm.NewRouter([]llm.Named{llm.Route(tail.Backend("tail")), llm.Route(steady.Backend("steady"))},
				llm.WithHedging(hedging), llm.WithRouterLogger(quietLogger()))
			for range 20 { // the samples hedging needs, and warm connections
				if _, err := r.GenerateContent(b.Context(), msgs); err != nil {
					b.Fatal(err)
				}
			}
			durs := make([]time.Duration, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				start := time.Now()
				if _, err := r.GenerateContent(b.Context(), msgs); err != nil {
					b.Fatal(err)
				}
				durs = append(durs, time.Since(start))
			}
			slices.Sort(durs)
			pct := func(p int) float64 {
				i := (p*len(durs)+99)/100 - 1
				return float64(durs[max(i, 0)].Nanoseconds())
			}
			b.ReportMetric(pct(50), "p50-ns")
			b.ReportMetric(pct(99), "p99-ns")
			b.ReportMetric(float64(steady.Count())/float64(len(durs)+20), "hedges/op")
		})
	}
}
