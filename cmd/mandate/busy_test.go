package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/glebarez/go-sqlite" // the driver the store uses, for a second connection
)

// A database another process holds locked past the store's wait: the
// transfer fails with one clear line and exit 1 (not bad input) besides the
// line giving the idempotency key the CLI made, nothing is charged,
// journaled or signed, and once the lock is gone the same call rerun with
// that key goes through.
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
	m := keyLine.FindStringSubmatch(errs)
	lines := strings.Split(strings.TrimSpace(keyLine.ReplaceAllString(errs, "")), "\n")
	if code != 1 || m == nil || len(lines) != 1 || !strings.HasPrefix(lines[0], "mandate: the database at "+path+" is locked") ||
		!strings.Contains(lines[0], "nothing was written") || !strings.Contains(lines[0], `"idempotency_key":"`+m[1]+`"`) {
		t.Fatalf("transfer with the database locked: exit %d, stdout %q, stderr %q; want exit 1, the key's line and one line saying the database is locked, nothing was written, and the key to retry with", code, out, errs)
	}
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if got := journaled(t, path); got != before {
		t.Fatalf("%d transactions journaled while the database was locked", got-before)
	}
	retry := append(send[:len(send)-1:len(send)-1], `{"to":"`+friend+`","token":"USDC","amount":"1","idempotency_key":"`+m[1]+`"}`)
	if code, _, errs := cli(t, "", retry...); code != 0 || keyLine.MatchString(errs) {
		t.Fatalf("transfer after the lock, with the key: exit %d: %s", code, errs)
	}
	if got := journaled(t, path); got != before+1 {
		t.Fatalf("%d transactions journaled by the retry, want 1", got-before)
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

// keyLine is the line in which the CLI gives the idempotency key it made.
var keyLine = regexp.MustCompile(`(?m)^mandate: idempotency key (cli-[0-9a-f]+); to retry this exact call safely, rerun it with "idempotency_key":"cli-[0-9a-f]+"\n?`)
