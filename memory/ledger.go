package memory

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/mandatehq/mandate/policies"
)

// decisionRow is a row of the decisions table: the audit of every decision,
// and the parent of the spends an approval charges.
type decisionRow struct {
	ID            int64  `gorm:"column:id;primaryKey;autoIncrement"`
	ApprovalID    string `gorm:"column:approval_id"`
	Wallet        string `gorm:"column:wallet"`
	Chain         string `gorm:"column:chain"`
	WalletKey     string `gorm:"column:wallet_key"` // Wallet as compared; see walletKey
	IdemKey       string `gorm:"column:idem_key"`
	Kind          string `gorm:"column:kind"`
	Digest        string `gorm:"column:digest"`
	Intent        string `gorm:"column:intent"`
	Decision      string `gorm:"column:decision"`
	Reasons       string `gorm:"column:reasons"`
	Prices        string `gorm:"column:prices"`
	AtNs          int64  `gorm:"column:at_ns"`
	ReleasedAtNs  *int64 `gorm:"column:released_at_ns"`
	ReleaseReason string `gorm:"column:release_reason"`
	SupersededBy  string `gorm:"column:superseded_by"` // the approval that retried this one under its key
}

func (decisionRow) TableName() string { return "decisions" }

// spendRow is an amount an approval charged to a bucket. It counts against
// the bucket's limits while VoidedAtNs is nil.
type spendRow struct {
	ID         int64  `gorm:"column:id;primaryKey;autoIncrement"`
	DecisionID int64  `gorm:"column:decision_id"`
	Bucket     string `gorm:"column:bucket"`
	Amount     string `gorm:"column:amount"` // canonical decimal, never negative
	AtNs       int64  `gorm:"column:at_ns"`
	VoidedAtNs *int64 `gorm:"column:voided_at_ns"`
}

func (spendRow) TableName() string { return "spends" }

// The conditions of the ledger's lookups repeat, as literals, the WHERE of
// the partial index each one must use: SQLite (and PostgreSQL with a generic
// plan) can only use a partial index when the query's own terms imply the
// index's condition, which a bound parameter never does. Without them the
// idempotency check scans every decision of the wallet.
// TestQueryPlans holds them to it.
const (
	whereLiveSpends  = "bucket = ? AND at_ns >= ? AND voided_at_ns IS NULL"                                                 // spends_live
	whereKeyApproval = "wallet_key = ? AND idem_key = ? AND idem_key <> '' AND decision = 'approve' AND superseded_by = ''" // decisions_key
	whereApproval    = "approval_id = ? AND approval_id <> '' AND decision = 'approve'"                                     // decisions_approval
)

// ledger implements policies.Ledger over a Store.
type ledger struct{ s *Store }

var _ policies.Ledger = ledger{}

// Ledger returns the spend ledger and decision audit, for
// policies.NewEngine.
func (s *Store) Ledger() policies.Ledger { return ledger{s} }

// Commit records an approval and its spends after checking every limit, in
// one write transaction. See policies.Ledger for the contract.
//
// Serialisation: on SQLite the transaction begins IMMEDIATE, so it holds the
// database's single write lock from its first statement and no other writer
// (goroutine or process) can interleave between the limit check and the
// insert. On PostgreSQL the transaction first takes pg_advisory_xact_lock on
// a 64-bit hash of every bucket it checks or charges (and of the
// idempotency key), in ascending order so two commits can never deadlock;
// under READ COMMITTED each later statement then sees everything the
// previous holder committed. Advisory locks were chosen over SELECT … FOR
// UPDATE on bucket rows because a bucket needs no row to exist first (no
// upsert-then-lock round trip, no table of counters to keep in step with
// the spends), and they are released by COMMIT or ROLLBACK whatever happens.
// A hash collision between two buckets only makes their commits queue, it
// never lets one pass unchecked.
func (l ledger) Commit(ctx context.Context, e policies.Entry, limits []policies.Limit) error {
	s := l.s
	if e.ApprovalID == "" {
		return fmt.Errorf("memory: commit: approval ID is empty: %w", ErrInvalid)
	}
	if e.Decision == "" {
		e.Decision = policies.DecisionApprove
	}
	if e.Decision != policies.DecisionApprove {
		return fmt.Errorf("memory: commit: decision %q is not approve (use Record): %w", e.Decision, ErrInvalid)
	}
	charge := map[string]*big.Int{} // this entry's total per bucket
	for _, sp := range e.Spends {
		if sp.Bucket == "" || sp.Amount == nil || sp.Amount.Sign() < 0 {
			return fmt.Errorf("memory: commit %s: spend %q of %v: bucket must be named and amount non-negative: %w",
				e.ApprovalID, sp.Bucket, sp.Amount, ErrInvalid)
		}
		if charge[sp.Bucket] == nil {
			charge[sp.Bucket] = new(big.Int)
		}
		charge[sp.Bucket].Add(charge[sp.Bucket], sp.Amount)
	}
	for _, lim := range limits {
		if lim.Bucket == "" || lim.Max == nil {
			return fmt.Errorf("memory: commit %s: limit %s needs a bucket and a max: %w", e.ApprovalID, lim.Rule, ErrInvalid)
		}
	}
	row, err := newDecisionRow(e)
	if err != nil {
		return err
	}

	err = s.write(ctx, func(tx *gorm.DB) error {
		if s.backend == backendPostgres {
			if err := lockPostgres(tx, lockKeys(e, limits)); err != nil {
				return err
			}
		}
		// A key already used is found by decisions_key refusing the row
		// (handled below), not looked up first: one statement fewer for
		// every approval. A retry under the key is the exception.
		if e.Key != "" && e.Supersedes != "" {
			dup, found, err := firstApproval(tx, e.Wallet, e.Key)
			if err != nil {
				return err
			}
			if found && dup.ApprovalID != e.Supersedes {
				return dup
			}
			if found {
				if err := s.supersede(tx, e.Supersedes, e.ApprovalID, e.SupersededSent); err != nil {
					return err
				}
			}
		}
		spent, counters, err := sumWindows(tx, windows(limits))
		if err != nil {
			return err
		}
		for i, lim := range limits {
			add := charge[lim.Bucket]
			if add == nil {
				add = new(big.Int)
			}
			if new(big.Int).Add(spent[i], add).Cmp(lim.Max) > 0 {
				// A retry of an action approved before is told so, even
				// when its limit has filled since.
				if e.Key != "" && e.Supersedes == "" {
					dup, found, err := firstApproval(tx, e.Wallet, e.Key)
					if err != nil {
						return err
					}
					if found {
						return dup
					}
				}
				return &policies.LimitError{Limit: lim, Spent: spent[i], Amount: add}
			}
		}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		spends := make([]spendRow, len(e.Spends))
		for i, sp := range e.Spends {
			spends[i] = spendRow{DecisionID: row.ID, Bucket: sp.Bucket, Amount: sp.Amount.String(), AtNs: row.AtNs}
		}
		if len(spends) > 0 {
			if err := tx.Create(&spends).Error; err != nil {
				return err
			}
			if err := addCounters(tx, spends, 1, counters); err != nil {
				return err
			}
		}
		return s.chain(tx, auditDecision, row, spends)
	})
	var dup *policies.DuplicateError
	var lim *policies.LimitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &dup), errors.As(err, &lim):
		return err
	case errors.Is(err, gorm.ErrDuplicatedKey):
		// A unique index refused the row: the approval ID was committed
		// before (a retried commit whose first attempt went through), or,
		// as a last line of defence, the key was taken by a writer that
		// did not serialise with us. Say which.
		if e.Key != "" {
			if dup, found, qerr := firstApproval(s.read(ctx), e.Wallet, e.Key); qerr == nil && found {
				return dup
			}
		}
		return fmt.Errorf("memory: commit %s: %w (%w)", e.ApprovalID, ErrDuplicateApproval, policies.ErrApprovalCommitted)
	}
	return fmt.Errorf("memory: commit %s: %w", e.ApprovalID, err)
}

// supersede marks the approval prior superseded by next, which takes it out
// of the key's unique index so next can hold the key, and (unless its
// transaction was sent, on another chain) releases it: its attempt signed
// nothing. Inside a commit's transaction, which a refusal rolls back.
func (s *Store) supersede(tx *gorm.DB, prior, next string, sent bool) error {
	now := time.Now().UnixNano()
	var row decisionRow
	if err := tx.Where(whereApproval, prior).Limit(1).Find(&row).Error; err != nil {
		return err
	}
	updates := map[string]any{"superseded_by": next}
	if sent {
		if err := tx.Model(&decisionRow{}).Where("id = ?", row.ID).Updates(updates).Error; err != nil {
			return err
		}
		return s.chainUpdate(tx, row.ID)
	}
	if row.ReleasedAtNs == nil {
		updates["released_at_ns"] = now
		updates["release_reason"] = "superseded by approval " + next + ", the retry of this attempt under its idempotency key; this attempt signed nothing"
	}
	if err := tx.Model(&decisionRow{}).Where("id = ?", row.ID).Updates(updates).Error; err != nil {
		return err
	}
	if err := s.voidSpends(tx, row.ID, now); err != nil {
		return err
	}
	return s.chainUpdate(tx, row.ID)
}

// Release voids the spends of a committed approval so they stop counting,
// and records why. Releasing twice keeps the first reason. The approval's
// idempotency key stays used: the contract is that a key names one action,
// and a release only says that action did not happen, not that another may
// reuse its name.
func (l ledger) Release(ctx context.Context, approvalID, reason string) error {
	s := l.s
	now := time.Now().UnixNano()
	err := s.write(ctx, func(tx *gorm.DB) error {
		var row decisionRow
		res := tx.Where(whereApproval, approvalID).Limit(1).Find(&row)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fmt.Errorf("approval %q: %w (%w)", approvalID, ErrNotFound, policies.ErrUnknownApproval)
		}
		if row.ReleasedAtNs != nil {
			return nil
		}
		if err := tx.Model(&decisionRow{}).Where("id = ?", row.ID).
			Updates(map[string]any{"released_at_ns": now, "release_reason": reason}).Error; err != nil {
			return err
		}
		if err := s.voidSpends(tx, row.ID, now); err != nil {
			return err
		}
		return s.chainUpdate(tx, row.ID)
	})
	if err != nil {
		return fmt.Errorf("memory: release: %w", err)
	}
	return nil
}

// Record writes a denial or an ask to the audit. It charges nothing and
// does not consume the idempotency key (the ask's approval commits under
// it later); e.Spends are not stored.
func (l ledger) Record(ctx context.Context, e policies.Entry) error {
	if e.Decision != policies.DecisionDeny && e.Decision != policies.DecisionAsk {
		return fmt.Errorf("memory: record: decision %q is not deny or ask (approvals go through Commit): %w", e.Decision, ErrInvalid)
	}
	row, err := newDecisionRow(e)
	if err != nil {
		return err
	}
	if err := l.s.write(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		return l.s.chain(tx, auditDecision, row, nil)
	}); err != nil {
		return fmt.Errorf("memory: record: %w", err)
	}
	return nil
}

// Spent sums the live spends of bucket whose decision time is at or after
// since.
func (l ledger) Spent(ctx context.Context, bucket string, since time.Time) (*big.Int, error) {
	sums, _, err := sumWindows(l.s.read(ctx), []window{{bucket, since}})
	if err != nil {
		return nil, fmt.Errorf("memory: spent %s: %w", bucket, err)
	}
	return sums[0], nil
}

func windows(limits []policies.Limit) []window {
	ws := make([]window, len(limits))
	for i, lim := range limits {
		ws[i] = window{lim.Bucket, lim.Since}
	}
	return ws
}

// firstApproval returns the approval that consumed wallet's idempotency key.
func firstApproval(db *gorm.DB, wallet, key string) (*policies.DuplicateError, bool, error) {
	var rows []decisionRow
	err := db.Model(&decisionRow{}).Select("approval_id", "digest").Where(whereKeyApproval, walletKey(wallet), key).
		Order("id").Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, false, err
	}
	return &policies.DuplicateError{Key: key, ApprovalID: rows[0].ApprovalID, Digest: rows[0].Digest}, true, nil
}

// lockKeys are the advisory lock keys a commit takes: one per bucket it
// checks or charges, one for its idempotency key; sorted and distinct.
func lockKeys(e policies.Entry, limits []policies.Limit) []int64 {
	var keys []int64
	for _, lim := range limits {
		keys = append(keys, lockKey("bucket", lim.Bucket))
	}
	for _, sp := range e.Spends {
		keys = append(keys, lockKey("bucket", sp.Bucket))
	}
	if e.Key != "" {
		keys = append(keys, lockKey("key", walletKey(e.Wallet), e.Key))
	}
	slices.SortFunc(keys, cmp.Compare)
	return slices.Compact(keys)
}

// lockKey hashes a namespaced name to an advisory lock key. The "mandate"
// prefix keeps Mandate's keys apart from other users of the same database,
// up to hash collisions, which cost only waiting.
func lockKey(parts ...string) int64 {
	h := fnv.New64a()
	h.Write([]byte("mandate/ledger"))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return int64(h.Sum64())
}

func lockPostgres(tx *gorm.DB, keys []int64) error {
	for _, k := range keys {
		if err := pgAdvisoryLock(tx, k); err != nil {
			return fmt.Errorf("lock bucket: %w", err)
		}
	}
	return nil
}

// pgAdvisoryLock takes a transaction-scoped advisory lock in tx: waiting
// for it alone, only trying it in a group (errWouldWait when it is held
// elsewhere, see group.go).
func pgAdvisoryLock(tx *gorm.DB, key int64) error {
	g := groupOf(tx.Statement.Context)
	if g == nil {
		return tx.Exec("SELECT pg_advisory_xact_lock(?)", key).Error
	}
	if g.has(key) {
		return nil
	}
	var got bool
	if err := tx.Raw("SELECT pg_try_advisory_xact_lock(?)", key).Scan(&got).Error; err != nil {
		return err
	}
	if !got {
		return errWouldWait
	}
	g.add(key)
	return nil
}

func newDecisionRow(e policies.Entry) (decisionRow, error) {
	if e.Wallet == "" {
		return decisionRow{}, fmt.Errorf("memory: entry %s has no wallet: %w", e.ApprovalID, ErrInvalid)
	}
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	reasons, err := marshalStrings(e.Reasons)
	if err != nil {
		return decisionRow{}, err
	}
	prices, err := marshalStrings(e.Prices)
	if err != nil {
		return decisionRow{}, err
	}
	return decisionRow{
		ApprovalID: e.ApprovalID,
		Wallet:     e.Wallet,
		WalletKey:  walletKey(e.Wallet),
		Chain:      e.Chain,
		IdemKey:    e.Key,
		Kind:       string(e.Kind),
		Digest:     e.Digest,
		Intent:     string(e.Intent), // text, not JSONB: the bytes stay exactly as digested
		Decision:   string(e.Decision),
		Reasons:    reasons,
		Prices:     prices,
		AtNs:       nanos(at),
	}, nil
}

// walletKey is the form wallets are compared in, the same rule as the
// policy engine's: an EVM address ("0x" and 40 more characters) is
// lower-cased, because its letter case is only a checksum; anything else
// (Solana's case-sensitive base58, which never starts with "0") is kept.
// Without it "0xAb…" and "0xab…" would be two wallets with separate
// idempotency keys.
func walletKey(w string) string {
	if len(w) == 42 && (w[:2] == "0x" || w[:2] == "0X") {
		return strings.ToLower(w)
	}
	return w
}

func marshalStrings(ss []string) (string, error) {
	if len(ss) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(ss)
	return string(b), err
}

func unmarshalStrings(s string) ([]string, error) {
	var ss []string
	if err := json.Unmarshal([]byte(s), &ss); err != nil {
		return nil, err
	}
	if len(ss) == 0 {
		return nil, nil
	}
	return ss, nil
}

var (
	minNanoTime = time.Unix(0, math.MinInt64)
	maxNanoTime = time.Unix(0, math.MaxInt64)
)

// nanos converts a time to stored Unix nanoseconds, clamping times outside
// 1678–2262 (including the zero Time, "since the beginning") to the ends.
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minNanoTime):
		return math.MinInt64
	case t.After(maxNanoTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// fromNanos is the inverse of nanos, in UTC.
func fromNanos(ns int64) time.Time { return time.Unix(0, ns).UTC() }
