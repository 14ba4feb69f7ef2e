package memory

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Errors callers branch on with errors.Is.
var (
	// ErrNotFound: the approval (Release) or transaction (Journal.Update)
	// does not exist.
	ErrNotFound = errors.New("memory: not found")
	// ErrInvalid: the caller passed something the store refuses to record,
	// such as a negative amount or a commit without an approval ID.
	ErrInvalid = errors.New("memory: invalid argument")
	// ErrDuplicateApproval: an approval with this ID was already committed.
	ErrDuplicateApproval = errors.New("memory: approval already committed")
	// ErrBusy: another connection (often another process) held the
	// database's write lock for longer than the store waits for it. Nothing
	// of the write was done; trying again later is safe.
	ErrBusy = errors.New("memory: the database is locked by another connection")
)

// Store is a database holding Mandate's durable state. It is safe for
// concurrent use, and several Stores (processes, replicas) may share one
// database.
type Store struct {
	backend backend
	// db runs every write. On SQLite it is one connection whose
	// transactions begin IMMEDIATE, so writers queue here (in-process) and on
	// the file's write lock (across processes) instead of failing with
	// SQLITE_BUSY halfway through a transaction.
	db *gorm.DB
	// rdb runs reads that need no transaction. On SQLite it is a pool of
	// query-only connections, which read while a write transaction is open
	// (they wait only while its commit writes the file); elsewhere it is
	// db.
	rdb *gorm.DB
	log *slog.Logger

	closeOnce sync.Once
	closeErr  error
	obs       atomic.Pointer[Observer]
	group     *committer // nil: each write commits alone (WithoutGroupCommit)
	heads     heads      // the audit chains' heads as last written (audit.go)
}

// Option configures Open.
type Option func(*options)

type options struct {
	logger   *slog.Logger
	maxConns int
	slow     time.Duration
	single   bool
}

// WithoutGroupCommit has every write commit alone, as before group commit
// (see group.go): for measuring what group commit changes.
func WithoutGroupCommit() Option { return func(o *options) { o.single = true } }

// WithLogger routes the database layer's warnings (failed and slow queries)
// to l at warn level. Statements are logged without their arguments, so
// nothing a caller stored can leak into the log. Without it the store is
// silent: errors are returned, not logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithMaxOpenConns bounds the connection pool: PostgreSQL connections
// (default 10, well under the server's default max_connections of 100 so
// that several replicas fit), or SQLite read connections (default 4). The
// SQLite writer is always a single connection.
func WithMaxOpenConns(n int) Option { return func(o *options) { o.maxConns = n } }

// WithSlowQuery sets the duration above which a query is logged as slow
// (default 1s). It only matters with WithLogger.
func WithSlowQuery(d time.Duration) Option { return func(o *options) { o.slow = d } }

// Open connects to the database named by dsn and migrates its schema.
//
// dsn is "sqlite:PATH" (the file and its parent directory are created; use
// "sqlite::memory:" for a private in-memory database) or a "postgres://" /
// "postgresql://" URL. A SQLite database keeps a rollback journal with
// synchronous=FULL (a committed spend or journal record survives power loss),
// foreign keys on and a 10 s busy timeout for other processes' writes.
//
// An error wraps ErrBadDSN when dsn cannot name a database, and ErrBusy,
// ErrReadOnly, ErrFull, ErrIO or ErrUnreachable when the database is there
// but cannot be used as it is (see Fault).
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{slow: time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	t, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	s := &Store{backend: t.backend, log: o.logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	cfg := func() *gorm.Config {
		return &gorm.Config{
			Logger:                 newGormLogger(o.logger, o.slow),
			SkipDefaultTransaction: true, // every multi-statement write runs in an explicit transaction
			TranslateError:         true, // unique violations surface as gorm.ErrDuplicatedKey on both backends
			NowFunc:                func() time.Time { return time.Now().UTC() },
		}
	}
	switch t.backend {
	case backendSQLite:
		err = s.openSQLite(ctx, t.path, o, cfg)
	case backendPostgres:
		err = s.openPostgres(ctx, t.url, o, cfg)
	}
	if err != nil {
		s.Close()
		return nil, classify(err)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, classify(err)
	}
	if !o.single {
		s.startGroupCommit()
	}
	return s, nil
}

func (s *Store) openSQLite(ctx context.Context, path string, o options, cfg func() *gorm.Config) error {
	inMemory := path == memoryPath
	if !inMemory {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("%w: create the database's directory: %w", fileFault(err), err)
		}
		// Create the file owner-only before SQLite does it with the umask:
		// the audit holds what the agent did with whose money.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("%w: open the database file: %w", fileFault(err), err)
		}
		f.Close()
	}

	// Pragmas are per connection, so they go in the DSN, which the driver
	// applies to each connection it opens. The driver ignores _txlock when
	// _time_format is present, so the latter is never set; times are stored
	// as integer nanoseconds anyway.
	//
	// The journal is a rollback journal, not WAL, so that no file of the
	// database is ever mapped into memory. WAL's index (the -shm file) is
	// shared memory: when the file system stops taking writes to it (made
	// read-only or immutable under a running process, remounted read-only
	// after an error), the kernel answers the next store to a mapped page
	// with SIGBUS, which kills a Go process outright: a transfer that was
	// sent and recorded ended in a crash in the checkpoint on close. With
	// a rollback journal every write is a write(2), and the same failures
	// come back as errors (ErrReadOnly, ErrFull, ErrIO). The cost: readers
	// wait while a commit writes the file, and a commit syncs twice.
	// PERSIST keeps the journal file between transactions, so a directory
	// that turns read-only does not stop the next one; the size limit
	// trims what a large transaction (a migration) left in it.
	w := url.Values{}
	w.Add("_pragma", "busy_timeout(10000)")
	w.Add("_pragma", "foreign_keys(1)")
	if !inMemory {
		w.Add("_pragma", "journal_mode(PERSIST)")
		w.Add("_pragma", "journal_size_limit(1048576)")
	}
	w.Add("_pragma", "synchronous(FULL)")
	// A group commit runs each write under a savepoint, whose sub-journal
	// is a temporary file unless temporary storage is in memory.
	w.Add("_pragma", "temp_store(2)")
	w.Set("_txlock", "immediate")
	readers := o.maxConns
	if readers <= 0 {
		readers = 4
	}
	gate := newFileGate(readers)
	db, err := openGated(path+"?"+w.Encode(), gate, true, cfg())
	if err != nil {
		return fmt.Errorf("memory: open sqlite %s: %w", path, err)
	}
	s.db = db
	sqlDB, err := db.DB()
	if err != nil {
		return fmt.Errorf("memory: open sqlite %s: %w", path, err)
	}
	// One writer connection, never recycled: a ":memory:" database lives
	// and dies with its connection.
	sqlDB.SetMaxOpenConns(1)
	sqlDB.SetMaxIdleConns(1)
	sqlDB.SetConnMaxLifetime(0)
	sqlDB.SetConnMaxIdleTime(0)
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("memory: open sqlite %s: %w", path, err)
	}
	if inMemory {
		s.rdb = db // a second connection would see a different, empty database
		return nil
	}

	r := url.Values{}
	r.Add("_pragma", "busy_timeout(10000)")
	r.Add("_pragma", "foreign_keys(1)")
	r.Add("_pragma", "query_only(1)")
	rdb, err := openGated(path+"?"+r.Encode(), gate, false, cfg())
	if err != nil {
		return fmt.Errorf("memory: open sqlite %s for reading: %w", path, err)
	}
	s.rdb = rdb
	rsql, err := rdb.DB()
	if err != nil {
		return fmt.Errorf("memory: open sqlite %s for reading: %w", path, err)
	}
	rsql.SetMaxOpenConns(readers) // no more readers than the gate lets in at once
	rsql.SetMaxIdleConns(readers)
	return nil
}

// sqliteDriver is the driver registered under the name gorm's dialector
// uses, with whatever functions are registered on it.
var sqliteDriver = func() driver.Driver {
	db, _ := sql.Open(sqlite.DriverName, "") // connects to nothing
	defer db.Close()
	return db.Driver()
}()

// openGated opens the SQLite database dsn names with connections that pass
// gate (see fileGate): the writer's commits when writer is set, else every
// statement.
func openGated(dsn string, gate *fileGate, writer bool, cfg *gorm.Config) (*gorm.DB, error) {
	c := gatedConnector{dsn: dsn, drv: sqliteDriver, gate: gate, writer: writer}
	return gorm.Open(&sqlite.Dialector{DSN: dsn, Conn: sql.OpenDB(c)}, cfg)
}

func (s *Store) openPostgres(ctx context.Context, dsn string, o options, cfg func() *gorm.Config) error {
	db, err := gorm.Open(postgres.Open(dsn), cfg())
	if err != nil {
		return connectError(err)
	}
	s.db, s.rdb = db, db
	sqlDB, err := db.DB()
	if err != nil {
		return connectError(err)
	}
	n := o.maxConns
	if n <= 0 {
		n = 10
	}
	sqlDB.SetMaxOpenConns(n)
	sqlDB.SetMaxIdleConns(n)
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	if err := sqlDB.PingContext(ctx); err != nil {
		return connectError(err)
	}
	return nil
}

// connectError says why the PostgreSQL server was not usable. A refused
// login or a database that does not exist is the DSN's fault (ErrBadDSN);
// anything else that kept the connection from working is the server's
// (ErrUnreachable unless it said more). pgx's connect errors name host,
// user and database, never the password.
func connectError(err error) error {
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) && (strings.HasPrefix(pg.SQLState(), "28") || pg.SQLState() == "3D000") {
		return fmt.Errorf("memory: open postgres: %w (%w)", err, ErrBadDSN)
	}
	if f := Fault(err); f == nil && connFault(err) == nil {
		return fmt.Errorf("memory: open postgres: %w: %w", ErrUnreachable, err)
	}
	return fmt.Errorf("memory: open postgres: %w", err)
}

// Backend names the database in use: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.backend.String() }

// Close closes the database connections. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.group != nil {
			close(s.group.quit)
		}
		var errs []error
		if s.rdb != nil && s.rdb != s.db {
			if d, err := s.rdb.DB(); err == nil {
				errs = append(errs, d.Close())
			}
		}
		if s.db != nil {
			if d, err := s.db.DB(); err == nil {
				errs = append(errs, d.Close())
			}
		}
		s.closeErr = classify(errors.Join(errs...))
	})
	return s.closeErr
}

// write runs fn in one write transaction: BEGIN IMMEDIATE on SQLite, a
// READ COMMITTED transaction on PostgreSQL, shared under a savepoint of its
// own with the writes that arrived together (group.go); or, when ctx
// carries a transaction of this store (see within), under a savepoint
// inside it, so that what fn writes commits or rolls back with that
// transaction.
//
// PostgreSQL's isolation is set explicitly, not left to the server's
// default: under REPEATABLE READ the snapshot would be taken before the
// advisory lock is granted, and a commit would not see the spends of the one
// it waited for.
//
// A write that gave up waiting for the lock returns an error wrapping
// ErrBusy, so a caller can say so instead of reporting the driver's code.
func (s *Store) write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if tx := s.ambient(ctx); tx != nil {
		return savepoint(ctx, tx, fn)
	}
	if s.group != nil {
		return s.againAlone(ctx, fn, s.group.submit(ctx, fn))
	}
	start := time.Now()
	err := s.writeTx(ctx, fn)
	if err == nil {
		s.committed(start, 1)
	}
	return err
}

// writeTx runs fn in a transaction of its own (see write).
func (s *Store) writeTx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	pg := s.backend == backendPostgres
	tracked := func(tx *gorm.DB) error {
		track(tx, pg)
		return fn(tx)
	}
	var err error
	if pg {
		err = s.db.WithContext(ctx).Transaction(tracked, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	} else {
		err = s.db.WithContext(ctx).Transaction(tracked)
	}
	if err != nil && !errors.Is(err, ErrBusy) && isLockTimeout(err) {
		return fmt.Errorf("%w (%w); nothing was written", ErrBusy, err)
	}
	return err
}

// read returns the handle for reads outside a transaction, or the
// transaction ctx carries (see within): a read there sees what the
// transaction wrote so far, and on SQLite it must not wait on a second
// connection while this one holds the write lock.
func (s *Store) read(ctx context.Context) *gorm.DB {
	if tx := s.ambient(ctx); tx != nil {
		return fresh(ctx, tx)
	}
	return s.rdb.WithContext(ctx)
}

// txKey is the context key of a store's open transaction.
type txKey struct{}

type openTx struct {
	s  *Store
	tx *gorm.DB
}

// Atomically runs fn in one write transaction of s: every write of s that
// fn makes with the context it is given joins it (under a savepoint), so
// they commit together, once, or not at all.
func (s *Store) Atomically(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.write(ctx, func(tx *gorm.DB) error { return fn(s.within(ctx, tx)) })
}

// within returns ctx carrying tx, an open transaction of s: every write
// and read of s made with that context (the ledger's commit, a decision
// record, the journal) joins it. This is how the charge of an approval, its
// decision record and the journal row of the transaction it signs commit
// together (Journal().LockNonces passes such a context to its callback):
// the packages that write them know nothing of each other's tables.
func (s *Store) within(ctx context.Context, tx *gorm.DB) context.Context {
	if g := groupOf(tx.Statement.Context); g != nil { // the writes that join it try their locks too
		ctx = context.WithValue(ctx, groupedKey{}, g)
	}
	return context.WithValue(ctx, txKey{}, openTx{s: s, tx: tx})
}

// ambient is the transaction of s that ctx carries, or nil. A transaction of
// another store (another database) is not joined.
func (s *Store) ambient(ctx context.Context) *gorm.DB {
	if o, ok := ctx.Value(txKey{}).(openTx); ok && o.s == s {
		return o.tx
	}
	return nil
}
