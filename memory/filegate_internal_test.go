package memory

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"gorm.io/gorm"
)

// A commit waits for the readers already in, and readers who come after
// it wait for the commit: the order SQLite's own lock keeps, without its
// sleeps.
func TestFileGateOrder(t *testing.T) {
	g := newFileGate(2)
	ctx := context.Background()
	release, err := g.read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := g.commit(func() error { note("commit"); return nil }); err != nil {
			t.Error(err)
		}
	})
	// Wait until the commit is queued: from then on a reader cannot jump
	// ahead of it, even though one of the two places is free.
	for g.sem.TryAcquire(1) {
		g.sem.Release(1)
	}
	wg.Go(func() {
		r, err := g.read(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		note("reader")
		r()
	})
	note("first reader done")
	release()
	release() // a second release is harmless: rows may be closed twice
	wg.Wait()
	want := []string{"first reader done", "commit", "reader"}
	if len(order) != len(want) || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
		t.Fatalf("order = %v, want %v", order, want)
	}
}

// A reader waiting at the gate gives up when its context ends.
func TestFileGateReaderCancelled(t *testing.T) {
	g := newFileGate(1)
	release, err := g.read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := g.read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("read with a cancelled context = %v, want context.Canceled", err)
	}
}

// The read connections take no transactions (a transaction would hold
// SQLite's lock between statements, outside the gate), and reads and
// writes through the gated connections work as before.
func TestGatedConnections(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.rdb.WithContext(ctx).Transaction(func(*gorm.DB) error { return nil })
	if !errors.Is(err, errReaderTx) {
		t.Fatalf("a transaction on a read connection = %v, want errReaderTx", err)
	}
	if err := s.write(ctx, func(tx *gorm.DB) error {
		return tx.Exec("CREATE TABLE gate_probe (n INTEGER)").Exec("INSERT INTO gate_probe VALUES (1), (2)").Error
	}); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := s.read(ctx).Raw("SELECT n FROM gate_probe ORDER BY n").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[1]["n"] != int64(2) {
		t.Fatalf("read back %v", rows)
	}
}
