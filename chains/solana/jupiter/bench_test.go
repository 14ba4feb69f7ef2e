package jupiter

import (
	"context"
	"encoding/base64"
	"testing"

	sol "github.com/gagliardetto/solana-go"
)

// BenchmarkVerify measures what a swap costs before the policy sees it:
// reading the /swap transaction off the wire, resolving its lookup table
// and checking it against its quote.
//
//	go test -run '^$' -bench Verify -benchmem ./chains/solana/jupiter/
func BenchmarkVerify(b *testing.B) {
	w := newWorld(b)
	s := w.goodSOLtoUSDC()
	b64, _ := w.wire(b, s)
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		b.Fatal(err)
	}
	q, err := ParseQuote([]byte(quoteJSON(s)))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	opts := []Option{WithTables(w.tables), WithClock(clock)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tx, err := sol.TransactionFromBytes(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Verify(ctx, q, tx, w.wallet, w.look, opts...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verifies/s")
}
