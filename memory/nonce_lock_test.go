package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

// replicas opens n more stores on st's database: other processes, as far as
// the database can tell (each has its own connections).
func replicas(t *testing.T, st memtest.Named, n int) []*memory.Store {
	t.Helper()
	out := []*memory.Store{st.Store}
	for range n {
		s, err := memory.Open(context.Background(), st.DSN)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		out = append(out, s)
	}
	return out
}

func locker(t *testing.T, s *memory.Store) evm.NonceLocker {
	t.Helper()
	l, ok := s.Journal().(evm.NonceLocker)
	if !ok {
		t.Fatal("memory.Store's journal is not an evm.NonceLocker")
	}
	return l
}

// reserveNext journals a row at the lowest nonce no open row of from holds,
// under the nonce lock: what a wallet does, less the chain.
func reserveNext(ctx context.Context, l evm.NonceLocker, from, hash string) (uint64, error) {
	var nonce uint64
	err := l.LockNonces(ctx, "1337", from, func(ctx context.Context, j evm.Journal) error {
		open, err := j.Open(ctx, "1337", from)
		if err != nil {
			return err
		}
		used := map[uint64]bool{}
		for _, r := range open {
			used[r.Nonce] = true
		}
		for used[nonce] {
			nonce++
		}
		rec := tx(hash, nonce, "", evm.TxSigned)
		rec.From = from
		return j.Insert(ctx, rec)
	})
	return nonce, err
}

// Many goroutines on several stores sharing one database reserve nonces for
// two senders at once: each sender's nonces come out 0..n-1, each once.
// Without the lock, two reservations read the same open rows and journal
// the same nonce.
func TestLockNoncesSerialisesStores(t *testing.T) {
	const (
		stores  = 4
		workers = 5 // per store and sender
		each    = 4 // reservations per worker
	)
	senders := []string{sender, "0x00000000000000000000000000000000000000B2"}
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan error, stores*workers*each*len(senders))
			for si, s := range replicas(t, st, stores-1) {
				l := locker(t, s)
				for _, from := range senders {
					for w := range workers {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for i := range each {
								hash := fmt.Sprintf("0x%s-%d-%d-%d", from[len(from)-2:], si, w, i)
								if _, err := reserveNext(ctx, l, from, hash); err != nil {
									errs <- err
								}
							}
						}()
					}
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			const n = stores * workers * each
			for _, from := range senders {
				open, err := st.Store.Journal().Open(ctx, "1337", from)
				if err != nil {
					t.Fatal(err)
				}
				if len(open) != n {
					t.Fatalf("%s: %d rows, want %d", from, len(open), n)
				}
				for i, r := range open { // by nonce
					if r.Nonce != uint64(i) {
						t.Fatalf("%s: nonces %v…: %d is taken twice or skipped", from, nonces(open[:i+1]), r.Nonce)
					}
				}
			}
		})
	}
}

func nonces(rs []evm.TxRecord) []uint64 {
	out := make([]uint64, len(rs))
	for i, r := range rs {
		out[i] = r.Nonce
	}
	return out
}

// Inside the lock, the journal is one transaction: a failing fn leaves
// nothing behind, and a refused insert (a reused idempotency key, a hash
// already journaled) is answered with its usual error without spoiling the
// rest of the transaction — PostgreSQL aborts a transaction at its first
// error unless the statement ran under a savepoint.
func TestLockNoncesIsOneTransaction(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			l, j := locker(t, st.Store), st.Store.Journal()
			if err := j.Insert(ctx, tx("0xb0", 0, "paid", evm.TxMined)); err != nil {
				t.Fatal(err)
			}
			boom := errors.New("boom")
			err := l.LockNonces(ctx, "1337", sender, func(ctx context.Context, tj evm.Journal) error {
				if err := tj.Insert(ctx, tx("0xb1", 1, "", evm.TxSigned)); err != nil {
					return err
				}
				if _, ok, err := tj.ByHash(ctx, "1337", "0xb1"); err != nil || !ok {
					return fmt.Errorf("the transaction does not see its own insert: %v %v", ok, err)
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("LockNonces = %v, want fn's error", err)
			}
			if _, ok, _ := j.ByHash(ctx, "1337", "0xb1"); ok {
				t.Fatal("a failed fn's insert was committed")
			}

			err = l.LockNonces(ctx, "1337", sender, func(ctx context.Context, tj evm.Journal) error {
				if err := tj.Insert(ctx, tx("0xb2", 1, "paid", evm.TxSigned)); !errors.Is(err, evm.ErrDuplicateKey) {
					return fmt.Errorf("reused key: %v, want ErrDuplicateKey", err)
				}
				if err := tj.Insert(ctx, tx("0xB0", 1, "", evm.TxSigned)); !errors.Is(err, evm.ErrDuplicateHash) {
					return fmt.Errorf("journaled hash: %v, want ErrDuplicateHash", err)
				}
				stale := tx("0xb0", 0, "paid", evm.TxSigned)
				if err := tj.Update(ctx, stale); err != nil {
					return err
				}
				return tj.Insert(ctx, tx("0xb3", 1, "", evm.TxSigned))
			})
			if err != nil {
				t.Fatal(err)
			}
			open, err := j.Open(ctx, "1337", sender)
			if err != nil || len(open) != 2 || open[0].Hash != "0xb0" || open[1].Hash != "0xb3" {
				t.Fatalf("after the transaction: %+v %v; want 0xb0 set back to signed and 0xb3", open, err)
			}
		})
	}
}

// A lock held past the caller's deadline — by another store on the
// database (another process) or by another goroutine of the same store —
// fails with evm.ErrNonceLockTimeout without calling fn; once it is free,
// the next caller gets it. On PostgreSQL the lock is per sender: another
// sender's reservation does not wait.
func TestLockNoncesTimeout(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			other := replicas(t, st, 1)[1]
			for name, holder := range map[string]*memory.Store{"another store": other, "the same store": st.Store} {
				t.Run(name, func(t *testing.T) {
					held, release := make(chan struct{}), make(chan struct{})
					done := make(chan error, 1)
					go func() {
						done <- locker(t, holder).LockNonces(ctx, "1337", sender, func(context.Context, evm.Journal) error {
							close(held)
							<-release
							return nil
						})
					}()
					<-held
					short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
					called := false
					err := locker(t, st.Store).LockNonces(short, "1337", sender, func(context.Context, evm.Journal) error {
						called = true
						return nil
					})
					cancel()
					if !errors.Is(err, evm.ErrNonceLockTimeout) || called {
						t.Errorf("while another holds the lock: %v (fn called: %t), want ErrNonceLockTimeout and fn not called", err, called)
					}
					if st.Name == "postgres" && name == "another store" {
						short, cancel := context.WithTimeout(ctx, 10*time.Second)
						if _, err := reserveNext(short, locker(t, st.Store), "0x00000000000000000000000000000000000000C3", "0xc3"); err != nil {
							t.Errorf("another sender waited for this sender's lock: %v", err)
						}
						cancel()
					}
					close(release)
					if err := <-done; err != nil {
						t.Fatal(err)
					}
					if _, err := reserveNext(ctx, locker(t, st.Store), sender, "0xafter-"+name); err != nil {
						t.Fatalf("after the holder let go: %v", err)
					}
				})
			}
		})
	}
}
