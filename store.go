package mandate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mandatehq/mandate/memory"
)

// openStore opens the database. Without one configured: on the devnet
// this process started, a new database in a temporary directory, removed
// at Close — the devnet is a new chain every time, and its ledger, journal
// and orders belong to that chain alone; elsewhere the user's default
// database. With KeepChats, a devnet run's conversations live in a
// database of their own that outlasts the chain (ChatDB, or one per
// working directory, so two checkouts do not share one).
func (rt *Runtime) openStore(ctx context.Context) error {
	dsn := rt.cfg.DB
	if dsn == "" && (rt.dev != nil || rt.sol.dev != nil) {
		dir, err := os.MkdirTemp("", "mandate-devnet-")
		if err != nil {
			return fmt.Errorf("mandate: a directory for the devnet's database: %w", err)
		}
		rt.closers = append(rt.closers, func() { _ = os.RemoveAll(dir) })
		dsn = "sqlite:" + filepath.Join(dir, "mandate.db")
	}
	if dsn == "" {
		var err error
		if dsn, err = defaultDB(); err != nil {
			return err
		}
	}
	s, err := rt.openDB(ctx, "db", dsn)
	if err != nil {
		return err
	}
	rt.store, rt.chats = s, s
	if rt.dev == nil || rt.cfg.DB != "" || !rt.cfg.KeepChats {
		// A Solana devnet's conversations are not kept apart: a chat that
		// speaks of its accounts needs the same runtime again.
		return nil
	}
	chatDSN := rt.cfg.ChatDB
	if chatDSN == "" {
		if chatDSN, err = DevnetChatDB(); err != nil {
			return err
		}
	}
	if rt.chats, err = rt.openDB(ctx, "chat_db", chatDSN); err != nil {
		return err
	}
	rt.notify("devnet: a new chain (genesis %s) with an empty ledger and order book; the conversation continues from %s",
		rt.client.Genesis().Hex(), memory.Location(chatDSN))
	return nil
}

func (rt *Runtime) openDB(ctx context.Context, field, dsn string) (*memory.Store, error) {
	s, err := memory.Open(ctx, dsn)
	if errors.Is(err, memory.ErrBadDSN) {
		return nil, configErr(field, err)
	}
	if err != nil {
		return nil, &StoreError{DSN: dsn, Err: err}
	}
	if field == "db" {
		rt.dsn = dsn
	}
	rt.closers = append(rt.closers, func() { _ = s.Close() })
	return s, nil
}

// defaultDB is the user's default database.
func defaultDB() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", configErrf("db", "no home directory for the default database (%v); configure one", err)
	}
	return "sqlite:" + filepath.Join(dir, "mandate", "mandate.db"), nil
}

// DevnetChatDB is where a devnet run with KeepChats and no ChatDB keeps its
// conversations: one SQLite file per working directory under the user's
// configuration directory.
func DevnetChatDB() (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", configErrf("chat_db", "no home directory for the devnet's conversations (%v); configure one", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("mandate: the working directory: %w", err)
	}
	sum := sha256.Sum256([]byte(wd))
	return "sqlite:" + filepath.Join(base, "mandate", "devnet", hex.EncodeToString(sum[:6]), "chats.db"), nil
}

// StoreError is a database that was configured right but could not be
// opened (locked, read-only, full, unreachable, a newer schema): DSN says
// which, for a message that names it.
type StoreError struct {
	DSN string
	Err error
}

func (e *StoreError) Error() string { return e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// DSN is the database the runtime keeps its ledger, journal and orders in.
func (rt *Runtime) DSN() string { return rt.dsn }

// OpenStore opens the configured database (Config.DB, or the user's
// default one) without the rest of a runtime: for commands that only read
// it, such as the audit. The devnet's database lives only while its
// runtime runs, so Config.Devnet without DB is refused.
func OpenStore(ctx context.Context, cfg Config) (*memory.Store, error) {
	if cfg.DB == "" && (cfg.Devnet || cfg.SolanaDevnet) {
		return nil, configErrf("db", "the devnet's database lives only while its runtime runs; name a database to read")
	}
	dsn := cfg.DB
	if dsn == "" {
		var err error
		if dsn, err = defaultDB(); err != nil {
			return nil, err
		}
	}
	rt := &Runtime{cfg: cfg}
	return rt.openDB(ctx, "db", dsn)
}
