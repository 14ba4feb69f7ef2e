package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/mandatehq/mandate/cosigner"
)

// reviewStore implements cosigner.Store over a Store.
type reviewStore struct{ s *Store }

var _ cosigner.Store = reviewStore{}

// Reviews returns the co-signer's review records: each Safe transaction's
// answer, kept so a second review (after a restart, or on another replica)
// returns the first approval and its signature instead of signing again.
func (s *Store) Reviews() cosigner.Store { return reviewStore{s} }

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

func (r reviewStore) Get(ctx context.Context, chain, h string) (cosigner.Decision, bool, error) {
	var row reviewRow
	err := r.s.read(ctx).Where("chain = ? AND safe_tx_hash = ?", chain, strings.ToLower(h)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return cosigner.Decision{}, false, nil
	}
	if err != nil {
		return cosigner.Decision{}, false, fmt.Errorf("memory: review %s: %w", h, err)
	}
	d := cosigner.Decision{Decision: row.Decision, SafeTxHash: row.SafeTxHash, Safe: row.Safe, ChainID: row.Chain,
		Nonce: uint64(row.Nonce), Signature: row.Signature, At: time.Unix(0, row.AtNs).UTC()}
	if err := json.Unmarshal([]byte(row.Reasons), &d.Reasons); err != nil {
		return cosigner.Decision{}, false, fmt.Errorf("memory: review %s: reasons: %w", h, err)
	}
	if err := json.Unmarshal([]byte(row.Intents), &d.Intents); err != nil {
		return cosigner.Decision{}, false, fmt.Errorf("memory: review %s: intents: %w", h, err)
	}
	// The stored form is lower case; give the hash back as it was computed.
	d.SafeTxHash = h
	return d, true, nil
}

func (r reviewStore) Put(ctx context.Context, d cosigner.Decision) error {
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
	err = r.s.db.WithContext(ctx).Exec(`INSERT INTO cosigner_reviews
		(chain, safe_tx_hash, safe, nonce, decision, reasons, intents, signature, at_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (chain, safe_tx_hash) DO UPDATE SET
			decision = excluded.decision, reasons = excluded.reasons, intents = excluded.intents,
			signature = excluded.signature, at_ns = excluded.at_ns
		WHERE cosigner_reviews.decision <> 'approve'`,
		d.ChainID, strings.ToLower(d.SafeTxHash), d.Safe, int64(d.Nonce), d.Decision, cleanText(string(reasons)), string(intents), d.Signature, at.UnixNano()).Error
	if err != nil {
		return fmt.Errorf("memory: record review %s: %w", d.SafeTxHash, err)
	}
	return nil
}
