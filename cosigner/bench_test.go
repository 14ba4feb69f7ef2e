package cosigner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// benchPolicy allows many small payments, so every review approves and
// signs: the expensive path.
var benchPolicy = fmt.Sprintf(`version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "%s", decimals: 6}
recipients: {allow: ["%s"]}
limits:
  per_tx: {ETH: "1", USDC: "1000"}
  daily: {ETH: "1000000", USDC: "1000000000"}
safe: {delegatecall: ["%s"], self_calls: false, refund: false}
`, usdc.Hex(), friend.Hex(), callOnly.Hex())

// BenchmarkReview measures decisions per second: hash, decode (a batch of
// a USDC transfer and an ETH payment through MultiSendCallOnly), policy,
// signature and the review record, on both cores (RunParallel). "sign" is
// the signature alone, the limit a review cannot beat.
func BenchmarkReview(b *testing.B) {
	key, _ := crypto.HexToECDSA(ownerKey[2:])
	b.Run("sign", func(b *testing.B) {
		h := crypto.Keccak256([]byte("x"))
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := crypto.Sign(h, key); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("hash", func(b *testing.B) {
		tx := safe.Tx{Safe: safeAddr, ChainID: chainID, To: callOnly, Value: new(big.Int), Operation: safe.DelegateCall,
			Data: batch(call(usdc, 0, transfer(friend, 1)), call(friend, 1, nil)), SafeTxGas: new(big.Int), BaseGas: new(big.Int), GasPrice: new(big.Int), Nonce: big.NewInt(1)}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			tx.Nonce.SetInt64(int64(i))
			if _, err := tx.Hash(version); err != nil {
				b.Fatal(err)
			}
		}
	})
	callers := 0 // goroutines per core reviewing at once; 0: one (RunParallel's default)
	run := func(b *testing.B, ledger policies.Ledger, store cosigner.Store) {
		p, err := policies.Parse([]byte(benchPolicy))
		if err != nil {
			b.Fatal(err)
		}
		s, _ := evm.NewKeySigner(ownerKey)
		r := cosigner.New(chainID, policies.NewEngine(p, ledger), cosigner.WithSafe(safeAddr, version), cosigner.WithSigner(s), cosigner.WithStore(store), cosigner.WithNonceWindow(1<<40), cosigner.WithNonces(fixedNonce(0)),
			cosigner.WithTokens(func(a string) (policies.Token, bool) {
				return policies.Token{Symbol: "USDC", Address: usdc.Hex(), Decimals: 6}, common.HexToAddress(a) == usdc
			}))
		var nonce atomic.Int64
		var lat latencies
		data := batch(call(usdc, 0, transfer(friend, 1)), call(friend, 1, nil))
		b.ReportAllocs()
		if callers > 0 {
			b.SetParallelism(callers)
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				tx := stx(callOnly, new(big.Int), data, 1, func(st *safe.ServiceTx) {
					st.Nonce = json.RawMessage(fmt.Sprint(nonce.Add(1)))
				})
				start := time.Now()
				d, err := r.Review(context.Background(), safeAddr, tx)
				mine = append(mine, time.Since(start))
				if err != nil || d.Decision != cosigner.Approve {
					b.Fatalf("%s %q %v", d.Decision, d.Reasons, err)
				}
			}
			lat.add(mine)
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		lat.report(b)
	}
	b.Run("review/memory", func(b *testing.B) { run(b, policies.NewMemLedger(), cosigner.NewMemStore()) })
	b.Run("review/sqlite", func(b *testing.B) {
		st := memtest.SQLite(b).Store
		defer groups(b, st)()
		run(b, st.Ledger(), cosigner.ReviewStore(st.Reviews()))
	})
	b.Run("review/postgres", func(b *testing.B) {
		st, ok := memtest.Postgres(b)
		if !ok {
			b.Skip("PostgreSQL is not configured (MANDATE_TEST_POSTGRES)")
		}
		defer groups(b, st.Store)()
		run(b, st.Store.Ledger(), cosigner.ReviewStore(st.Store.Reviews()))
	})
	// A busy treasury: 64 reviews in flight at once (32 per core), the
	// load group commit is for.
	callers = 32
	b.Run("review/sqlite/64-callers", func(b *testing.B) {
		st := memtest.SQLite(b).Store
		defer groups(b, st)()
		run(b, st.Ledger(), cosigner.ReviewStore(st.Reviews()))
	})
	b.Run("review/postgres/64-callers", func(b *testing.B) {
		st, ok := memtest.Postgres(b)
		if !ok {
			b.Skip("PostgreSQL is not configured (MANDATE_TEST_POSTGRES)")
		}
		defer groups(b, st.Store)()
		run(b, st.Store.Ledger(), cosigner.ReviewStore(st.Store.Reviews()))
	})
}

// latencies gathers every review's duration across the parallel callers.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, d...)
}

// report adds the median and 99th percentile of one review, waiting included.
func (l *latencies) report(b *testing.B) {
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	b.ReportMetric(float64(l.all[len(l.all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(l.all[len(l.all)*99/100].Microseconds())/1000, "p99-ms")
}

// commitCounter is a memory.Observer that counts durable commits.
type commitCounter struct{ commits, writes atomic.Int64 }

func (c *commitCounter) Committed(_ time.Duration, writes int) {
	c.commits.Add(1)
	c.writes.Add(int64(writes))
}

func (*commitCounter) NonceWaited(time.Duration) {}

// groups watches st's commits while a benchmark runs and, when the returned
// function is called, reports the writes each durable commit carried.
func groups(b *testing.B, st *memory.Store) func() {
	var c commitCounter
	st.Observe(&c)
	return func() {
		st.Observe(nil)
		if n := c.commits.Load(); n > 0 {
			b.ReportMetric(float64(c.writes.Load())/float64(n), "writes/commit")
		}
	}
}
