package evm_test

import (
	"context"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
)

// A wallet over memory.Store's SQLite journal, restarted: the new process
// continues at the right nonce and an idempotency key used before the
// restart still sends nothing.
func TestRestartWithSQLiteJournal(t *testing.T) {
	ctx := context.Background()
	d, c, _, eng, _ := devnetWallet(t)
	acct, _ := devnettest.Account(t, d)
	to, _ := devnettest.Account(t, d)
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "mandate.db")
	open := func() (*memory.Store, *evm.Wallet) {
		st, err := memory.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		s, err := evm.NewKeySigner(acct.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		w, err := evm.NewWallet(c, s, evm.WithJournal(st.Journal()), evm.WithPollInterval(10*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		return st, w
	}
	transfer := func(w *evm.Wallet, wei int64, key string) policies.Transfer {
		in, err := w.TransferIntent(ctx, to.Address, policies.Token{}, big.NewInt(wei))
		if err != nil {
			t.Fatal(err)
		}
		in.Key = key
		return in
	}

	st, w := open()
	var wg sync.WaitGroup
	for i := range 3 {
		key := ""
		if i == 0 {
			key = "pay-once"
		}
		ap := mustDecide(t, eng, transfer(w, int64(i+1), key))
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := w.Send(ctx, ap)
			if err == nil {
				_, err = w.Wait(ctx, rec.Hash)
			}
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	first, ok, err := st.Journal().ByKey(ctx, w.JournalChain(), w.Address().Hex(), "pay-once")
	if err != nil || !ok || first.Status != evm.TxMined {
		t.Fatalf("%+v %v %v", first, ok, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// The restart.
	st, w = open()
	defer st.Close()
	// A fresh ledger approves the key again; the journal still refuses it.
	fresh := policies.NewEngine(eng.Policy(), policies.NewMemLedger())
	rec, err := w.Send(ctx, mustDecide(t, fresh, transfer(w, 1, "pay-once")))
	if err != nil || rec.Hash != first.Hash {
		t.Fatalf("the key sent again: %+v %v", rec, err)
	}
	rec, err = w.Send(ctx, mustDecide(t, eng, transfer(w, 4, "")))
	if err != nil || rec.Nonce != 3 {
		t.Fatalf("%+v %v", rec, err)
	}
	if rec, err = w.Wait(ctx, rec.Hash); err != nil || rec.Status != evm.TxMined {
		t.Fatalf("%+v %v", rec, err)
	}
	if n, _ := c.Nonce(ctx, w.Address()); n != 4 {
		t.Fatalf("chain nonce %d, want 4", n)
	}
}
