package evm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// MemJournal is a Journal in memory, the default of a Wallet made without
// WithJournal. It keeps the Wallet's guarantees within one process (no
// duplicate idempotency keys, replacement instead of duplication) but
// forgets everything on exit; programs that must survive a restart pass
// memory.Store's journal instead.
type MemJournal struct {
	mu     sync.Mutex
	rows   map[string]*TxRecord // by rowID: chain and lower-case hash
	seq    []string             // insertion order
	nonces senderLocks
}

// NewMemJournal returns an empty in-memory journal.
func NewMemJournal() *MemJournal { return &MemJournal{rows: map[string]*TxRecord{}} }

var (
	_ Journal     = (*MemJournal)(nil)
	_ NonceLocker = (*MemJournal)(nil)
)

// LockNonces runs fn holding this journal's lock on the nonces of from on
// chain, which every Wallet sharing the journal in this process takes. fn's
// writes are not rolled back when it fails: the Wallet makes its one write
// last.
func (m *MemJournal) LockNonces(ctx context.Context, chain, from string, fn func(context.Context, Journal) error) error {
	unlock, err := m.nonces.lock(ctx, chain+"/"+strings.ToLower(from))
	if err != nil {
		return err
	}
	defer unlock()
	return fn(ctx, m)
}

// senderLocks are in-process locks, one per sender, whose waiters give up
// when their context ends. The zero value is ready to use.
type senderLocks struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func (l *senderLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[string]chan struct{}{}
	}
	sem, ok := l.m[key]
	if !ok {
		sem = make(chan struct{}, 1)
		l.m[key] = sem
	}
	l.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: %w", ErrNonceLockTimeout, ctx.Err())
		}
		return nil, ctx.Err()
	}
}

// rowID names a row: one signed transaction may be journaled on two chains
// that share an id (see TxRecord.Chain).
func rowID(chain, hash string) string { return chain + "\x00" + strings.ToLower(hash) }

func copyRec(r TxRecord) TxRecord {
	r.Raw = bytes.Clone(r.Raw)
	return r
}

// Insert records a signed transaction.
func (m *MemJournal) Insert(_ context.Context, rec TxRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rec.Hash == "" {
		return fmt.Errorf("evm: journal: record without hash")
	}
	h := rowID(rec.Chain, rec.Hash)
	if _, ok := m.rows[h]; ok {
		return fmt.Errorf("evm: journal: transaction %s: %w", rec.Hash, ErrDuplicateHash)
	}
	if rec.Key != "" {
		for _, r := range m.rows {
			if r.Key == rec.Key && r.Chain == rec.Chain && strings.EqualFold(r.From, rec.From) {
				return ErrDuplicateKey
			}
		}
	}
	now := time.Now()
	if rec.CreatedAt.IsZero() {
		rec.CreatedAt = now
	}
	rec.UpdatedAt = now
	c := copyRec(rec)
	m.rows[h] = &c
	m.seq = append(m.seq, h)
	return nil
}

// Update sets the status, ReplacedBy, Error and Block of a transaction.
func (m *MemJournal) Update(_ context.Context, rec TxRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[rowID(rec.Chain, rec.Hash)]
	if !ok {
		return fmt.Errorf("evm: journal: no transaction %s", rec.Hash)
	}
	if rec.Status == TxSent && r.Status != TxSigned && r.Status != TxSent {
		return nil // already further along (see Journal.Update)
	}
	r.Status, r.ReplacedBy, r.Error, r.Block = rec.Status, rec.ReplacedBy, rec.Error, rec.Block
	r.UpdatedAt = time.Now()
	return nil
}

// ByKey returns the first transaction sent under an idempotency key.
func (m *MemJournal) ByKey(_ context.Context, chain, from, key string) (TxRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range m.seq {
		r := m.rows[h]
		if r.Key == key && r.Chain == chain && strings.EqualFold(r.From, from) {
			return copyRec(*r), true, nil
		}
	}
	return TxRecord{}, false, nil
}

// KeyedElsewhere returns a transaction journaled under key for from on a
// chain other than chain.
func (m *MemJournal) KeyedElsewhere(_ context.Context, chain, from, key string) (TxRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range m.seq {
		r := m.rows[h]
		if key != "" && r.Key == key && r.Chain != chain && strings.EqualFold(r.From, from) {
			return copyRec(*r), true, nil
		}
	}
	return TxRecord{}, false, nil
}

// ByHash returns a transaction of chain by hash.
func (m *MemJournal) ByHash(_ context.Context, chain, hash string) (TxRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.rows[rowID(chain, hash)]
	if !ok {
		return TxRecord{}, false, nil
	}
	return copyRec(*r), true, nil
}

// Open lists a sender's transactions whose status is not final, by nonce.
func (m *MemJournal) Open(_ context.Context, chain, from string) ([]TxRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []TxRecord
	for _, h := range m.seq {
		r := m.rows[h]
		if r.Chain == chain && strings.EqualFold(r.From, from) && !r.Status.Final() {
			out = append(out, copyRec(*r))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Nonce < out[j].Nonce })
	return out, nil
}

// MaxNonce returns the highest nonce journaled for a sender that is not
// TxFailed.
func (m *MemJournal) MaxNonce(_ context.Context, chain, from string) (uint64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var (
		max   uint64
		found bool
	)
	for _, r := range m.rows {
		if r.Chain == chain && strings.EqualFold(r.From, from) && r.Status != TxFailed {
			if !found || r.Nonce > max {
				max, found = r.Nonce, true
			}
		}
	}
	return max, found, nil
}

// Records returns every record in insertion order (tests, debugging).
func (m *MemJournal) Records() []TxRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]TxRecord, 0, len(m.seq))
	for _, h := range m.seq {
		out = append(out, copyRec(*m.rows[h]))
	}
	return out
}
