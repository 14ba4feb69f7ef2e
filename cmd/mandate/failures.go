package main

import (
	"context"
	"errors"
	"strings"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/memory"
)

// openDB opens the store at dsn and remembers where it is, so that a
// failure of the database later in the command names it. A DSN that cannot
// name a database is bad input (exit 2); a database that is there but
// locked, read-only, full, damaged or down is not (exit 1).
func (g *globals) openDB(ctx context.Context, dsn string) (*memory.Store, error) {
	g.remember(dsn)
	s, err := memory.Open(ctx, dsn)
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, memory.ErrBadDSN):
		return nil, usageErr("MANDATE_DB (db in mandate.yaml): %w", err)
	}
	return nil, err
}

// remember notes the database a command uses, so that a failure of it
// names it.
func (g *globals) remember(dsn string) {
	g.dsn, g.db = dsn, ""
	if dsn != "" {
		g.db = memory.Location(dsn)
	}
}

// dbFailure is a database that failed under a command, said in one line:
// what failed, where, the store's own words, and what to do.
type dbFailure struct {
	fault error // memory.ErrBusy, ErrReadOnly, ErrFull, ErrIO or ErrUnreachable
	msg   string
	err   error
}

func (e *dbFailure) Error() string { return e.msg }
func (e *dbFailure) Unwrap() error { return e.err }

// faultNames name a database failure in --json output ("fault"), for
// scripts that branch on it.
var faultNames = map[error]string{
	memory.ErrBusy:        "database_locked",
	memory.ErrReadOnly:    "database_read_only",
	memory.ErrFull:        "database_full",
	memory.ErrIO:          "database_io",
	memory.ErrUnreachable: "database_unreachable",
}

// explain turns a command's error that is a database failure into a
// dbFailure; any other error is returned as it is.
func (g *globals) explain(err error) error {
	// The wallet's nonce lock lives in the database: on SQLite it is the
	// write lock itself, so a process holding that past the wait shows up
	// here, not as memory.ErrBusy.
	lockWait := errors.Is(err, evm.ErrNonceLockTimeout)
	if memory.Fault(err) == nil && !lockWait {
		return err
	}
	var done *dbFailure
	if errors.As(err, &done) {
		return err
	}
	f, found := memory.Examine(g.dsn, err)
	if lockWait {
		f, found = memory.ErrBusy, ""
	}
	where := "the database"
	if g.db != "" {
		where += " at " + g.db
	}
	server := strings.HasPrefix(g.db, "postgres")
	var what, todo string
	switch {
	case f == memory.ErrBusy:
		what, todo = where+" is locked by another process", "another mandate process may be writing to it: try again once it is done"
	case f == memory.ErrReadOnly && server:
		what, todo = where+" is read-only", "make it writable (a standby server, or default_transaction_read_only on, refuses writes), or point MANDATE_DB at a writable database"
	case f == memory.ErrReadOnly:
		what, todo = where+" is read-only", "make the file and its directory writable, or point MANDATE_DB at a writable database"
	case f == memory.ErrFull && server:
		what, todo = "the disk of the database server of "+where+" is full", "free some space on the server, or point MANDATE_DB at another database"
	case f == memory.ErrFull:
		what, todo = "the disk holding "+where+" is full", "free some space, or point MANDATE_DB at another disk"
	case f == memory.ErrIO && server:
		what, todo = where+" could not read or write its data", "check the database server's log, or point MANDATE_DB at another database"
	case f == memory.ErrIO:
		what, todo = where+" could not be read or written", "check the disk and the file, or point MANDATE_DB at another database"
	case f == memory.ErrUnreachable:
		what, todo = where+" is unreachable", "start the server or check MANDATE_DB"
	}
	if g.key != "" {
		todo += `; then rerun this call with "idempotency_key":"` + g.key + `"`
	}
	msg := what + ": "
	if found != "" {
		msg += found + "; "
	}
	msg += detail(err, f) + "; " + todo
	return &dbFailure{fault: f, msg: msg, err: err}
}

// detail is what the store said, without the fault's own words, which the
// message already leads with.
func detail(err error, fault error) string {
	s := err.Error()
	if f := memory.Fault(err); f != nil {
		fault = f
	}
	name := fault.Error()
	s = strings.ReplaceAll(s, name+": ", "")
	s = strings.ReplaceAll(s, name, "")
	s = strings.ReplaceAll(s, " ()", "")
	return strings.Trim(strings.TrimSpace(s), ";:")
}

// jsonFault names err's database failure for --json output, or "".
func jsonFault(err error) string {
	var e *dbFailure
	if errors.As(err, &e) {
		return faultNames[e.fault]
	}
	return ""
}
