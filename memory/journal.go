package memory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/mandatehq/mandate/chains/evm"
)

// txRow is a row of the transaction journal.
type txRow struct {
	ID          int64  `gorm:"column:id;primaryKey;autoIncrement"`
	Hash        string `gorm:"column:hash"`
	Chain       string `gorm:"column:chain"`
	Sender      string `gorm:"column:sender"`
	SenderKey   string `gorm:"column:sender_key"` // Sender lower-cased; see senderKey
	Nonce       int64  `gorm:"column:nonce"`
	IdemKey     string `gorm:"column:idem_key"`
	ApprovalID  string `gorm:"column:approval_id"`
	Action      string `gorm:"column:action"`
	Raw         []byte `gorm:"column:raw"`
	Status      string `gorm:"column:status"`
	ReplacedBy  string `gorm:"column:replaced_by"`
	ErrorText   string `gorm:"column:error_text"`
	BlockNumber int64  `gorm:"column:block_number"`
	CreatedAtNs int64  `gorm:"column:created_at_ns"`
	UpdatedAtNs int64  `gorm:"column:updated_at_ns"`
}

func (txRow) TableName() string { return "tx_journal" }

// finalStatuses are the statuses evm.TxStatus.Final reports as final; the
// journal's tests keep the two in step.
var finalStatuses = []string{
	string(evm.TxMined), string(evm.TxReverted), string(evm.TxReplaced), string(evm.TxFailed),
}

// whereTxKey repeats the condition of the partial index tx_journal_key so
// the lookup can use it (see whereKeyApproval).
const whereTxKey = "chain = ? AND sender_key = ? AND idem_key = ? AND idem_key <> ''"

// journal implements evm.Journal over a Store. Inside LockNonces it is
// bound to the locked transaction (tx), and reads and writes there.
type journal struct {
	s  *Store
	tx *gorm.DB
}

var (
	_ evm.Journal     = journal{}
	_ evm.NonceLocker = journal{}
)

// Journal returns the transaction journal, for the EVM wallet's sender. It
// is also an evm.NonceLocker: wallets in every process on this database
// reserve their nonces under its lock.
func (s *Store) Journal() evm.Journal { return journal{s: s} }

// reader is where the journal reads: the locked transaction, or the
// store's read handle.
func (j journal) reader(ctx context.Context) *gorm.DB {
	if j.tx != nil {
		return fresh(ctx, j.tx)
	}
	return j.s.read(ctx)
}

// fresh is a handle on db's connection or transaction with no statement
// state: gorm carries a statement's model, destination and conditions
// over to the next one made from the same handle.
func fresh(ctx context.Context, db *gorm.DB) *gorm.DB {
	return db.Session(&gorm.Session{NewDB: true, Context: ctx})
}

// write runs fn as one write: in its own transaction, or inside the locked
// one under a savepoint, so that a refused statement (a duplicate key) can
// be answered and the locked transaction goes on. PostgreSQL would
// otherwise abort the whole transaction at the first error.
func (j journal) write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if j.tx != nil {
		return savepoint(ctx, j.tx, fn)
	}
	return j.s.write(ctx, fn)
}

// senderKey is the form senders are compared in. Journal senders are EVM
// addresses, whose letter case is only a checksum: a caller that spells the
// sender differently must still see its nonces and keys.
func senderKey(from string) string { return strings.ToLower(from) }

// normHash lower-cases a transaction hash so lookups do not depend on how
// a caller spelled the hex.
func normHash(h string) string { return strings.ToLower(h) }

// Insert records a signed transaction. A reused idempotency key for the
// same chain and sender fails with evm.ErrDuplicateKey (so a replacement
// transaction is journaled with an empty Key and found through its
// predecessor's ReplacedBy); a hash already journaled fails with an error
// wrapping ErrDuplicateTx.
func (j journal) Insert(ctx context.Context, rec evm.TxRecord) error {
	if rec.Hash == "" || rec.Chain == "" || rec.From == "" {
		return fmt.Errorf("memory: journal insert: hash, chain and sender are required: %w", ErrInvalid)
	}
	if rec.Nonce > math.MaxInt64 || rec.Block > math.MaxInt64 {
		return fmt.Errorf("memory: journal insert %s: nonce or block above 2^63-1: %w", rec.Hash, ErrInvalid)
	}
	if rec.Status == "" {
		rec.Status = evm.TxSigned
	}
	now := time.Now()
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = now
	}
	if rec.UpdatedAt.IsZero() {
		rec.UpdatedAt = rec.CreatedAt
	}
	row := txRow{
		Hash:        normHash(rec.Hash),
		Chain:       rec.Chain,
		Sender:      rec.From,
		SenderKey:   senderKey(rec.From),
		Nonce:       int64(rec.Nonce),
		IdemKey:     rec.Key,
		ApprovalID:  rec.ApprovalID,
		Action:      rec.Action,
		Raw:         rec.Raw,
		Status:      string(rec.Status),
		ReplacedBy:  normHash(rec.ReplacedBy),
		ErrorText:   rec.Error,
		BlockNumber: int64(rec.Block),
		CreatedAtNs: nanos(rec.CreatedAt),
		UpdatedAtNs: nanos(rec.UpdatedAt),
	}
	err := j.write(ctx, func(tx *gorm.DB) error { return tx.Create(&row).Error })
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		// Two unique indexes can refuse the row; find out which.
		if rec.Key != "" {
			if _, found, qerr := j.ByKey(ctx, rec.Chain, rec.From, rec.Key); qerr == nil && found {
				return evm.ErrDuplicateKey
			}
		}
		return fmt.Errorf("memory: journal insert %s: %w", row.Hash, ErrDuplicateTx)
	}
	return fmt.Errorf("memory: journal insert %s: %w", row.Hash, err)
}

// ErrDuplicateTx is wrapped by Journal.Insert for a hash already journaled.
var ErrDuplicateTx = evm.ErrDuplicateHash

// Update sets Status, ReplacedBy, Error and Block of the transaction with
// rec.Hash on rec.Chain (on every chain, when rec.Chain is empty), and its
// UpdatedAt (now, when rec.UpdatedAt is zero). An unknown
// hash fails with an error wrapping ErrNotFound. "sent" only moves a row on
// from "signed" (see evm.Journal): on a row already final it does nothing.
func (j journal) Update(ctx context.Context, rec evm.TxRecord) error {
	if rec.Status == "" {
		return fmt.Errorf("memory: journal update %s: empty status: %w", rec.Hash, ErrInvalid)
	}
	if rec.Block > math.MaxInt64 {
		return fmt.Errorf("memory: journal update %s: block above 2^63-1: %w", rec.Hash, ErrInvalid)
	}
	updated := rec.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	var affected int64
	err := j.write(ctx, func(tx *gorm.DB) error {
		q := tx.Model(&txRow{}).Where("hash = ?", normHash(rec.Hash))
		if rec.Chain != "" {
			q = q.Where("chain = ?", rec.Chain)
		}
		if rec.Status == evm.TxSent {
			// Senders in several processes settle one row: a rebroadcast's
			// "sent" must not overwrite the "mined" its own sender wrote.
			q = q.Where("status IN ?", []string{string(evm.TxSigned), string(evm.TxSent)})
		}
		res := q.Updates(map[string]any{
			"status":        string(rec.Status),
			"replaced_by":   normHash(rec.ReplacedBy),
			"error_text":    rec.Error,
			"block_number":  int64(rec.Block),
			"updated_at_ns": nanos(updated),
		})
		affected = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("memory: journal update %s: %w", rec.Hash, err)
	}
	if affected == 0 {
		if _, found, err := j.ByHash(ctx, rec.Chain, rec.Hash); err != nil || found {
			return err // found: already further along than "sent"; nothing to do
		}
		return fmt.Errorf("memory: journal update %s: %w", rec.Hash, ErrNotFound)
	}
	return nil
}

// ByKey returns the first transaction journaled under an idempotency key.
// An empty key finds nothing.
func (j journal) ByKey(ctx context.Context, chain, from, key string) (evm.TxRecord, bool, error) {
	if key == "" {
		return evm.TxRecord{}, false, nil
	}
	return j.one(ctx, whereTxKey, chain, senderKey(from), key)
}

// KeyedElsewhere returns a transaction journaled under key for from on a
// chain other than chain.
func (j journal) KeyedElsewhere(ctx context.Context, chain, from, key string) (evm.TxRecord, bool, error) {
	if key == "" {
		return evm.TxRecord{}, false, nil
	}
	return j.one(ctx, "sender_key = ? AND idem_key = ? AND idem_key <> '' AND chain <> ?", senderKey(from), key, chain)
}

// ByHash returns a transaction of chain by hash.
func (j journal) ByHash(ctx context.Context, chain, hash string) (evm.TxRecord, bool, error) {
	return j.one(ctx, "hash = ? AND chain = ?", normHash(hash), chain)
}

func (j journal) one(ctx context.Context, where string, args ...any) (evm.TxRecord, bool, error) {
	var rows []txRow
	if err := j.reader(ctx).Where(where, args...).Order("id").Limit(1).Find(&rows).Error; err != nil {
		return evm.TxRecord{}, false, fmt.Errorf("memory: journal lookup: %w", err)
	}
	if len(rows) == 0 {
		return evm.TxRecord{}, false, nil
	}
	return rows[0].record(), true, nil
}

// Open lists a sender's transactions whose status is not final, by nonce
// (and, for one nonce, in the order they were journaled).
func (j journal) Open(ctx context.Context, chain, from string) ([]evm.TxRecord, error) {
	var rows []txRow
	if err := j.reader(ctx).
		Where("chain = ? AND sender_key = ? AND status NOT IN ?", chain, senderKey(from), finalStatuses).
		Order("nonce, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("memory: journal open: %w", err)
	}
	out := make([]evm.TxRecord, len(rows))
	for i, r := range rows {
		out[i] = r.record()
	}
	return out, nil
}

// whereOpenNonces selects a sender's open transactions from a nonce on
// (the tx_journal_sender_nonce index).
const whereOpenNonces = "chain = ? AND sender_key = ? AND status NOT IN ? AND nonce >= ?"

// OpenNonces lists the nonces at or above floor that a sender's open
// transactions hold, lowest first: what a reservation needs of them. Read
// under the nonce lock, on the connection of the group being committed, the
// whole rows (signed bytes and all) of every transaction in flight cost a
// reservation more than the rest of its statements together.
func (j journal) OpenNonces(ctx context.Context, chain, from string, floor uint64) ([]uint64, error) {
	if floor > math.MaxInt64 {
		return nil, nil // no nonce is stored that high
	}
	var ns []int64
	if err := j.reader(ctx).Model(&txRow{}).
		Where(whereOpenNonces, chain, senderKey(from), finalStatuses, int64(floor)).
		Order("nonce").Pluck("nonce", &ns).Error; err != nil {
		return nil, fmt.Errorf("memory: journal open nonces: %w", err)
	}
	out := make([]uint64, len(ns))
	for i, n := range ns {
		out[i] = uint64(n)
	}
	return out, nil
}

// MaxNonce returns the highest nonce journaled for a sender whose status is
// not failed (a failed transaction never left, so its nonce is free).
func (j journal) MaxNonce(ctx context.Context, chain, from string) (uint64, bool, error) {
	var n sql.NullInt64
	if err := j.reader(ctx).Model(&txRow{}).
		Where("chain = ? AND sender_key = ? AND status <> ?", chain, senderKey(from), string(evm.TxFailed)).
		Select("MAX(nonce)").Scan(&n).Error; err != nil {
		return 0, false, fmt.Errorf("memory: journal max nonce: %w", err)
	}
	if !n.Valid {
		return 0, false, nil
	}
	return uint64(n.Int64), true, nil
}

func (r txRow) record() evm.TxRecord {
	return evm.TxRecord{
		Hash:       r.Hash,
		Chain:      r.Chain,
		From:       r.Sender,
		Nonce:      uint64(r.Nonce),
		Key:        r.IdemKey,
		ApprovalID: r.ApprovalID,
		Action:     r.Action,
		Raw:        r.Raw,
		Status:     evm.TxStatus(r.Status),
		ReplacedBy: r.ReplacedBy,
		Error:      r.ErrorText,
		Block:      uint64(r.BlockNumber),
		CreatedAt:  fromNanos(r.CreatedAtNs),
		UpdatedAt:  fromNanos(r.UpdatedAtNs),
	}
}

// LockNonces runs fn holding the database's lock on the nonces of from on
// chain, with a journal bound to the locked transaction: what fn writes
// through it commits when fn returns nil and is rolled back when it fails,
// and what it reads includes everything earlier holders committed. fn's
// context carries the transaction too, so the store's other writes made
// with it (an approval's ledger commit, a decision record) commit or roll
// back with the journal row.
//
// On PostgreSQL the lock is a transaction-scoped advisory lock keyed by
// chain and sender, so other wallets do not wait for it. On SQLite it is the
// database's write lock (the transaction begins IMMEDIATE), the only lock
// SQLite has, so every writer waits: callers keep fn short. Either way every
// process on the database honours it. When ctx has a deadline, waiting for
// the lock ends there (PostgreSQL's lock_timeout, SQLite's busy timeout for
// this transaction) with an error wrapping evm.ErrNonceLockTimeout, and fn is
// not called.
//
// With group commit (the default) fn runs in the store's next group, so
// reservations made together pay one durable commit between them; the
// lock is then held until that commit, and on SQLite waiting for another
// process's write lock is bounded by the store's busy timeout rather than
// by ctx (a reservation whose deadline passed while it waited is not run).
func (j journal) LockNonces(ctx context.Context, chain, from string, fn func(context.Context, evm.Journal) error) error {
	if j.tx != nil { // nested: the transaction already holds the write lock, or can add an advisory one
		if j.s.backend == backendPostgres {
			if err := pgLockNonces(ctx, j.tx, chain, from); err != nil {
				return lockError(ctx, chain, from, err)
			}
		}
		return fn(j.s.within(ctx, j.tx), j)
	}
	if tx := j.s.ambient(ctx); tx != nil { // called inside another write of this store
		return journal{s: j.s, tx: tx}.LockNonces(ctx, chain, from, fn)
	}
	locked := false
	start := time.Now()
	run := func(tx *gorm.DB) error {
		locked = true
		if o := j.s.observer(); o != nil {
			o.NonceWaited(time.Since(start))
		}
		return fn(j.s.within(ctx, tx), journal{s: j.s, tx: tx})
	}
	var err error
	switch {
	case j.s.group != nil:
		// In a group: reservations that arrive together share one durable
		// commit, each under its own savepoint, one after the other, each
		// seeing the rows the ones before it journaled (see group.go).
		// On PostgreSQL a group only tries the lock; held elsewhere, the
		// reservation waits for it alone (againAlone).
		locking := func(tx *gorm.DB) error {
			if j.s.backend == backendPostgres {
				if err := pgLockNonces(ctx, tx, chain, from); err != nil {
					return err
				}
			}
			return run(tx)
		}
		err = j.s.againAlone(ctx, locking, j.s.group.submit(ctx, locking))
	case j.s.backend == backendPostgres:
		err = j.s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := pgLockNonces(ctx, tx, chain, from); err != nil {
				return err
			}
			return run(tx)
		}, &sql.TxOptions{Isolation: sql.LevelReadCommitted}) // each statement sees the previous holder's commit
	default:
		err = j.s.db.WithContext(ctx).Connection(func(conn *gorm.DB) error {
			restore, err := j.s.sqliteBusyUntil(ctx, conn)
			if err != nil {
				return err
			}
			defer restore()
			return fresh(ctx, conn).Transaction(run) // BEGIN IMMEDIATE waits for the write lock
		})
	}
	if err != nil && !locked {
		return lockError(ctx, chain, from, err)
	}
	if err == nil && j.s.group == nil {
		j.s.committed(start, 1) // a group's commit is reported by the committer
	}
	return err
}

// nonceLockKey is the PostgreSQL advisory lock of a sender's nonces: a
// 64-bit FNV-1a hash of chain and sender. Two senders that collide only
// wait for each other.
func nonceLockKey(chain, from string) int64 {
	h := fnv.New64a()
	h.Write([]byte("mandate:nonce\x00" + chain + "\x00" + senderKey(from)))
	return int64(h.Sum64())
}

// pgLockNonces takes the advisory lock of a sender's nonces in tx, giving up
// at ctx's deadline (lock_timeout, local to the transaction). In a group it
// only tries it (see group.go).
func pgLockNonces(ctx context.Context, tx *gorm.DB, chain, from string) error {
	if inGroup(tx) {
		return pgAdvisoryLock(fresh(tx.Statement.Context, tx), nonceLockKey(chain, from))
	}
	if dl, ok := ctx.Deadline(); ok {
		ms := max(time.Until(dl).Milliseconds(), 1)
		if err := fresh(ctx, tx).Exec("SELECT set_config('lock_timeout', ?, true)", strconv.FormatInt(ms, 10)).Error; err != nil {
			return err
		}
	}
	return fresh(ctx, tx).Exec("SELECT pg_advisory_xact_lock(?)", nonceLockKey(chain, from)).Error
}

// sqliteBusyUntil sets conn's busy timeout — how long SQLite waits for
// another connection's write lock before giving up with SQLITE_BUSY — to
// what is left until ctx's deadline, and returns what sets it back.
func (s *Store) sqliteBusyUntil(ctx context.Context, conn *gorm.DB) (restore func(), err error) {
	dl, ok := ctx.Deadline()
	if !ok {
		return func() {}, nil
	}
	var prev int64
	if err := fresh(ctx, conn).Raw("PRAGMA busy_timeout").Scan(&prev).Error; err != nil {
		return nil, err
	}
	ms := max(time.Until(dl).Milliseconds(), 1)
	if err := fresh(ctx, conn).Exec("PRAGMA busy_timeout = " + strconv.FormatInt(ms, 10)).Error; err != nil {
		return nil, err
	}
	return func() {
		// Set back even when ctx is done: this connection serves every
		// later write of the store.
		err := fresh(context.WithoutCancel(ctx), conn).Exec("PRAGMA busy_timeout = " + strconv.FormatInt(prev, 10)).Error
		if err != nil {
			s.log.Error("could not restore the SQLite busy timeout", "error", err.Error())
		}
	}, nil
}

// lockError says why the lock on a sender's nonces was not granted,
// wrapping evm.ErrNonceLockTimeout when it was held past ctx's deadline.
func lockError(ctx context.Context, chain, from string, err error) error {
	if isLockTimeout(err) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("memory: lock on the nonces of %s on chain %s: %w (%w)", from, chain, evm.ErrNonceLockTimeout, err)
	}
	return fmt.Errorf("memory: lock on the nonces of %s on chain %s: %w", from, chain, err)
}

// isLockTimeout recognises a lock wait that ran out: SQLite's SQLITE_BUSY
// (its busy timeout passed) and PostgreSQL's lock_not_available (55P03,
// lock_timeout passed).
func isLockTimeout(err error) bool {
	const sqliteBusy = 5
	var coded interface{ Code() int }
	if errors.As(err, &coded) && coded.Code()&0xff == sqliteBusy {
		return true
	}
	var pg interface{ SQLState() string }
	return errors.As(err, &pg) && pg.SQLState() == "55P03"
}

// JournalChains lists the chains (evm.TxRecord.Chain) on which the journal
// holds transactions of sender, so a program can tell a user that the chain
// it now sees is not the one it sent on before.
func (s *Store) JournalChains(ctx context.Context, sender string) ([]string, error) {
	var chains []string
	if err := s.read(ctx).Model(&txRow{}).Where("sender_key = ?", senderKey(sender)).
		Distinct().Pluck("chain", &chains).Error; err != nil {
		return nil, fmt.Errorf("memory: journal chains: %w", err)
	}
	return chains, nil
}
