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
		review := benchReviewer(b, ledger, store)
		var lat latencies
		b.ReportAllocs()
		if callers > 0 {
			b.SetParallelism(callers)
		}
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			var mine []time.Duration
			for pb.Next() {
				start := time.Now()
				review()
				mine = append(mine, time.Since(start))
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
	// Latency under a steady load: reviews arrive at a fixed rate, each
	// on its own, whether or not the ones before have been answered, as
	// proposals reach a co-signer. With a fixed number of callers the
	// latency is only the queue those callers make (Little's law); here
	// it is what one proposal waits at that rate.
	for _, rate := range []int{100, 200, 400} {
		b.Run(fmt.Sprintf("review/sqlite/%d-per-s", rate), func(b *testing.B) {
			st := memtest.SQLite(b).Store
			defer groups(b, st)()
			paced(b, benchReviewer(b, st.Ledger(), cosigner.ReviewStore(st.Reviews())), rate)
		})
		b.Run(fmt.Sprintf("review/postgres/%d-per-s", rate), func(b *testing.B) {
			st, ok := memtest.Postgres(b)
			if !ok {
				b.Skip("PostgreSQL is not configured (MANDATE_TEST_POSTGRES)")
			}
			defer groups(b, st.Store)()
			paced(b, benchReviewer(b, st.Store.Ledger(), cosigner.ReviewStore(st.Store.Reviews())), rate)
		})
	}
}

// benchReviewer returns a function that reviews one new Safe transaction (a
// batch of a USDC transfer and an ETH payment) and fails b unless it is
// approved and signed.
func benchReviewer(b *testing.B, ledger policies.Ledger, store cosigner.Store) func() {
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
	data := batch(call(usdc, 0, transfer(friend, 1)), call(friend, 1, nil))
	return func() {
		tx := stx(callOnly, new(big.Int), data, 1, func(st *safe.ServiceTx) {
			st.Nonce = json.RawMessage(fmt.Sprint(nonce.Add(1)))
		})
		d, err := r.Review(context.Background(), safeAddr, tx)
		if err != nil || d.Decision != cosigner.Approve {
			b.Errorf("%s %q %v", d.Decision, d.Reasons, err)
		}
	}
}

// paced starts b.N reviews at rate a second, each in its own goroutine,
// and reports their latency from the moment each was due, so a review
// started late because the process was busy counts its wait. A second of
// the same load goes first, untimed: PostgreSQL's pool opens its
// connections (each a password exchange of tens of milliseconds) when a
// burst first needs them, a cost a long-running co-signer pays once.
func paced(b *testing.B, review func(), rate int) {
	b.ReportAllocs()
	at(rate, rate, review)
	b.ResetTimer()
	lat := at(rate, b.N, review)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	lat.report(b)
}

// at runs n reviews at rate a second and returns their latencies.
func at(rate, n int, review func()) *latencies {
	every := time.Second / time.Duration(rate)
	var lat latencies
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range n {
		due := begin.Add(time.Duration(i) * every)
		time.Sleep(time.Until(due))
		wg.Go(func() {
			review()
			lat.add([]time.Duration{time.Since(due)})
		})
	}
	wg.Wait()
	return &lat
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

// commitCounter is a memory.Observer that counts durable commits and
// keeps how long each took.
type commitCounter struct {
	commits, writes atomic.Int64
	took            latencies
}

func (c *commitCounter) Committed(d time.Duration, writes int) {
	c.commits.Add(1)
	c.writes.Add(int64(writes))
	c.took.add([]time.Duration{d})
}

func (*commitCounter) NonceWaited(time.Duration) {}

// groups watches st's commits while a benchmark runs and, when the returned
// function is called, reports the writes each durable commit carried and
// the 99th percentile of a commit's duration: the part of a decision's
// tail the database itself is responsible for.
func groups(b *testing.B, st *memory.Store) func() {
	var c commitCounter
	st.Observe(&c)
	return func() {
		st.Observe(nil)
		if n := c.commits.Load(); n > 0 {
			b.ReportMetric(float64(c.writes.Load())/float64(n), "writes/commit")
			slices.Sort(c.took.all)
			b.ReportMetric(float64(c.took.all[len(c.took.all)*99/100].Microseconds())/1000, "commit-p99-ms")
		}
	}
}
