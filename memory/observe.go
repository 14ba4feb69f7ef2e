package memory

import (
	"context"
	"fmt"
	"time"
)

// Observer hears what an operator watches the database for: how long each
// durable commit took and how many writes it carried (ledger charges,
// decision records, journal rows, reviews: more than one when group commit
// gathered them), and how long a sender waited for a wallet's nonce lock.
// Its methods are called on the writing goroutine and must not block.
type Observer interface {
	Committed(took time.Duration, writes int)
	NonceWaited(took time.Duration)
}

// committed tells the observer about one durable commit that began at
// start and carried writes writes.
func (s *Store) committed(start time.Time, writes int) {
	if o := s.observer(); o != nil && writes > 0 {
		o.Committed(time.Since(start), writes)
	}
}

// Observe sets the store's Observer (nil: none). Set it before the store is
// shared: front ends do so right after Open.
func (s *Store) Observe(o Observer) { s.obs.Store(&o) }

func (s *Store) observer() Observer {
	if p := s.obs.Load(); p != nil {
		return *p
	}
	return nil
}

// JournalStates counts the journal's transactions by status, for a
// metrics scrape: a growing "signed" or "sent" count is a sender that
// cannot get its transactions mined.
func (s *Store) JournalStates(ctx context.Context) (map[string]int64, error) {
	var rows []struct {
		Status string
		N      int64
	}
	if err := s.read(ctx).Raw("SELECT status, COUNT(*) AS n FROM tx_journal GROUP BY status").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("memory: journal states: %w", err)
	}
	out := make(map[string]int64, len(rows))
	for _, r := range rows {
		out[r.Status] = r.N
	}
	return out, nil
}

// Ping checks that the database answers, for a readiness probe.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.read(ctx).Raw("SELECT 1").Scan(&one).Error; err != nil {
		return fmt.Errorf("memory: ping: %w", err)
	}
	return nil
}
