package policies

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// MemLedger is a Ledger in memory, for tests, benchmarks and one-shot
// evaluations such as `mandate policy eval`. Its counters die with the
// process, so an agent that moves real value uses the database ledger of the
// memory package instead.
//
// Spends are kept per bucket in time order with a running total, and spends
// older than the longest window the ledger has been asked about (at least
// 24 hours) are pruned, so a long-running benchmark does not grow it without
// bound. Only the most recent entries are kept for Entries.
type MemLedger struct {
	mu           sync.Mutex
	buckets      map[string]*memBucket
	approvals    map[string][]*memSpend // approval id -> its spends, for Release
	approvalQ    []memApprovalRef       // approvals in time order, for pruning
	approvalHead int                    // approvalQ[:approvalHead] is pruned
	keys         map[string]memKey      // wallet + "\x00" + key -> the approval that used it
	retain       time.Duration
	latest       time.Time

	entries []Entry // ring of the most recent entries
	next    int
	full    bool

	scratch [2]big.Int // Commit's arithmetic, under mu
}

// memEntries is how many recent entries MemLedger keeps.
const memEntries = 1024

type memBucket struct {
	recs  []*memSpend // time-ordered; recs[head:] are live or released
	head  int
	total *big.Int // sum of the live spends in recs[head:]
}

type memSpend struct {
	at     time.Time
	amount big.Int
	live   bool // false once released or pruned
	bucket *memBucket
}

type memKey struct{ approvalID, digest string }

type memApprovalRef struct {
	at time.Time
	id string
}

// NewMemLedger returns an empty in-memory ledger.
func NewMemLedger() *MemLedger {
	return &MemLedger{
		buckets:   map[string]*memBucket{},
		approvals: map[string][]*memSpend{},
		keys:      map[string]memKey{},
		retain:    window,
		entries:   make([]Entry, memEntries),
	}
}

var _ Ledger = (*MemLedger)(nil)

// Commit implements Ledger: it checks every limit, then charges the spends
// and records the entry, all under one lock.
func (l *MemLedger) Commit(ctx context.Context, e Entry, limits []Limit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.ApprovalID == "" {
		return errors.New("memledger: commit without an approval id")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, done := l.approvals[e.ApprovalID]; done {
		return fmt.Errorf("memledger: commit %s: %w", e.ApprovalID, ErrApprovalCommitted)
	}
	var keyID string
	var superseded []*memSpend // released for e, given back if a limit refuses e
	if e.Key != "" {
		keyID = addrKey(e.Wallet) + "\x00" + e.Key
		if first, dup := l.keys[keyID]; dup {
			if e.Supersedes == "" || first.approvalID != e.Supersedes {
				return &DuplicateError{Key: e.Key, ApprovalID: first.approvalID, Digest: first.digest}
			}
			if !e.SupersededSent { // the key passes to e below
				superseded = l.release(first.approvalID)
			}
		}
	}
	for _, lim := range limits {
		l.observe(e.At, lim.Since)
	}
	l.observe(e.At, e.At)
	spent, add := &l.scratch[0], &l.scratch[1]
	for _, lim := range limits {
		l.bucket(lim.Bucket).sinceInto(spent, lim.Since)
		add.SetInt64(0)
		for _, s := range e.Spends {
			if s.Bucket == lim.Bucket {
				add.Add(add, s.Amount)
			}
		}
		if spent.Add(spent, add).Cmp(lim.Max) > 0 {
			spent.Sub(spent, add)
			l.unrelease(e.Supersedes, superseded)
			return &LimitError{Limit: lim, Spent: new(big.Int).Set(spent), Amount: new(big.Int).Set(add)}
		}
	}
	// One allocation for all of the entry's spends.
	recs := make([]*memSpend, 0, len(e.Spends))
	spends := make([]memSpend, len(e.Spends))
	for i, s := range e.Spends {
		if s.Amount == nil || s.Amount.Sign() <= 0 {
			continue
		}
		b := l.bucket(s.Bucket)
		r := &spends[i]
		*r = memSpend{at: e.At, live: true, bucket: b}
		r.amount.Set(s.Amount)
		b.insert(r)
		recs = append(recs, r)
	}
	l.approvals[e.ApprovalID] = recs
	l.approvalQ = append(l.approvalQ, memApprovalRef{e.At, e.ApprovalID})
	if keyID != "" {
		l.keys[keyID] = memKey{e.ApprovalID, e.Digest}
	}
	l.record(e)
	return nil
}

// Release implements Ledger. Releasing an approval the ledger no longer
// holds (pruned, or never committed) does nothing.
func (l *MemLedger) Release(ctx context.Context, approvalID, reason string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.release(approvalID)
	return nil
}

// release voids an approval's live spends, and returns them; under l.mu.
// The approval stays known (Commit refuses its ID again), with nothing live.
func (l *MemLedger) release(approvalID string) []*memSpend {
	recs, ok := l.approvals[approvalID]
	if !ok {
		return nil
	}
	var voided []*memSpend
	for _, r := range recs {
		if r.live {
			r.live = false
			r.bucket.total.Sub(r.bucket.total, &r.amount)
			voided = append(voided, r)
		}
	}
	l.approvals[approvalID] = nil
	return voided
}

// unrelease gives back what release voided for a commit that was refused;
// under l.mu.
func (l *MemLedger) unrelease(approvalID string, voided []*memSpend) {
	if approvalID == "" {
		return
	}
	for _, r := range voided {
		r.live = true
		r.bucket.total.Add(r.bucket.total, &r.amount)
	}
	l.approvals[approvalID] = voided
}

// Record implements Ledger.
func (l *MemLedger) Record(ctx context.Context, e Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.record(e)
	return nil
}

// Spent implements Ledger.
func (l *MemLedger) Spent(ctx context.Context, bucket string, since time.Time) (*big.Int, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[bucket]
	if !ok {
		return new(big.Int), nil
	}
	return b.since(since), nil
}

// Entries returns the most recent entries (up to 1024), oldest first.
func (l *MemLedger) Entries() []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.full {
		return append([]Entry(nil), l.entries[:l.next]...)
	}
	return append(append([]Entry(nil), l.entries[l.next:]...), l.entries[:l.next]...)
}

func (l *MemLedger) record(e Entry) {
	l.entries[l.next] = e
	l.next++
	if l.next == len(l.entries) {
		l.next, l.full = 0, true
	}
}

// observe widens the retention to cover a window ending at at, and prunes
// what falls out of it.
func (l *MemLedger) observe(at, since time.Time) {
	if d := at.Sub(since); d > l.retain {
		l.retain = d
	}
	if !at.After(l.latest) {
		return
	}
	l.latest = at
	cutoff := at.Add(-l.retain)
	for _, b := range l.buckets {
		b.prune(cutoff)
	}
	for l.approvalHead < len(l.approvalQ) && l.approvalQ[l.approvalHead].at.Before(cutoff) {
		delete(l.approvals, l.approvalQ[l.approvalHead].id)
		l.approvalQ[l.approvalHead] = memApprovalRef{}
		l.approvalHead++
	}
	// Compact once the pruned prefix is most of the queue: amortised O(1).
	if l.approvalHead > 64 && l.approvalHead > len(l.approvalQ)/2 {
		l.approvalQ = append(l.approvalQ[:0], l.approvalQ[l.approvalHead:]...)
		l.approvalHead = 0
	}
}

func (l *MemLedger) bucket(name string) *memBucket {
	b, ok := l.buckets[name]
	if !ok {
		b = &memBucket{total: new(big.Int)}
		l.buckets[name] = b
	}
	return b
}

// insert keeps recs in time order; spends nearly always arrive in order, so
// the search from the end is short.
func (b *memBucket) insert(r *memSpend) {
	i := len(b.recs)
	for i > b.head && b.recs[i-1].at.After(r.at) {
		i--
	}
	b.recs = append(b.recs, nil)
	copy(b.recs[i+1:], b.recs[i:])
	b.recs[i] = r
	b.total.Add(b.total, &r.amount)
}

// since sums the live spends at or after t: the running total less the
// live spends before t, which are few when t is the window's start.
func (b *memBucket) since(t time.Time) *big.Int { return b.sinceInto(new(big.Int), t) }

func (b *memBucket) sinceInto(out *big.Int, t time.Time) *big.Int {
	out.Set(b.total)
	for _, r := range b.recs[b.head:] {
		if !r.at.Before(t) {
			break
		}
		if r.live {
			out.Sub(out, &r.amount)
		}
	}
	return out
}

func (b *memBucket) prune(cutoff time.Time) {
	for b.head < len(b.recs) && b.recs[b.head].at.Before(cutoff) {
		r := b.recs[b.head]
		if r.live {
			b.total.Sub(b.total, &r.amount)
			r.live = false
		}
		b.recs[b.head] = nil
		b.head++
	}
	if b.head > 64 && b.head > len(b.recs)/2 {
		b.recs = append(b.recs[:0], b.recs[b.head:]...)
		b.head = 0
	}
}
