package soltools_test

import (
	"context"
	"encoding/json"
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
