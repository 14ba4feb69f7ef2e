package memory

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"
)

// fileGate stands in, inside one process, for SQLite's lock on the
// database file between the store's read connections and its writer.
//
// With a rollback journal a commit needs the file to itself: it waits for
// every reader's statement to finish, and readers wait while it writes
// the file. SQLite makes both sides wait by sleeping and trying again
// (busy_timeout), 1, 2, 5, 10, 15, 20, 25 ... 100 ms, however soon the
// other side is done: under a steady stream of decisions that backoff,
// not the work, made the latency's tail, and it put the committer (the
// one writer everyone waits on) to sleep. Inside the process the same
// exclusion is had with a semaphore, and whoever waits is woken the moment
// the other side is done. Other processes on the same file still meet
// SQLite's lock and its busy timeout, which stays the authority: the gate
// only orders this process's own connections so they seldom meet it.
type fileGate struct {
	sem   *semaphore.Weighted
	width int64 // how many statements may read at once: the read pool's size
}

// gateWait bounds how long a commit waits for this process's readers
// before it goes ahead and lets SQLite's busy timeout decide, so a reader
// that never closes its rows costs time, not a deadlock.
const gateWait = 10 * time.Second

func newFileGate(readers int) *fileGate {
	return &fileGate{sem: semaphore.NewWeighted(int64(readers)), width: int64(readers)}
}

// read holds the gate for one statement. It waits behind a commit that
// asked first: the semaphore is first come, first served, so readers
// cannot starve the writer.
func (g *fileGate) read(ctx context.Context) (release func(), err error) {
	if err := g.sem.Acquire(ctx, 1); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { g.sem.Release(1) }) }, nil
}

// commit runs fn (a COMMIT) with the file to itself, as far as this
// process's readers go.
func (g *fileGate) commit(fn func() error) error {
	ctx, cancel := context.WithTimeout(context.Background(), gateWait)
	defer cancel()
	if err := g.sem.Acquire(ctx, g.width); err != nil {
		return fn()
	}
	defer g.sem.Release(g.width)
	return fn()
}

// gatedConnector opens connections whose statements (readers) or commits
// (the writer) pass the gate.
type gatedConnector struct {
	dsn    string
	drv    driver.Driver
	gate   *fileGate
	writer bool
}

func (c gatedConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	inner, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, errors.New("memory: the SQLite driver's connection lacks the context methods the store needs")
	}
	if c.writer {
		return writerConn{inner, c.gate}, nil
	}
	return readerConn{inner, c.gate}, nil
}

func (c gatedConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is what the SQLite driver's connection provides and the
// gated connections pass on.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
}

// writerConn passes the writer's commits through the gate; everything
// else goes straight to SQLite.
type writerConn struct {
	sqliteConn
	gate *fileGate
}

func (c writerConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c writerConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.sqliteConn.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return gatedTx{tx, c.gate}, nil
}

type gatedTx struct {
	driver.Tx
	gate *fileGate
}

func (t gatedTx) Commit() error { return t.gate.commit(t.Tx.Commit) }

// readerConn holds the gate while one of its statements runs, until its
// rows are closed. It takes no transactions: a reader's transaction would
// keep SQLite's shared lock between statements, outside the gate, and the
// store never opens one on its read connections.
type readerConn struct {
	sqliteConn
	gate *fileGate
}

var errReaderTx = errors.New("memory: read connections take no transactions")

func (c readerConn) Begin() (driver.Tx, error) { return nil, errReaderTx }

func (c readerConn) BeginTx(context.Context, driver.TxOptions) (driver.Tx, error) {
	return nil, errReaderTx
}

func (c readerConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	release, err := c.gate.read(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := c.sqliteConn.QueryContext(ctx, query, args)
	return gateRows(rows, err, release)
}

func (c readerConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	release, err := c.gate.read(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return c.sqliteConn.ExecContext(ctx, query, args)
}

func (c readerConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c readerConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	inner, ok := st.(sqliteStmt)
	if !ok {
		st.Close()
		return nil, errors.New("memory: the SQLite driver's statement lacks the context methods the store needs")
	}
	return gatedStmt{inner, c.gate}, nil
}

type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// gatedStmt is a prepared statement of a read connection.
type gatedStmt struct {
	sqliteStmt
	gate *fileGate
}

func (s gatedStmt) Exec([]driver.Value) (driver.Result, error) {
	return nil, errors.New("memory: Exec without a context is not supported on a read connection")
}

func (s gatedStmt) Query([]driver.Value) (driver.Rows, error) {
	return nil, errors.New("memory: Query without a context is not supported on a read connection")
}

func (s gatedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	release, err := s.gate.read(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return s.sqliteStmt.ExecContext(ctx, args)
}

func (s gatedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	release, err := s.gate.read(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.sqliteStmt.QueryContext(ctx, args)
	return gateRows(rows, err, release)
}

// gateRows hands the gate to the rows of a query, or gives it back if the
// query failed.
func gateRows(rows driver.Rows, err error, release func()) (driver.Rows, error) {
	if err != nil {
		release()
		return nil, err
	}
	inner, ok := rows.(sqliteRows)
	if !ok {
		rows.Close()
		release()
		return nil, errors.New("memory: the SQLite driver's rows lack the column types the store needs")
	}
	return gatedRows{inner, release}, nil
}

// sqliteRows is what the SQLite driver's rows provide: the column types
// are what gorm reads when it scans into a map.
type sqliteRows interface {
	driver.Rows
	driver.RowsColumnTypeDatabaseTypeName
	driver.RowsColumnTypeLength
	driver.RowsColumnTypeNullable
	driver.RowsColumnTypePrecisionScale
	driver.RowsColumnTypeScanType
}

// gatedRows gives the gate back when the rows are closed, which
// database/sql does at the last row, on an error, or when the context ends.
type gatedRows struct {
	sqliteRows
	release func()
}

func (r gatedRows) Close() error {
	defer r.release()
	return r.sqliteRows.Close()
}
