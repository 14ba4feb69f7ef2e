package evm_test

import (
	"context"
	"errors"
	"math/big"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// sharedWallets opens n stores on one database and a wallet of the same
// account over each: n processes sharing a wallet, as far as the database
// and the chain can tell.
func sharedWallets(t *testing.T, st memtest.Named, key string, n int, opts ...evm.WalletOption) ([]*memory.Store, []*evm.Wallet) {
	t.Helper()
	ctx := context.Background()
	d := devnettest.Shared(t)
	var stores []*memory.Store
	var wallets []*evm.Wallet
	for range n {
		s, err := memory.Open(ctx, st.DSN)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		c, err := evm.NewClient(ctx, d.RPC())
		if err != nil {
			t.Fatal(err)
		}
		signer, err := evm.NewKeySigner(key)
		if err != nil {
			t.Fatal(err)
		}
		w, err := evm.NewWallet(c, signer, append([]evm.WalletOption{evm.WithJournal(s.Journal()), evm.WithPollInterval(10 * time.Millisecond)}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		stores, wallets = append(stores, s), append(wallets, w)
	}
	return stores, wallets
}

// Wallets of one account over separate stores on one database (SQLite and
// PostgreSQL) send concurrently: every send goes out, at distinct and
// contiguous nonces, with none refused for a nonce another took.
func TestSharedJournalSends(t *testing.T) {
	const (
		replicas = 4
		each     = 4
	)
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			d, _, _, eng, _ := devnetWallet(t)
			acct, _ := devnettest.Account(t, d)
			to, _ := devnettest.Account(t, d)
			_, wallets := sharedWallets(t, st, acct.PrivateKey, replicas)
			start, err := wallets[0].Client().Nonce(ctx, acct.Address)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			var got []uint64
			for i, w := range wallets {
				for k := range each {
					in, err := w.TransferIntent(ctx, to.Address, policies.Token{}, big.NewInt(int64(1+i*each+k)))
					if err != nil {
						t.Fatal(err)
					}
					ap := mustDecide(t, eng, in)
					wg.Add(1)
					go func() {
						defer wg.Done()
						rec, err := w.Send(ctx, ap)
						if err == nil {
							rec, err = w.Wait(ctx, rec.Hash)
						}
						if err != nil {
							t.Errorf("send: %v", err)
							return
						}
						mu.Lock()
						got = append(got, rec.Nonce)
						mu.Unlock()
					}()
				}
			}
			wg.Wait()
			sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
			for i, n := range got {
				if n != start+uint64(i) {
					t.Fatalf("nonces %v: not contiguous from %d", got, start)
				}
			}
			if len(got) != replicas*each {
				t.Fatalf("%d of %d sends went out", len(got), replicas*each)
			}
		})
	}
}

// A database whose lock another process holds longer than the wallet's
// nonce lock timeout: the send fails with ErrNonceLockTimeout and signs
// nothing — no journal row, no nonce used, the approval released — and
// goes through once the lock is free.
func TestSharedJournalLockTimeout(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			d, _, _, eng, ledger := devnetWallet(t)
			acct, _ := devnettest.Account(t, d)
			to, _ := devnettest.Account(t, d)
			stores, wallets := sharedWallets(t, st, acct.PrivateKey, 2, evm.WithNonceLockTimeout(300*time.Millisecond))
			w := wallets[0]
			before, _ := ledger.Spent(ctx, "default/1337/native", time.Time{})

			held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			go func() {
				done <- stores[1].Journal().(evm.NonceLocker).LockNonces(ctx, w.JournalChain(), w.Address().Hex(), func(context.Context, evm.Journal) error {
					close(held)
					<-release
					return nil
				})
			}()
			<-held
			in, err := w.TransferIntent(ctx, to.Address, policies.Token{}, big.NewInt(77))
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.Send(ctx, mustDecide(t, eng, in))
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if !errors.Is(err, evm.ErrNonceLockTimeout) || !strings.Contains(err.Error(), "nothing was written or signed") {
				t.Fatalf("send while another process holds the lock: %v", err)
			}
			if s, _ := ledger.Spent(ctx, "default/1337/native", time.Time{}); s.Cmp(before) != 0 {
				t.Fatalf("charged %s, was %s: the approval was not released", s, before)
			}
			if open, err := stores[0].Journal().Open(ctx, w.JournalChain(), w.Address().Hex()); err != nil || len(open) != 0 {
				t.Fatalf("journal after the timeout: %+v %v", open, err)
			}
			if _, ok, _ := stores[0].Journal().MaxNonce(ctx, w.JournalChain(), w.Address().Hex()); ok {
				t.Fatal("a nonce was journaled")
			}
			start, _ := w.Client().Nonce(ctx, w.Address())
			rec, err := w.Send(ctx, mustDecide(t, eng, in))
			if err != nil || rec.Nonce != start {
				t.Fatalf("send after the lock was freed: %+v %v; want nonce %d", rec, err, start)
			}
			if _, err := w.Wait(ctx, rec.Hash); err != nil {
				t.Fatal(err)
			}
		})
	}
}
