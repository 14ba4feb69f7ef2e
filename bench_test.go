package mandate_test

import (
	"context"
	"testing"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/chains/evm/devnet"
)

// BenchmarkOpen measures the time from nothing to the agent's first
// answer on the in-process devnet: start the chain and deploy its
// contracts, open a database, build every tool and the model, and answer
// "balance" (one model step, one tool call over RPC).
// Beside it, the devnet alone: what the runtime adds to the chain's start.
func BenchmarkOpen(b *testing.B) {
	ctx := context.Background()
	b.Run("devnet-only", func(b *testing.B) {
		for b.Loop() {
			d, err := devnet.New(ctx)
			if err != nil {
				b.Fatal(err)
			}
			d.Close()
		}
	})
	b.Run("to-first-answer", func(b *testing.B) { benchFirstAnswer(b, ctx) })
}

func benchFirstAnswer(b *testing.B, ctx context.Context) {
	for b.Loop() {
		rt, err := mandate.Open(ctx, mandate.Config{Devnet: true})
		if err != nil {
			b.Fatal(err)
		}
		answered := false
		for ev, err := range rt.Agent().Session("bench").Send(ctx, "balance") {
			if err != nil {
				b.Fatal(err)
			}
			answered = answered || ev.Text != ""
		}
		rt.Close()
		if !answered {
			b.Fatal("no answer")
		}
	}
}
