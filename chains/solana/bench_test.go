package solana

import (
	"context"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/policies"
)

// BenchmarkDecodeDecide measures what the gate does per Solana transaction
// before signing: read the wire bytes, decode every instruction into
// intents (a USDC transfer that creates the recipient's token account: two
// intents) and have the policy decide each, deferred as the tools do.
func BenchmarkDecodeDecide(b *testing.B) {
	w := newWorld(b)
	p, err := policies.Parse([]byte(`version: 1
chains: [solana-local]
tokens:
  USDC: {chain: solana-local, mint: "` + w.usdc.String() + `", decimals: 6}
limits:
  per_tx: {SOL: "1", USDC: "100"}
`))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	eng := policies.NewEngine(p, policies.NewMemLedger(), policies.WithClock(func() time.Time { return now }))
	tx, err := BuildTokenTransfer(context.Background(), w.look, w.wallet.Address(), w.friend.Address(), w.usdc, n(25_000_000), ComputeBudget{UnitLimit: 40_000, UnitPrice: 1_000}, w.blockhash)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	ctx := policies.DeferCommit(context.Background())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		t, err := sol.TransactionFromBytes(raw)
		if err != nil {
			b.Fatal(err)
		}
		d, err := Decode(ctx, t, chain, w.look)
		if err != nil || len(d.Intents) != 2 {
			b.Fatalf("decode: %v", err)
		}
		for _, in := range d.Intents {
			if _, err := eng.Decide(ctx, in); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
}
