package memory

import (
	"context"
	"errors"

	"gorm.io/gorm"
)

// Group commit. Writes that arrive while another is committing wait for it
// and then share one durable commit: the committer takes every write queued
// at that moment (up to maxGroup), runs each under its own savepoint in one
// transaction, and commits once. A write whose function fails rolls back to
// its savepoint alone and returns its own error; the others go on. Nothing
// is acknowledged before the commit is durable: a writer learns its outcome
// only after COMMIT returned, and if the commit fails every write of the
// group gets that error, none having happened.
//
// Under light load a group is one write and nothing changes. Under heavy
// load (a co-signer in front of a busy treasury, a bot serving many chats)
// the fsync that bounded every decision is paid once per group.
//
// On PostgreSQL the advisory locks a write takes are held until its group
// commits, so two processes' groups can wait on each other's locks; the
// server then aborts one statement (deadlock detected), that write rolls
// back to its savepoint, and it is run again on its own once its group has
// committed. On SQLite the group holds the one write lock, as a single
// write did.

// maxGroup bounds a group, so one commit's latency stays bounded too.
const maxGroup = 64

// groupJob is one write waiting for a group.
type groupJob struct {
	ctx  context.Context
	fn   func(tx *gorm.DB) error
	done chan error
}

// committer runs the groups of a store.
type committer struct {
	s    *Store
	jobs chan *groupJob // unbuffered: a job is taken only by a committer ready to run it
	quit chan struct{}
}

func (s *Store) startGroupCommit() {
	c := &committer{s: s, jobs: make(chan *groupJob), quit: make(chan struct{})}
	s.group = c
	go c.run()
}

// ErrClosed is the error of a write to a closed store.
var ErrClosed = errors.New("memory: the store is closed")

// submit hands fn to the committer and waits for its group's outcome. Once
// taken, a write is waited for even if ctx ends: its group may already be
// committing it, and the caller must not be told it did not happen.
func (c *committer) submit(ctx context.Context, fn func(tx *gorm.DB) error) error {
	j := &groupJob{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case c.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.quit:
		return ErrClosed
	}
	return <-j.done
}

func (c *committer) run() {
	for {
		var first *groupJob
		select {
		case first = <-c.jobs:
		case <-c.quit:
			return
		}
		batch := []*groupJob{first}
	gather:
		for len(batch) < maxGroup {
			select {
			case j := <-c.jobs:
				batch = append(batch, j)
			default:
				break gather
			}
		}
		c.commit(batch)
	}
}

// commit runs one group and tells each write its outcome.
func (c *committer) commit(batch []*groupJob) {
	errs := make([]error, len(batch))
	err := c.s.writeTx(context.Background(), func(tx *gorm.DB) error {
		for i, j := range batch {
			if err := j.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			errs[i] = tx.WithContext(j.ctx).Transaction(j.fn) // a savepoint per write
		}
		return nil
	})
	for i, j := range batch {
		switch {
		case err != nil:
			errs[i] = err
		case isDeadlock(errs[i]):
			errs[i] = c.s.writeTx(j.ctx, j.fn) // alone, now that the group's locks are gone
		}
		j.done <- errs[i]
	}
}

// isDeadlock reports a PostgreSQL deadlock abort (SQLSTATE 40P01).
func isDeadlock(err error) bool {
	var pg interface{ SQLState() string }
	return err != nil && errors.As(err, &pg) && pg.SQLState() == "40P01"
}
