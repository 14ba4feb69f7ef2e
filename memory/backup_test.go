package memory_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

// A backup taken while another store writes the same file is a whole
// database: its audit chain verifies, and it holds a prefix of the writes.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	st := memtest.SQLite(t)
	writer, err := memory.Open(ctx, st.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			if err := writer.Ledger().Commit(ctx, approve(fmt.Sprintf("w%d", i), day, spend("ETH", 1)), nil); err != nil {
				t.Error(err)
				return
			}
		}
	})
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := st.Store.Backup(ctx, path); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := st.Store.Backup(ctx, path); err == nil {
		t.Fatal("a backup overwrote an existing file")
	}
	b, err := memory.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rep, err := b.VerifyAudit(ctx)
	if err != nil || rep.Broken != nil {
		t.Fatalf("the backup's audit: %+v %v", rep.Broken, err)
	}
	if rep.Decisions > 200 {
		t.Fatalf("the backup holds %d decisions, more than were written", rep.Decisions)
	}
	if pg, ok := memtest.Postgres(t); ok {
		if err := pg.Store.Backup(ctx, filepath.Join(t.TempDir(), "pg.db")); !errors.Is(err, memory.ErrBackupPostgres) {
			t.Fatalf("backup on PostgreSQL: %v", err)
		}
	}
}
