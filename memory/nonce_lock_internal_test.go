package memory

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/evm"
)

// A nonce reservation with a deadline shortens the SQLite writer's busy
// timeout for its own wait only: after it, timed out or not, the store's
// other writes wait as long as before for another process's write lock.
func TestLockNoncesRestoresBusyTimeout(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	busy := func() int64 {
		t.Helper()
		var ms int64
		if err := s.db.Raw("PRAGMA busy_timeout").Scan(&ms).Error; err != nil {
			t.Fatal(err)
		}
		return ms
	}
	want := busy()
	if want < 1000 {
		t.Fatalf("the store's busy timeout is %d ms", want)
	}
	j := s.Journal().(evm.NonceLocker)
	noop := func(context.Context, evm.Journal) error { return nil }

	short, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = j.LockNonces(short, "1337", "0xA", noop)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	if got := busy(); got != want {
		t.Fatalf("busy timeout after a reservation: %d ms, want %d", got, want)
	}

	held, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- other.Journal().(evm.NonceLocker).LockNonces(ctx, "1337", "0xA", func(context.Context, evm.Journal) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	short, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
	err = j.LockNonces(short, "1337", "0xA", noop)
	cancel()
	close(release)
	if !errors.Is(err, evm.ErrNonceLockTimeout) {
		t.Fatalf("LockNonces while another store holds the write lock: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := busy(); got != want {
		t.Fatalf("busy timeout after a timed-out reservation: %d ms, want %d", got, want)
	}
}

func TestNonceLockKey(t *testing.T) {
	k := nonceLockKey("1337", "0xAbC")
	if k != nonceLockKey("1337", "0xabc") {
		t.Error("the key depends on the address's letter case")
	}
	if k == nonceLockKey("1", "0xabc") || k == nonceLockKey("1337", "0xabd") || k == nonceLockKey("13", "370xabc") {
		t.Error("distinct senders share a key")
	}
}
