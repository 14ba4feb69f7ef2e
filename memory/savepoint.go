package memory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// savepoint runs fn inside tx under a savepoint: if fn fails its writes are
// undone alone and tx goes on; if it succeeds the savepoint is released,
// its writes merged into tx.
//
// gorm's nested Transaction never releases a savepoint, so a group of 64
// writes, each with a savepoint or three, kept up to 200 of them open until
// COMMIT. SQLite then journals every page a write touched once per open
// savepoint (a sub-journal growing to megabytes per group, its memory
// faulted in anew each group: a quarter of the co-signer's CPU under load),
// and PostgreSQL keeps each as a subtransaction. Released, a savepoint
// costs only the pages its own write changed.
//
// Every savepoint has the same name: both databases resolve a name to the
// most recent savepoint that holds it, which is the one this call opened
// (savepoints nest strictly), and one text lets the drivers reuse one
// prepared statement.
//
// The savepoint's own statements run whatever becomes of ctx: a caller that
// gives up after fn returned must not leave its writes in tx, unreleased
// and yet reported as failed.
//
// In a store's write transaction (see track) a savepoint costs fewer
// statements: one opened when nothing has run since the enclosing one
// shares it, and on PostgreSQL a release travels with the next savepoint.
func savepoint(ctx context.Context, tx *gorm.DB, fn func(tx *gorm.DB) error) (err error) {
	t, _ := tx.Statement.ConnPool.(*trackedTx)
	if t == nil {
		t = &trackedTx{db: fresh(context.WithoutCancel(ctx), tx)}
	}
	if t.depth > 0 && !t.dirty {
		// Nothing ran since the enclosing savepoint was opened: rolling
		// back to it undoes fn's writes and nothing else, and leaves it
		// open for the writer that opened it. A ledger charge made first
		// thing in a reservation saves two round trips that way.
		return undoable(ctx, tx, fn, func() error {
			err := t.control(ctx, "ROLLBACK TO SAVEPOINT mandate_write")
			t.dirty = err != nil // back where that savepoint was opened
			return err
		})
	}
	if err := t.control(ctx, "SAVEPOINT mandate_write"); err != nil {
		return err
	}
	t.depth++
	t.dirty = false
	released := func(tx *gorm.DB) error {
		if err := fn(tx); err != nil {
			return err
		}
		return t.release(ctx) // if it fails, undone below: the write did not happen
	}
	return undoable(ctx, tx, released, func() error {
		t.depth--
		t.dirty = true
		// ROLLBACK TO keeps the savepoint open on both databases.
		return t.control(ctx, "ROLLBACK TO SAVEPOINT mandate_write", "RELEASE SAVEPOINT mandate_write")
	})
}

// undoable runs fn, and undo if fn fails or panics. A group forgets the
// locks taken since: PostgreSQL gives back those taken after the savepoint
// undo rolls back to.
func undoable(ctx context.Context, tx *gorm.DB, fn func(tx *gorm.DB) error, undo func() error) (err error) {
	locks := groupOf(ctx)
	var mark int
	if locks != nil {
		mark = locks.mark()
	}
	done := false
	defer func() {
		if done {
			return
		}
		if locks != nil {
			locks.forget(mark)
		}
		if uerr := undo(); uerr != nil && err != nil {
			err = errors.Join(err, uerr)
		}
	}()
	if err = fn(fresh(ctx, tx)); err != nil {
		return err
	}
	done = true
	return nil
}

// trackedTx is a store's write transaction, as its savepoints see it: every
// statement passes here, so a savepoint knows whether anything ran since
// the one enclosing it was opened (dirty), and on PostgreSQL a release can
// wait to be sent with the next savepoint, in one round trip (owed).
//
// A release is put off only while no statement has failed since the last
// control statement succeeded: PostgreSQL may have aborted the transaction
// then (a writer that swallowed a statement's error), and the RELEASE must
// fail at once, undoing that writer alone, as it did before releases were
// put off. If one put off fails all the same (an error the wrapper could
// not see, met while reading rows), which savepoints the server still holds
// is unknown: the transaction is broken, and every later savepoint and the
// COMMIT fail, so nothing of it commits.
type trackedTx struct {
	gorm.Tx
	db     *gorm.DB // for savepoints outside a tracked transaction: statements through gorm
	merge  bool     // PostgreSQL: control statements may travel together
	depth  int      // savepoints open, as far as the writers are concerned
	dirty  bool     // a statement ran since the innermost savepoint was opened or rolled back to
	owed   int      // RELEASEs not yet sent (merge)
	failed bool     // a statement failed since the last control statement succeeded
	broken error    // a RELEASE put off could not be sent
}

// track makes tx, a write transaction just begun, a trackedTx. Only the
// goroutine running the transaction uses it, as for the transaction itself.
func track(tx *gorm.DB, merge bool) {
	if inner, ok := tx.Statement.ConnPool.(gorm.Tx); ok {
		tx.Statement.ConnPool = &trackedTx{Tx: inner, merge: merge, dirty: true}
	}
}

// release ends a savepoint whose writer succeeded. On PostgreSQL the
// RELEASE waits for the next statement; COMMIT releases what is left.
func (t *trackedTx) release(ctx context.Context) error {
	if t.merge && !t.failed {
		t.owed++
	} else if err := t.control(ctx, "RELEASE SAVEPOINT mandate_write"); err != nil {
		return err
	}
	t.depth--
	t.dirty = true
	return nil
}

// control sends savepoint statements, after any release owed, outside
// ctx's cancellation: on PostgreSQL as one simple-protocol query (no
// arguments, so pgx sends it as text and the server runs each in order,
// stopping at the first that fails), elsewhere one at a time.
func (t *trackedTx) control(ctx context.Context, stmts ...string) error {
	ctx = context.WithoutCancel(ctx)
	if t.Tx == nil {
		for _, s := range stmts {
			if err := t.db.Exec(s).Error; err != nil {
				return err
			}
		}
		return nil
	}
	if t.broken != nil {
		return t.broken
	}
	owed := t.owed
	if owed > 0 {
		stmts = append(owedReleases(owed), stmts...)
		t.owed = 0
	}
	var err error
	if t.merge {
		_, err = t.Tx.ExecContext(ctx, strings.Join(stmts, "; "))
	} else {
		for _, s := range stmts {
			if _, err = t.Tx.ExecContext(ctx, s); err != nil {
				break
			}
		}
	}
	switch {
	case err != nil && owed > 0:
		t.broken = fmt.Errorf("memory: a write's savepoint could not be released (%w); its transaction is rolled back", err)
		return t.broken
	case err != nil:
		t.failed = true
		return err
	}
	t.failed = false
	return nil
}

func owedReleases(n int) []string {
	s := make([]string, n, n+2)
	for i := range s {
		s[i] = "RELEASE SAVEPOINT mandate_write"
	}
	return s
}

// settle sends the releases owed before a statement of the transaction's
// writers: that statement belongs to the enclosing savepoint.
func (t *trackedTx) settle(ctx context.Context) error {
	t.dirty = true
	if t.owed == 0 && t.broken == nil {
		return nil
	}
	return t.control(ctx)
}

// saw notes a statement's outcome.
func (t *trackedTx) saw(err error) error {
	if err != nil {
		t.failed = true
	}
	return err
}

func (t *trackedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := t.settle(ctx); err != nil {
		return nil, err
	}
	res, err := t.Tx.ExecContext(ctx, query, args...)
	return res, t.saw(err)
}

func (t *trackedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := t.settle(ctx); err != nil {
		return nil, err
	}
	rows, err := t.Tx.QueryContext(ctx, query, args...)
	return rows, t.saw(err)
}

// QueryRowContext cannot return a failed settle's error; on PostgreSQL the
// query then fails too, the transaction being aborted or broken.
func (t *trackedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	_ = t.settle(ctx)
	row := t.Tx.QueryRowContext(ctx, query, args...)
	t.saw(row.Err())
	return row
}

func (t *trackedTx) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	if err := t.settle(ctx); err != nil {
		return nil, err
	}
	stmt, err := t.Tx.PrepareContext(ctx, query)
	return stmt, t.saw(err)
}

// Commit fails, rolling back, when the transaction is broken.
func (t *trackedTx) Commit() error {
	if t.broken != nil {
		t.Tx.Rollback()
		return t.broken
	}
	return t.Tx.Commit()
}
