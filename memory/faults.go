package memory

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"syscall"

	sqlitedriver "github.com/glebarez/go-sqlite"
)

// Errors for a database that cannot do what was asked for a reason outside
// the request: the disk, the file's permissions, the server. None of them
// means the caller asked for something wrong; each names what to fix before
// trying again. Open wraps them, and Fault finds them in any error a store
// returned, however other packages wrapped it.
var (
	// ErrReadOnly: the database, its directory or the file system refuses
	// writes.
	ErrReadOnly = errors.New("memory: the database is read-only")
	// ErrFull: the disk (or the quota, or the file size limit) holding the
	// database has no room for what was written.
	ErrFull = errors.New("memory: the disk holding the database is full")
	// ErrIO: the database's files could not be opened, read or written, or
	// hold something that is not an intact database.
	ErrIO = errors.New("memory: the database could not be read or written")
	// ErrUnreachable: the database server did not answer or dropped the
	// connection.
	ErrUnreachable = errors.New("memory: the database server is unreachable")
)

// Fault says which of ErrBusy, ErrReadOnly, ErrFull, ErrIO and
// ErrUnreachable err is, or returns nil when it is none of them (a bad
// argument, a bug, a cancelled context). Besides the store's own wrapping
// it recognises SQLite's result codes and PostgreSQL's SQLSTATEs, so an
// error that reached a caller through other packages is still told apart.
// A bare network error is not taken for the database's: a caller also
// talks to other servers.
func Fault(err error) error {
	if err == nil {
		return nil
	}
	for _, f := range []error{ErrBusy, ErrReadOnly, ErrFull, ErrIO, ErrUnreachable} {
		if errors.Is(err, f) {
			return f
		}
	}
	var se *sqlitedriver.Error
	if errors.As(err, &se) {
		return sqliteFault(se.Code())
	}
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		return pgFault(pg.SQLState())
	}
	return nil
}

// SQLite primary result codes (the low byte of an extended code).
const (
	sqlitePerm     = 3
	sqliteBusy     = 5
	sqliteLocked   = 6
	sqliteReadOnly = 8
	sqliteIOErr    = 10
	sqliteCorrupt  = 11
	sqliteFull     = 13
	sqliteCantOpen = 14
	sqliteProtocol = 15
	sqliteNotADB   = 26
)

func sqliteFault(code int) error {
	switch code & 0xff {
	case sqliteBusy, sqliteLocked:
		return ErrBusy
	case sqliteReadOnly, sqlitePerm:
		return ErrReadOnly
	case sqliteFull:
		return ErrFull
	case sqliteIOErr, sqliteCorrupt, sqliteCantOpen, sqliteProtocol, sqliteNotADB:
		return ErrIO
	}
	return nil
}

func pgFault(state string) error {
	switch {
	case state == "55P03": // lock_not_available
		return ErrBusy
	case state == "25006": // read_only_sql_transaction
		return ErrReadOnly
	case state == "53100": // disk_full
		return ErrFull
	case state == "58030", state == "XX001", state == "XX002": // io_error, data_corrupted, index_corrupted
		return ErrIO
	case strings.HasPrefix(state, "08"), // connection_exception
		state == "57P01", state == "57P02", state == "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
		return ErrUnreachable
	}
	return nil
}

// classify wraps err, which the store got from its database, with the
// fault it is, so a caller can branch with errors.Is. Unlike Fault, it
// takes a network error for the database server's: here there is no other.
func classify(err error) error {
	if err == nil {
		return nil
	}
	f := Fault(err)
	if f == nil {
		f = connFault(err)
	}
	if f == nil || errors.Is(err, f) {
		return err
	}
	return fmt.Errorf("%w: %w", f, err)
}

// connFault recognises a connection to the database server that failed or
// broke.
func connFault(err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, driver.ErrBadConn):
		return ErrUnreachable
	}
	return nil
}

// fileFault classifies what the file system said when the store created
// the database's directory or file. A path that cannot name a file (a
// directory, a component that is a file) is a bad DSN, not a fault.
func fileFault(err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return ErrIO
	}
	switch {
	case errors.Is(errno, fs.ErrPermission), errno == syscall.EROFS:
		return ErrReadOnly
	case errno == syscall.ENOSPC, errno == syscall.EDQUOT, errno == syscall.EFBIG:
		return ErrFull
	case errno == syscall.EISDIR, errno == syscall.ENOTDIR, errno == syscall.ENAMETOOLONG, errno == syscall.ELOOP:
		return ErrBadDSN
	}
	return ErrIO
}

// Location names the database dsn points at for a message: the SQLite
// file's path, or the PostgreSQL URL without its password.
func Location(dsn string) string {
	t, err := parseDSN(dsn)
	switch {
	case err != nil:
		return redact(dsn)
	case t.backend == backendSQLite:
		return t.path
	}
	return redact(t.url)
}
