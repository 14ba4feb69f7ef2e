package memory

import (
	"context"
	"errors"

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
func savepoint(ctx context.Context, tx *gorm.DB, fn func(tx *gorm.DB) error) (err error) {
	db := fresh(context.WithoutCancel(ctx), tx)
	if err := db.Exec("SAVEPOINT mandate_write").Error; err != nil {
		return err
	}
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
			// PostgreSQL gives back the locks taken since the savepoint.
			locks.forget(mark)
		}
		// fn failed or panicked: undo its writes, then drop the savepoint
		// (ROLLBACK TO keeps it open on both databases).
		undo := db.Exec("ROLLBACK TO SAVEPOINT mandate_write").Error
		if undo == nil {
			undo = db.Exec("RELEASE SAVEPOINT mandate_write").Error
		}
		if undo != nil && err != nil {
			err = errors.Join(err, undo)
		}
	}()
	if err = fn(fresh(ctx, tx)); err != nil {
		return err
	}
	if err = db.Exec("RELEASE SAVEPOINT mandate_write").Error; err != nil {
		return err // undone above, so the write did not happen
	}
	done = true
	return nil
}
