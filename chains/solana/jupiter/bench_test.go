package jupiter

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"testing"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/policies"
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

// BenchmarkVerifyDecideSign measures a swap from the wire to its signature
// in memory: Verify, the policy's decision (deferred, as the tools ask),
// the signer's own decode with the Decoder, and the ed25519 signature of
// the message. The wallet's Send adds the journal and the ledger's commit.
//
//	go test -run '^$' -bench VerifyDecideSign -benchmem ./chains/solana/jupiter/
func BenchmarkVerifyDecideSign(b *testing.B) {
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
	eng := policies.NewEngine(swapPolicy(b), policies.NewMemLedger(),
		policies.WithClock(clock), policies.WithPrices(usdPrices{"SOL": big.NewRat(150, 1), mintUSDC.String(): big.NewRat(1, 1)}))
	seed := sha256.Sum256([]byte("mandate jupiter test wallet"))
	key := ed25519.NewKeyFromSeed(seed[:])
	ctx := policies.DeferCommit(context.Background())
	opts := []Option{WithTables(w.tables), WithClock(clock), WithChain("solana-mainnet")}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		tx, err := sol.TransactionFromBytes(raw)
		if err != nil {
			b.Fatal(err)
		}
		in, err := Verify(ctx, q, tx, w.wallet, w.look, opts...)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := eng.Decide(ctx, in); err != nil {
			b.Fatal(err)
		}
		dec, err := NewDecoder(in, opts...)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := dec.Decode(ctx, tx, "solana-mainnet", w.look); err != nil {
			b.Fatal(err)
		}
		msg, err := tx.Message.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		_ = ed25519.Sign(key, msg)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "swaps/s")
}
