package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Review is the co-signer's answer to one Safe transaction as the
// database keeps it. It has the fields of cosigner.Decision, in the same
// order, so the co-signer converts one to the other with a type
// conversion; memory does not import the co-signer, which sits below it in
// the layers (and would link the Safe code into every program that keeps
// a conversation).
type Review struct {
	Decision   string
	SafeTxHash string
	Reasons    []string
	Intents    []json.RawMessage
	Signature  string
	Safe       string
	ChainID    string
	Nonce      uint64
	At         time.Time
}

// Reviews is the co-signer's review records: each Safe transaction's
// answer, kept so a second review (after a restart, or on another replica)
// returns the first approval and its signature instead of signing again.
// cosigner.ReviewStore makes it the co-signer's Store.
type Reviews struct{ s *Store }

// Reviews returns the co-signer's review records.
func (s *Store) Reviews() *Reviews { return &Reviews{s} }

type reviewRow struct {
	Chain      string `gorm:"column:chain"`
	SafeTxHash string `gorm:"column:safe_tx_hash"`
	Safe       string `gorm:"column:safe"`
	Nonce      int64  `gorm:"column:nonce"`
	Decision   string `gorm:"column:decision"`
	Reasons    string `gorm:"column:reasons"`
	Intents    string `gorm:"column:intents"`
	Signature  string `gorm:"column:signature"`
	AtNs       int64  `gorm:"column:at_ns"`
}

func (reviewRow) TableName() string { return "cosigner_reviews" }

// Get returns the recorded review of the Safe transaction hash h on chain,
// if any.
func (r *Reviews) Get(ctx context.Context, chain, h string) (Review, bool, error) {
	var row reviewRow
	err := r.s.read(ctx).Where("chain = ? AND safe_tx_hash = ?", chain, strings.ToLower(h)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Review{}, false, nil
	}
	if err != nil {
		return Review{}, false, fmt.Errorf("memory: review %s: %w", h, err)
	}
	d := Review{Decision: row.Decision, SafeTxHash: row.SafeTxHash, Safe: row.Safe, ChainID: row.Chain,
		Nonce: uint64(row.Nonce), Signature: row.Signature, At: time.Unix(0, row.AtNs).UTC()}
	if err := json.Unmarshal([]byte(row.Reasons), &d.Reasons); err != nil {
		return Review{}, false, fmt.Errorf("memory: review %s: reasons: %w", h, err)
	}
	if err := json.Unmarshal([]byte(row.Intents), &d.Intents); err != nil {
		return Review{}, false, fmt.Errorf("memory: review %s: intents: %w", h, err)
	}
	// The stored form is lower case; give the hash back as it was computed.
	d.SafeTxHash = h
	return d, true, nil
}

// Put records a review. An approval, once recorded, is never replaced.
func (r *Reviews) Put(ctx context.Context, d Review) error {
	reasons, err := json.Marshal(d.Reasons)
	if err != nil {
		return err
	}
	intents, err := json.Marshal(d.Intents)
	if err != nil {
		return err
	}
	at := d.At
	if at.IsZero() {
		at = time.Now()
	}
	// An approval stays: a later review of the same transaction cannot
	// replace it (nor its signature) with anything else.
	err = r.s.write(ctx, func(tx *gorm.DB) error {
		return tx.Exec(`INSERT INTO cosigner_reviews
		(chain, safe_tx_hash, safe, nonce, decision, reasons, intents, signature, at_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (chain, safe_tx_hash) DO UPDATE SET
			decision = excluded.decision, reasons = excluded.reasons, intents = excluded.intents,
			signature = excluded.signature, at_ns = excluded.at_ns
		WHERE cosigner_reviews.decision <> 'approve'`,
			d.ChainID, strings.ToLower(d.SafeTxHash), d.Safe, int64(d.Nonce), d.Decision, cleanText(string(reasons)), string(intents), d.Signature, at.UnixNano()).Error
	})
	if err != nil {
		return fmt.Errorf("memory: record review %s: %w", d.SafeTxHash, err)
	}
	return nil
}

// Atomically runs fn so that every write of this store it makes (the
// ledger's charge and decision record, a review) commits together or not
// at all: the co-signer records an approval's review in the transaction
// that charges it.
func (r *Reviews) Atomically(ctx context.Context, fn func(ctx context.Context) error) error {
	return r.s.Atomically(ctx, fn)
}
