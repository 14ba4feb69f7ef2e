package memory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
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

// journal implements evm.Journal over a Store.
type journal struct{ s *Store }

var _ evm.Journal = journal{}

// Journal returns the transaction journal, for the EVM wallet's sender.
func (s *Store) Journal() evm.Journal { return journal{s} }

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
		Raw:         rec.Raw,
		Status:      string(rec.Status),
		ReplacedBy:  normHash(rec.ReplacedBy),
		ErrorText:   rec.Error,
		BlockNumber: int64(rec.Block),
		CreatedAtNs: nanos(rec.CreatedAt),
		UpdatedAtNs: nanos(rec.UpdatedAt),
	}
	err := j.s.write(ctx, func(tx *gorm.DB) error { return tx.Create(&row).Error })
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
// rec.Hash, and its UpdatedAt (now, when rec.UpdatedAt is zero). An unknown
// hash fails with an error wrapping ErrNotFound.
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
	err := j.s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&txRow{}).Where("hash = ?", normHash(rec.Hash)).Updates(map[string]any{
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

// ByHash returns a transaction by hash.
func (j journal) ByHash(ctx context.Context, hash string) (evm.TxRecord, bool, error) {
	return j.one(ctx, "hash = ?", normHash(hash))
}

func (j journal) one(ctx context.Context, where string, args ...any) (evm.TxRecord, bool, error) {
	var rows []txRow
	if err := j.s.read(ctx).Where(where, args...).Order("id").Limit(1).Find(&rows).Error; err != nil {
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
	if err := j.s.read(ctx).
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

// MaxNonce returns the highest nonce journaled for a sender whose status is
// not failed (a failed transaction never left, so its nonce is free).
func (j journal) MaxNonce(ctx context.Context, chain, from string) (uint64, bool, error) {
	var n sql.NullInt64
	if err := j.s.read(ctx).Model(&txRow{}).
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
		Raw:        r.Raw,
		Status:     evm.TxStatus(r.Status),
		ReplacedBy: r.ReplacedBy,
		Error:      r.ErrorText,
		Block:      uint64(r.BlockNumber),
		CreatedAt:  fromNanos(r.CreatedAtNs),
		UpdatedAt:  fromNanos(r.UpdatedAtNs),
	}
}
