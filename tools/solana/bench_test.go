package soltools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/tools"
)

// BenchmarkTransferThroughGate measures sol_transfer end to end on the
// local runtime: arguments, build, priority fee, simulation, two policy
// decisions (none deferred past the journal's transaction), signature,
// journal row on SQLite, broadcast, and confirmation.
func BenchmarkTransferThroughGate(b *testing.B) {
	for _, tc := range []struct{ name, token, amount string }{{"SOL", "SOL", "0.000001"}, {"USDC", "USDC", "0.000001"}} {
		b.Run(tc.name, func(b *testing.B) {
			e := newEnv(b, memtest.SQLite(b))
			to := newRecipient()
			args, _ := json.Marshal(map[string]string{"to": to.String(), "token": tc.token, "amount": tc.amount})
			ctx := context.Background()
			// The first transfer creates the recipient's account, with its rent.
			first, _ := json.Marshal(map[string]string{"to": to.String(), "token": tc.token, "amount": "0.01"})
			if _, err := e.reg.Call(ctx, "sol_transfer", first); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r, err := e.reg.Call(ctx, "sol_transfer", args)
				if err != nil || r.Outcome.Tx.Status != tools.TxMined {
					b.Fatalf("transfer: %v", err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
		})
	}
}

// BenchmarkSwapSignOnly measures sol_swap up to its signature on the local
// runtime (which has no Jupiter program to run it): arguments, a quote and
// a swap transaction from a local Jupiter API, Verify (lookups over RPC),
// the policy's decision, PrepareDecoded, and the signature through the
// Jupiter decoder with the approval committed and the row journaled on
// SQLite.
//
//	go test -run '^$' -bench SwapSignOnly -benchmem ./tools/solana/
func BenchmarkSwapSignOnly(b *testing.B) {
	e := newSwapEnv(b)
	ctx := context.Background()
	i := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		// Each amount its own transaction: the same bytes would be the same
		// signature, which the journal holds once.
		i++
		args, _ := json.Marshal(map[string]string{"from": "SOL", "to": "USDC", "amount": fmt.Sprintf("0.%05d", i)})
		r, err := e.reg.Call(ctx, "sol_swap", args)
		if err != nil || r.Outcome.Tx == nil {
			b.Fatalf("swap: %v", err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "swaps/s")
}
