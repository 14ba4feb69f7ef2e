package memory_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

func TestOpenBadDSN(t *testing.T) {
	for _, dsn := range []string{
		"",
		"mandate.db",
		"mysql://u:p@h/db",
		"sqlite:",
		"sqlite:a.db?mode=ro",
		"postgres:",
		"postgres://",
		"postgress://mandate:hunter2@127.0.0.1/db",
	} {
		_, err := memory.Open(context.Background(), dsn)
		if !errors.Is(err, memory.ErrBadDSN) {
			t.Errorf("Open(%q) = %v, want ErrBadDSN", dsn, err)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "a database must be sqlite:PATH or a postgres:// URL; got ") || strings.Contains(msg, "\n") {
			t.Errorf("Open(%q) error %q is not the one-line MANDATE_DB message", dsn, msg)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("Open(%q) error leaks the password: %q", dsn, msg)
		}
	}
}

func TestOpenSQLiteCreatesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "mandate.db")
	for _, dsn := range []string{"sqlite:" + path, "sqlite://" + path} {
		s, err := memory.Open(context.Background(), dsn)
		if err != nil {
			t.Fatalf("Open(%q): %v", dsn, err)
		}
		if s.Backend() != "sqlite" {
			t.Errorf("Backend = %q", s.Backend())
		}
		s.Close()
		s.Close() // twice is fine
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("database file mode = %v, want 0600", fi.Mode().Perm())
	}
}

func TestOpenInMemory(t *testing.T) {
	ctx := context.Background()
	s, err := memory.Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := s.Ledger()
	if err := l.Commit(ctx, approve("m", day, spend("ETH", 3)), []policies.Limit{daily("ETH", 3)}); err != nil {
		t.Fatal(err)
	}
	wantSpent(t, l, "ETH", day.Add(-24*3600e9), big.NewInt(3))
}

// Everything survives closing the store and opening it again.
func TestRestart(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			l := st.Store.Ledger()
			lim := []policies.Limit{daily("ETH", 10)}
			e := approve("before", day, spend("ETH", 6))
			e.Key = "restart-key"
			if err := l.Commit(ctx, e, lim); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(ctx, approve("released", day, spend("ETH", 4)), lim); err != nil {
				t.Fatal(err)
			}
			if err := l.Release(ctx, "released", "tx never left"); err != nil {
				t.Fatal(err)
			}
			if err := st.Store.Journal().Insert(ctx, tx("0xfeed", 3, "jk", evm.TxSent)); err != nil {
				t.Fatal(err)
			}
			if err := st.Store.Close(); err != nil {
				t.Fatal(err)
			}

			s, err := memory.Open(ctx, st.DSN)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s.Close()
			l = s.Ledger()
			wantSpent(t, l, "ETH", daily("ETH", 0).Since, big.NewInt(6))
			var le *policies.LimitError
			if err := l.Commit(ctx, approve("after", day, spend("ETH", 5)), lim); !errors.As(err, &le) {
				t.Errorf("limit forgot the spend: %v", err)
			}
			dup := approve("after-dup", day, spend("ETH", 1))
			dup.Key = "restart-key"
			var de *policies.DuplicateError
			if err := l.Commit(ctx, dup, lim); !errors.As(err, &de) || de.ApprovalID != "before" {
				t.Errorf("key forgotten: %v", err)
			}
			if got, ok, err := s.Journal().ByKey(ctx, "1337", sender, "jk"); err != nil || !ok || got.Hash != "0xfeed" || got.Status != evm.TxSent {
				t.Errorf("journal after restart: %+v, %v, %v", got, ok, err)
			}
			if n, ok, _ := s.Journal().MaxNonce(ctx, "1337", sender); !ok || n != 3 {
				t.Errorf("MaxNonce after restart = %d, %v", n, ok)
			}
		})
	}
}

// WithLogger reports failures without the statement's arguments, and
// expected outcomes (duplicates, limits) not at all.
func TestLoggerQuietAndArgumentFree(t *testing.T) {
	var buf bytes.Buffer
	st := memtest.SQLite(t, memory.WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	ctx := context.Background()
	l := st.Store.Ledger()
	e := approve("secret-approval-id", day, spend("ETH", 1))
	e.Key = "secret-key"
	if err := l.Commit(ctx, e, nil); err != nil {
		t.Fatal(err)
	}
	e.ApprovalID = "other"
	var de *policies.DuplicateError
	if err := l.Commit(ctx, e, nil); !errors.As(err, &de) {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, approve("secret-approval-id", day), nil); !errors.Is(err, memory.ErrDuplicateApproval) {
		t.Fatal(err)
	}
	if err := st.Store.Journal().Insert(ctx, tx("0xsecret", 1, "", evm.TxSent)); err != nil {
		t.Fatal(err)
	}
	if err := st.Store.Journal().Insert(ctx, tx("0xsecret", 1, "", evm.TxSent)); !errors.Is(err, memory.ErrDuplicateTx) {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Errorf("expected outcomes were logged:\n%s", buf.String())
	}
	// A real failure is logged, as SQL without arguments.
	ctxc, cancel := context.WithCancel(ctx)
	cancel()
	_ = l.Commit(ctxc, approve("secret-cancelled", day), nil)
	st.Store.Close()
	_, _ = l.Spent(ctx, "secret-bucket", day)
	if !strings.Contains(buf.String(), "database statement failed") {
		t.Errorf("a query on a closed store was not logged:\n%s", buf.String())
	}
	t.Logf("log:\n%s", buf.String())
	if strings.Contains(buf.String(), "secret") {
		t.Errorf("log holds statement arguments:\n%s", buf.String())
	}
}
