package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/glebarez/go-sqlite" // the driver the store uses, for a second connection
)

// A database another process holds locked past the store's wait: the
// transfer fails with one clear line and exit 1 (not bad input), nothing is
// charged, journaled or signed, and once the lock is gone the same command
// goes through.
func TestDatabaseLockedByAnotherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the store's 10 s busy timeout")
	}
	cleanEnv(t)
	path := filepath.Join(t.TempDir(), "m.db")
	t.Setenv("MANDATE_DB", "sqlite:"+path)
	friend := "0x5f37D445AA287390a0795f71bF8633BC3241171C"
	send := []string{"--devnet", "tools", "call", "wallet_transfer", `{"to":"` + friend + `","token":"USDC","amount":"1"}`}
	if code, _, errs := cli(t, "", send...); code != 0 {
		t.Fatalf("first transfer: exit %d: %s", code, errs)
	}
	before := journaled(t, path)

	// Another connection to the file takes its write lock, as another
	// process writing would.
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	code, out, errs := cli(t, "", send...)
	if code != 1 || !strings.Contains(errs, "locked") || !strings.Contains(errs, "nothing was written") || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
		t.Fatalf("transfer with the database locked: exit %d, stdout %q, stderr %q; want exit 1 and one line saying it is locked", code, out, errs)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if got := journaled(t, path); got != before {
		t.Fatalf("%d transactions journaled while the database was locked", got-before)
	}
	if code, _, errs := cli(t, "", send...); code != 0 {
		t.Fatalf("transfer after the lock: exit %d: %s", code, errs)
	}
}

// journaled counts the journal's transactions (and their charges: every
// approval that signs has its row) in the SQLite file at path.
func journaled(t *testing.T, path string) int {
	t.Helper()
	var n int
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow("SELECT COUNT(*) FROM tx_journal").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
