package policies

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestApprovalProperties(t *testing.T) {
	ctx := context.Background()
	eng, l := newTestEngine(t, mustPolicy(t), wednesday)
	in := transfer(eth, alice, "0.1")

	var zero Approval
	if _, err := zero.Claim(); !errors.Is(err, ErrNoApproval) {
		t.Fatalf("zero Claim: %v", err)
	}
	if err := zero.Use(in); !errors.Is(err, ErrNoApproval) {
		t.Fatalf("zero Use: %v", err)
	}
	if err := zero.Release(ctx, "x"); !errors.Is(err, ErrNoApproval) {
		t.Fatalf("zero Release: %v", err)
	}
	if zero.Valid() || zero.ID() != "" || zero.Intent() != nil || zero.Digest() != "" {
		t.Fatal("zero approval must be empty and invalid")
	}

	a, err := eng.Decide(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.ID()) != 32 {
		t.Fatalf("approval id %q is not 128 bits of hex", a.ID())
	}
	other := transfer(eth, alice, "0.2")
	if err := a.Use(other); !errors.Is(err, ErrApprovalMismatch) {
		t.Fatalf("Use with another intent: %v", err)
	}
	if !a.Valid() {
		t.Fatal("a mismatched Use must not spend the approval")
	}
	cp := a // copies share state
	if err := cp.Use(in); err != nil {
		t.Fatalf("first Use: %v", err)
	}
	if err := a.Use(in); !errors.Is(err, ErrApprovalUsed) {
		t.Fatalf("second Use: %v", err)
	}
	if _, err := a.Claim(); !errors.Is(err, ErrApprovalUsed) {
		t.Fatalf("Claim after Use: %v", err)
	}
	if a.Valid() || cp.Valid() {
		t.Fatal("a used approval is not valid")
	}

	// A pointer to the same intent is the same intent.
	b, err := eng.Decide(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Use(&in); err != nil {
		t.Fatalf("Use(&in): %v", err)
	}

	// Claim spends once across goroutines.
	c, err := eng.Decide(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 20 {
		wg.Go(func() {
			if _, err := c.Claim(); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d goroutines claimed one approval", wins)
	}

	// Release calls the ledger, which returns the spend.
	spy := &releaseSpy{Ledger: l}
	eng2 := NewEngine(mustPolicy(t), spy, WithClock(func() time.Time { return wednesday }), WithPrices(defaultPrices()))
	d, err := eng2.Decide(ctx, transfer(eth, alice, "1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Release(ctx, "nonce too low"); err != nil {
		t.Fatal(err)
	}
	if spy.id != d.ID() || spy.reason != "nonce too low" {
		t.Fatalf("ledger Release(%q, %q), want (%q, nonce too low)", spy.id, spy.reason, d.ID())
	}
	if d.Valid() {
		t.Fatal("a released approval is spent")
	}
}

type releaseSpy struct {
	Ledger
	id, reason string
}

func (s *releaseSpy) Release(ctx context.Context, id, reason string) error {
	s.id, s.reason = id, reason
	return s.Ledger.Release(ctx, id, reason)
}
