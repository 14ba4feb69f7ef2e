package memory_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/glebarez/go-sqlite" // a second connection, as another program's

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

// A SQLite store keeps a rollback journal: after writes there is no WAL
// index (-shm), the shared mapping that a file system refusing writes turns
// into SIGBUS, which kills a Go process. A database an older build left in
// WAL mode is switched on open, once no other connection holds it; while
// one does, Open says the database is locked.
func TestSQLiteMapsNoFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "m.db")
	wal, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wal.Exec("CREATE TABLE older (x)"); err != nil {
		t.Fatal(err)
	}
	if _, err := memory.Open(ctx, "sqlite:"+path); !errors.Is(err, memory.ErrBusy) {
		t.Fatalf("Open while another connection holds the WAL database: %v, want ErrBusy", err)
	}
	wal.Close()

	s, err := memory.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Chats().Remember(ctx, "c", "k", "v"); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-shm", "-wal"} {
		if _, err := os.Stat(path + suffix); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists after a write (%v): the database is in WAL mode", suffix, err)
		}
	}
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var mode string
	if err := other.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode == "wal" {
		t.Fatalf("journal mode %q (%v), want a rollback journal", mode, err)
	}
}

// A database file this process may not write is ErrReadOnly at Open, with
// nothing written; a path that cannot be a file is a bad DSN.
func TestOpenFaults(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if _, err := memory.Open(ctx, "sqlite:"+dir); !errors.Is(err, memory.ErrBadDSN) {
		t.Errorf("Open of a directory: %v, want ErrBadDSN", err)
	}
	if os.Geteuid() == 0 {
		t.Skip("file permissions do not bind root; cmd/mandate's TestInfrastructureFailures runs a process they bind")
	}
	path := filepath.Join(dir, "ro.db")
	s, err := memory.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(path, 0o400); err != nil {
		t.Fatal(err)
	}
	_, err = memory.Open(ctx, "sqlite:"+path)
	if !errors.Is(err, memory.ErrReadOnly) || memory.Fault(err) != memory.ErrReadOnly {
		t.Fatalf("Open of a read-only file: %v, want ErrReadOnly", err)
	}
	if f, _ := memory.Examine("sqlite:"+path, err); f != memory.ErrReadOnly {
		t.Fatalf("Examine: %v, want ErrReadOnly", f)
	}
}

// A PostgreSQL server that refuses the connection is ErrUnreachable, and a
// refused login a bad DSN; neither message shows the password.
func TestOpenPostgresFaults(t *testing.T) {
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = memory.Open(ctx, "postgres://mandate:hunter2@"+addr+"/mandate?sslmode=disable")
	if !errors.Is(err, memory.ErrUnreachable) || memory.Fault(err) != memory.ErrUnreachable || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Open of a server that is down: %v, want ErrUnreachable without the password", err)
	}

	dsn, ok := memtest.PostgresDSN(t)
	if !ok {
		t.Skip("no PostgreSQL")
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "hunter2-wrong")
	_, err = memory.Open(ctx, u.String())
	if !errors.Is(err, memory.ErrBadDSN) || memory.Fault(err) != nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("Open with a wrong password: %v, want ErrBadDSN and no fault, without the password", err)
	}
}

// Fault tells a database's failures from everything else, whoever wrapped
// them, and takes a bare network error for nobody's: the caller also
// talks to other servers.
func TestFault(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{nil, nil},
		{errors.New("something else"), nil},
		{context.Canceled, nil},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, nil},
		{pgErr("25006"), memory.ErrReadOnly},
		{pgErr("53100"), memory.ErrFull},
		{pgErr("08006"), memory.ErrUnreachable},
		{pgErr("57P01"), memory.ErrUnreachable},
		{pgErr("55P03"), memory.ErrBusy},
		{pgErr("23505"), nil},
		{wrapped{pgErr("25006")}, memory.ErrReadOnly},
		{wrapped{memory.ErrFull}, memory.ErrFull},
	} {
		if got := memory.Fault(tc.err); got != tc.want {
			t.Errorf("Fault(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// pgErr is an error carrying a SQLSTATE, as pgconn.PgError does.
type pgErr string

func (e pgErr) Error() string    { return "ERROR: (SQLSTATE " + string(e) + ")" }
func (e pgErr) SQLState() string { return string(e) }

type wrapped struct{ err error }

func (w wrapped) Error() string { return "policies: commit: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }
