package wallet_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/memory/memtest"
)

// BenchmarkConcurrentTransfers sends 200 wallet_transfers at once from one
// wallet, each through the full path (resolve, balance check, simulate,
// policy decision charged in the ledger, sign, journal, broadcast, wait for
// the receipt), on the devnet, with the ledger and journal on SQLite and on
// PostgreSQL. It fails on any error and checks the account's nonce advanced
// by exactly 200 per round: no gap, no duplicate.
func BenchmarkConcurrentTransfers(b *testing.B) {
	b.Run("poll-1s", func(b *testing.B) { benchTransfers(b) })
	// The receipt polled every 20 ms: the devnet mines at once, so what
	// is left is the path through the gate and the database.
	b.Run("poll-20ms", func(b *testing.B) { benchTransfers(b, evm.WithPollInterval(20*time.Millisecond)) })
}

func benchTransfers(b *testing.B, opts ...evm.WalletOption) {
	const n = 200
	for _, st := range memtest.Stores(b) {
		b.Run(st.Name, func(b *testing.B) {
			ctx := context.Background()
			e := setup(b, st.Store, 1337, opts...)
			args, _ := json.Marshal(map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "0.01"})
			start0, err := e.w.Client().Nonce(ctx, e.w.Address())
			if err != nil {
				b.Fatal(err)
			}
			var c commits
			st.Store.Observe(&c)
			defer st.Store.Observe(nil)
			lat := make([]time.Duration, 0, n*b.N)
			var latMu sync.Mutex
			b.ResetTimer()
			began := time.Now()
			for i := 0; i < b.N; i++ {
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for j := 0; j < n; j++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						start := time.Now()
						res, err := e.reg.Call(ctx, "wallet_transfer", args)
						latMu.Lock()
						lat = append(lat, time.Since(start))
						latMu.Unlock()
						if err == nil && res.Outcome.Tx.Status != "mined" {
							err = errNotMined
						}
						errs <- err
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
			elapsed := time.Since(began)
			b.StopTimer()
			nonce, err := e.w.Client().Nonce(ctx, e.w.Address())
			if err != nil || nonce-start0 != uint64(n*b.N) {
				b.Fatalf("nonce advanced by %d, want %d (%v)", nonce-start0, n*b.N, err)
			}
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "transfers/s")
			b.ReportMetric(0, "nonce-errors")
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
			if commits, writes := c.take(); commits > 0 {
				b.ReportMetric(float64(writes)/float64(n*b.N), "writes/transfer")
				b.ReportMetric(float64(writes)/float64(commits), "writes/commit")
			}
		})
	}
}

type benchErr string

func (e benchErr) Error() string { return string(e) }

const errNotMined = benchErr("transfer not mined")
