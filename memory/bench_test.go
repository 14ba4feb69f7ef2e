package memory_test

import (
	"context"
	"fmt"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// benchWindow bounds the live spends a commit sums: commit i happens at
// second i and checks the last benchWindow seconds, like a daily limit on a
// wallet that makes benchWindow approvals a day. Without it the window
// would grow with b.N and the figure would depend on the iteration count.
const benchWindow = 100

func benchCommit(i int64) (policies.Entry, []policies.Limit) {
	at := day.Add(time.Duration(i) * time.Second)
	amount := new(big.Int).Lsh(big.NewInt(1), 64) // one ETH-sized amount above 2^64
	e := approve(fmt.Sprintf("bench-%d", i), at,
		policies.Spend{Bucket: "1:ETH", Amount: amount},
		policies.Spend{Bucket: "usd", Amount: big.NewInt(3_000_000_000)})
	e.Key = fmt.Sprintf("key-%d", i)
	since := at.Add(-benchWindow * time.Second)
	max := new(big.Int).Lsh(big.NewInt(1), 128)
	return e, []policies.Limit{
		{Bucket: "1:ETH", Max: max, Since: since, Rule: "limits.daily.ETH"},
		{Bucket: "usd", Max: max, Since: since, Rule: "limits.daily_usd"},
	}
}

// BenchmarkCommit measures one approval with two spends, two limits and an
// idempotency key, committed durably (SQLite synchronous=FULL, PostgreSQL
// default fsync), one at a time.
func BenchmarkCommit(b *testing.B) {
	for _, st := range memtest.Stores(b) {
		var n int64 // outside b.Run, which runs once per -count on the same store
		b.Run(st.Name, func(b *testing.B) {
			ctx := context.Background()
			l := st.Store.Ledger()
			b.ReportAllocs()
			for b.Loop() {
				n++
				e, lim := benchCommit(n)
				if err := l.Commit(ctx, e, lim); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommitParallel is BenchmarkCommit from GOMAXPROCS goroutines
// contending for the same buckets, the worst case for the serialisation.
func BenchmarkCommitParallel(b *testing.B) {
	for _, st := range memtest.Stores(b) {
		var n atomic.Int64 // outside b.Run, which runs once per -count on the same store
		b.Run(st.Name, func(b *testing.B) {
			ctx := context.Background()
			l := st.Store.Ledger()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					e, lim := benchCommit(n.Add(1))
					if err := l.Commit(ctx, e, lim); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkSpent measures the window sum a policy reads before deciding.
func BenchmarkSpent(b *testing.B) {
	for _, st := range memtest.Stores(b) {
		ctx := context.Background()
		l := st.Store.Ledger()
		for i := int64(1); i <= benchWindow; i++ {
			e, lim := benchCommit(i)
			if err := l.Commit(ctx, e, lim); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(st.Name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Spent(ctx, "1:ETH", day); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
