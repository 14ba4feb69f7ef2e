package evm

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/policies"
)

// A send that cannot get the nonce lock in time — another sender holds it —
// fails with ErrNonceLockTimeout, saying nothing was signed: nothing is
// journaled or broadcast, the approval is released, and the next send,
// once the lock is free, takes the nonce the failed one did not use.
func TestSendNonceLockTimeout(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	e.mine(t)
	j := NewMemJournal()
	eng, ledger := testEngine(t)
	w := e.wallet(t, 0, WithJournal(j), WithNonceLockTimeout(200*time.Millisecond))

	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- j.LockNonces(ctx, w.JournalChain(), w.Address().Hex(), func(context.Context, Journal) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	_, err := w.Send(ctx, decide(t, eng, ethTransfer(w, e.addrs[1], 5)))
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, ErrNonceLockTimeout) || !strings.Contains(err.Error(), "nothing was written or signed") {
		t.Fatalf("send while the lock is held: %v", err)
	}
	if s, _ := ledger.Spent(ctx, "default/1337/native", time.Time{}); s.Sign() != 0 {
		t.Fatalf("still charged %s after the timeout", s)
	}
	if n := len(j.Records()); n != 0 || e.pendingNonce(t, w.Address()) != 0 {
		t.Fatalf("%d rows journaled, pending nonce %d: something was signed", n, e.pendingNonce(t, w.Address()))
	}
	rec, err := w.Send(ctx, decide(t, eng, ethTransfer(w, e.addrs[1], 6)))
	if err != nil || rec.Nonce != 0 {
		t.Fatalf("send after the lock was freed: %+v %v", rec, err)
	}
}

// A refused transaction's nonce is reused even when a later nonce was
// reserved meanwhile (by another sender of the wallet, which broadcast
// first): the next send fills the gap, so the later transaction, queued
// behind it, is mined too.
func TestRefusedNonceGapIsFilled(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	e.mine(t)
	j := NewMemJournal()
	eng, _ := testEngine(t)
	w := e.wallet(t, 0, WithJournal(j))
	fee := new(big.Int).Mul(oneGwei, big.NewInt(10))
	journal := func(nonce uint64, wei int64, status TxStatus) TxRecord {
		t.Helper()
		tx, raw, err := w.sign(context.Background(), policies.Call{To: e.addrs[1].Hex(), Value: big.NewInt(wei)}, nonce, 21000, oneGwei, fee)
		if err != nil {
			t.Fatal(err)
		}
		rec := w.record(tx, raw, sendRef{approvalID: "ap-other"})
		rec.Status = status
		if err := j.Insert(ctx, rec); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	journal(0, 1, TxFailed) // refused by the node: it never left
	later := journal(1, 2, TxSent)
	if _, err := e.c.SendRaw(ctx, later.Raw); err != nil {
		t.Fatal(err)
	}
	rec, err := w.Send(ctx, decide(t, eng, ethTransfer(w, e.addrs[1], 3)))
	if err != nil || rec.Nonce != 0 {
		t.Fatalf("%+v %v; want the refused nonce 0", rec, err)
	}
	for _, h := range []string{rec.Hash, later.Hash} {
		if got, err := w.Wait(ctx, h); err != nil || got.Status != TxMined {
			t.Fatalf("%s: %+v %v", h, got, err)
		}
	}
	if n, _ := e.c.Nonce(ctx, w.Address()); n != 2 {
		t.Fatalf("chain nonce %d, want 2", n)
	}
}

// plainJournal hides MemJournal's NonceLocker: a journal a user wrote.
type plainJournal struct{ Journal }

// Over a journal that is not a NonceLocker the wallet locks its nonces in
// the process: concurrent sends still get distinct, contiguous nonces.
func TestConcurrentSendsOverPlainJournal(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	e.mine(t)
	eng, _ := testEngine(t)
	j := plainJournal{NewMemJournal()}
	if _, ok := Journal(j).(NonceLocker); ok {
		t.Fatal("plainJournal is a NonceLocker")
	}
	w := e.wallet(t, 0, WithJournal(j))
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	hashes := make(chan string, n)
	for i := range n {
		ap := decide(t, eng, ethTransfer(w, e.addrs[1], int64(i+1)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := w.Send(ctx, ap)
			if err != nil {
				errs <- err
				return
			}
			hashes <- rec.Hash
		}()
	}
	wg.Wait()
	close(errs)
	close(hashes)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[uint64]bool{}
	for h := range hashes {
		rec, err := w.Wait(ctx, h)
		if err != nil || rec.Status != TxMined || seen[rec.Nonce] {
			t.Fatalf("%+v %v (nonce seen before: %t)", rec, err, seen[rec.Nonce])
		}
		seen[rec.Nonce] = true
	}
	if got, _ := e.c.Nonce(ctx, w.Address()); got != n || len(seen) != n {
		t.Fatalf("chain nonce %d, %d distinct nonces; want %d", got, len(seen), n)
	}
}
