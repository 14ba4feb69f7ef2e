// Package memtest gives tests real memory.Stores: a fresh SQLite database
// in the test's temporary directory, and a fresh PostgreSQL database when
// MANDATE_TEST_POSTGRES names a server, so one suite runs on both backends.
//
//	for _, st := range memtest.Stores(t) {
//		t.Run(st.Name, func(t *testing.T) { ... st.Store.Ledger() ... })
//	}
//
// scripts/postgres.sh starts a suitable local server and prints its DSN:
//
//	MANDATE_TEST_POSTGRES=$(scripts/postgres.sh) go test ./...
package memtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/mandatehq/mandate/memory"
)

// EnvPostgres names the environment variable holding the base PostgreSQL
// DSN, e.g. postgres://mandate:mandate@127.0.0.1:5433/postgres?sslmode=disable.
// Its role needs CREATEDB: every test gets a database of its own.
const EnvPostgres = "MANDATE_TEST_POSTGRES"

// Named is a store and the backend it runs on.
type Named struct {
	Name  string        // "sqlite" or "postgres"
	DSN   string        // opens the same database again (a restart, a replica)
	Store *memory.Store // closed by t.Cleanup
}

// Stores returns a fresh SQLite store and, when MANDATE_TEST_POSTGRES is
// set, a fresh PostgreSQL store. With CI=true an unset MANDATE_TEST_POSTGRES
// fails the test, so CI cannot silently test SQLite alone.
func Stores(t testing.TB, opts ...memory.Option) []Named {
	t.Helper()
	out := []Named{SQLite(t, opts...)}
	if pg, ok := Postgres(t, opts...); ok {
		out = append(out, pg)
	}
	return out
}

// SQLite returns a store on a new SQLite file in t.TempDir().
func SQLite(t testing.TB, opts ...memory.Option) Named {
	t.Helper()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "mandate.db")
	return Named{Name: "sqlite", DSN: dsn, Store: open(t, dsn, opts)}
}

// Postgres returns a store on a new PostgreSQL database, dropped when the
// test ends, and false (after logging why) when MANDATE_TEST_POSTGRES is
// unset outside CI.
func Postgres(t testing.TB, opts ...memory.Option) (Named, bool) {
	t.Helper()
	dsn, ok := PostgresDSN(t)
	if !ok {
		return Named{}, false
	}
	return Named{Name: "postgres", DSN: dsn, Store: open(t, dsn, opts)}, true
}

// PostgresDSN creates an empty PostgreSQL database for the test, registers
// its removal with t.Cleanup and returns its DSN.
func PostgresDSN(t testing.TB) (string, bool) {
	t.Helper()
	base := os.Getenv(EnvPostgres)
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("memtest: CI=true but %s is unset; start PostgreSQL with scripts/postgres.sh and export its DSN", EnvPostgres)
		}
		t.Logf("memtest: PostgreSQL skipped: %s is unset (see scripts/postgres.sh)", EnvPostgres)
		return "", false
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("memtest: %s must be a postgres:// URL", EnvPostgres)
	}
	// A random name keeps parallel tests and packages apart on one server.
	name := "mandate_test_" + strings.ToLower(rand.Text()[:12])
	admin(t, base, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		// FORCE ends connections a failed test left open (PostgreSQL 13+).
		dropDatabase(t, base, name)
	})
	u.Path = "/" + name
	return u.String(), true
}

// dropDatabase drops name. An autovacuum worker in the database cannot be
// ended by a role without pg_signal_backend (scripts/postgres.sh grants it;
// a server set up by hand may not), and it leaves within moments, so the
// drop is tried again a few times before the test fails.
func dropDatabase(t testing.TB, dsn, name string) {
	t.Helper()
	stmt := "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"
	var err error
	for range 20 {
		if err = exec(dsn, stmt); err == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("memtest: %s: %v", stmt, err)
}

// admin runs one statement on the base database.
func admin(t testing.TB, dsn, stmt string) {
	t.Helper()
	if err := exec(dsn, stmt); err != nil {
		t.Fatalf("memtest: %v", err)
	}
}

// exec runs one statement on the base database.
func exec(dsn, stmt string) error {
	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return fmt.Errorf("connect to %s: %w", EnvPostgres, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	defer sqlDB.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := sqlDB.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", stmt, err)
	}
	return nil
}

func open(t testing.TB, dsn string, opts []memory.Option) *memory.Store {
	t.Helper()
	s, err := memory.Open(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatalf("memtest: open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
