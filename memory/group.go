package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
// On PostgreSQL the advisory locks a write takes (a wallet's nonces, the
// ledger's buckets) are held until its group commits. A group that waited
// for a lock while holding others could deadlock with another process's
// group, and every later write of both groups would wait for the server's
// deadlock check. So inside a group a write only tries its locks: one that
// is held elsewhere (errWouldWait), or a deadlock all the same (a row lock),
// rolls that write back to its savepoint, and its caller runs it again in a
// transaction of its own, where it waits for the lock holding nothing else.
// On SQLite the group holds the one write lock, as a single write did.

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

// errWouldWait is a write's answer, inside a group, to an advisory lock
// that another transaction holds: it is run again alone (see againAlone).
var errWouldWait = errors.New("memory: a lock this write needs is held by another transaction")

// groupedKey marks the context of a group's transaction: locks are tried,
// never waited for, there. Its value is the group's *groupLocks.
type groupedKey struct{}

// inGroup reports whether tx is a group's transaction, or a savepoint in
// one.
func inGroup(tx *gorm.DB) bool { return groupOf(tx.Statement.Context) != nil }

func groupOf(ctx context.Context) *groupLocks {
	g, _ := ctx.Value(groupedKey{}).(*groupLocks)
	return g
}

// groupLocks are the PostgreSQL advisory locks a group's transaction holds.
// A lock is held to the end of the transaction, so once one write of the
// group has it (a wallet's limit buckets, its audit chain, its nonces) the
// next writes of that wallet need not ask the server again: a round trip
// each, on the committer's one connection, which is what bounds a group.
// A savepoint rolled back gives back the locks taken inside it, and forgets
// them here too (see savepoint). Only the committer's goroutine uses it.
type groupLocks struct{ held []int64 }

func (g *groupLocks) has(key int64) bool { return slices.Contains(g.held, key) }

func (g *groupLocks) add(key int64) { g.held = append(g.held, key) }

// mark and forget bracket a savepoint: forget drops what was taken since
// mark.
func (g *groupLocks) mark() int { return len(g.held) }

func (g *groupLocks) forget(mark int) { g.held = g.held[:mark] }

// againAlone runs fn in a transaction of its own when its group could not
// run it without waiting for a lock (err is errWouldWait or a deadlock), as
// the caller's write: concurrent with the next groups, waiting for the
// lock with nothing else held. A deadlock there (this transaction chosen
// to break another's cycle) is tried again a few times.
func (s *Store) againAlone(ctx context.Context, fn func(tx *gorm.DB) error, err error) error {
	for attempt := 0; attempt < 5 && (errors.Is(err, errWouldWait) || isDeadlock(err)); attempt++ {
		start := time.Now()
		if err = s.writeTx(ctx, fn); err == nil {
			s.committed(start, 1)
		}
	}
	return err
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
	start := time.Now()
	locks := &groupLocks{}
	err := c.s.writeTx(context.Background(), func(tx *gorm.DB) error {
		for i, j := range batch {
			if err := j.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			gctx := context.WithValue(j.ctx, groupedKey{}, locks)
			errs[i] = savepoint(gctx, tx, j.fn)
		}
		return nil
	})
	if err == nil {
		c.s.committed(start, countNil(errs))
	}
	if err != nil {
		groupFailed(errs, err)
	}
	for i, j := range batch {
		j.done <- errs[i]
	}
}

// groupFailed sets the outcome of every write of a group whose commit
// failed with err: none of them happened. A write that failed on its own
// keeps its error. The others get err, preceded by the fault that ended
// the transaction when a write met one: SQLite rolls the whole
// transaction back on a full disk or a read-only file, and "cannot commit
// - no transaction is active" alone would hide why.
func groupFailed(errs []error, err error) {
	var cause error
	for _, e := range errs {
		if e != nil && Fault(e) != nil {
			cause = e
			break
		}
	}
	for i, e := range errs {
		switch {
		case e != nil:
		case cause != nil:
			errs[i] = fmt.Errorf("%w; %w", cause, err)
		default:
			errs[i] = err
		}
	}
}

func countNil(errs []error) int {
	n := 0
	for _, err := range errs {
		if err == nil {
			n++
		}
	}
	return n
}

// isDeadlock reports a PostgreSQL deadlock abort (SQLSTATE 40P01).
func isDeadlock(err error) bool {
	var pg interface{ SQLState() string }
	return err != nil && errors.As(err, &pg) && pg.SQLState() == "40P01"
}
