package policies

import (
	"context"
	"errors"
	"math/big"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestConcurrentDecide runs 100 goroutines against a daily limit that fits
// exactly 10 of their transfers: exactly 10 are approved.
func TestConcurrentDecide(t *testing.T) {
	p, err := Parse([]byte(`version: 1
chains: [1]
limits: {daily: {ETH: "1"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	l := NewMemLedger()
	eng := NewEngine(p, l)
	var (
		wg                sync.WaitGroup
		mu                sync.Mutex
		approved, limited int
	)
	for range 100 {
		wg.Go(func() {
			_, err := eng.Decide(context.Background(), transfer(eth, alice, "0.1"))
			mu.Lock()
			defer mu.Unlock()
			switch d, ok := errors.AsType[*Denied](err); {
			case err == nil:
				approved++
			case ok && len(d.Reasons) == 1 && d.Reasons[0].Rule == "limits.daily.ETH":
				limited++
			default:
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if approved != 10 || limited != 90 {
		t.Fatalf("approved %d, denied by the limit %d; want 10 and 90", approved, limited)
	}
	spent, _ := l.Spent(context.Background(), "default/1/native", time.Now().Add(-time.Hour))
	if spent.Cmp(units("1", 18)) != 0 {
		t.Fatalf("spent %s, want exactly 1 ETH", spent)
	}
}

func TestMemLedger(t *testing.T) {
	ctx := context.Background()
	l := NewMemLedger()
	t0 := wednesday
	lim := func(at time.Time, max int64) []Limit {
		return []Limit{{Bucket: "b", Max: big.NewInt(max), Since: at.Add(-24 * time.Hour), Rule: "limits.daily.X"}}
	}
	commit := func(id string, at time.Time, amount, max int64) error {
		return l.Commit(ctx, Entry{ApprovalID: id, Wallet: wallet, At: at, Decision: DecisionApprove,
			Spends: []Spend{{Bucket: "b", Amount: big.NewInt(amount)}}}, lim(at, max))
	}
	if err := commit("a1", t0, 6, 10); err != nil {
		t.Fatal(err)
	}
	if err := commit("a2", t0.Add(time.Hour), 4, 10); err != nil {
		t.Fatal(err)
	}
	err := commit("a3", t0.Add(2*time.Hour), 1, 10)
	le, ok := errors.AsType[*LimitError](err)
	if !ok || le.Spent.Int64() != 10 || le.Amount.Int64() != 1 || le.Limit.Rule != "limits.daily.X" {
		t.Fatalf("want LimitError 10+1, got %v", err)
	}
	// Release returns a spend; releasing twice or an unknown id is harmless.
	if err := l.Release(ctx, "a1", "reverted"); err != nil {
		t.Fatal(err)
	}
	_ = l.Release(ctx, "a1", "again")
	_ = l.Release(ctx, "nope", "unknown")
	if s, _ := l.Spent(ctx, "b", t0.Add(-time.Hour)); s.Int64() != 4 {
		t.Fatalf("spent after release %s, want 4", s)
	}
	// Spends leave the window as it moves.
	if s, _ := l.Spent(ctx, "b", t0.Add(30*time.Minute)); s.Int64() != 4 {
		t.Fatalf("spent since t0+30m %s", s)
	}
	if s, _ := l.Spent(ctx, "b", t0.Add(2*time.Hour)); s.Sign() != 0 {
		t.Fatalf("spent since t0+2h %s", s)
	}
	if s, _ := l.Spent(ctx, "unknown", t0); s.Sign() != 0 {
		t.Fatal("unknown bucket must be empty")
	}
	// Out-of-order commits keep the bucket ordered.
	if err := commit("a4", t0.Add(-time.Minute), 2, 10); err != nil {
		t.Fatal(err)
	}
	if s, _ := l.Spent(ctx, "b", t0.Add(-2*time.Minute)); s.Int64() != 6 {
		t.Fatalf("spent with an out-of-order spend %s, want 6", s)
	}
	// Idempotency keys are per wallet.
	key := func(id, w, k string) error {
		return l.Commit(ctx, Entry{ApprovalID: id, Wallet: w, Key: k, At: t0}, nil)
	}
	if err := key("k1", wallet, "x"); err != nil {
		t.Fatal(err)
	}
	dup, ok := errors.AsType[*DuplicateError](key("k2", "0x3333333333333333333333333333333333333333", "x"))
	if !ok || dup.ApprovalID != "k1" || dup.Key != "x" {
		t.Fatalf("duplicate: %v", dup)
	}
	if err := key("k3", bob, "x"); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, Entry{}, nil); err == nil {
		t.Fatal("commit without approval id must fail")
	}
	if len(l.Entries()) != 5 { // a1, a2, a4, k1, k3
		t.Fatalf("%d entries, want 5", len(l.Entries()))
	}
}

// TestMemLedgerPrunes commits spends for many simulated days and checks the
// ledger keeps only the window's worth.
func TestMemLedgerPrunes(t *testing.T) {
	ctx := context.Background()
	l := NewMemLedger()
	at := wednesday
	for i := range 5000 {
		at = at.Add(time.Hour)
		lim := []Limit{{Bucket: "b", Max: big.NewInt(1 << 40), Since: at.Add(-24 * time.Hour)}}
		e := Entry{ApprovalID: strconv.Itoa(i), At: at, Spends: []Spend{{Bucket: "b", Amount: big.NewInt(1)}}}
		if err := l.Commit(ctx, e, lim); err != nil {
			t.Fatal(err)
		}
	}
	b := l.buckets["b"]
	if live := len(b.recs) - b.head; live > 26 || len(b.recs) > 200 {
		t.Fatalf("bucket holds %d live of %d records; want about a day's worth", live, len(b.recs))
	}
	if n := len(l.approvals); n > 26 {
		t.Fatalf("%d approvals kept", n)
	}
	if s, _ := l.Spent(ctx, "b", at.Add(-24*time.Hour)); s.Int64() != 25 {
		t.Fatalf("spent in the last day %s, want 25", s)
	}
	if len(l.Entries()) != memEntries {
		t.Fatalf("%d entries kept", len(l.Entries()))
	}
	if l.Entries()[memEntries-1].ApprovalID != "4999" {
		t.Fatal("entries are not the most recent, oldest first")
	}
}
