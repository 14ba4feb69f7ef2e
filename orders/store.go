package orders

import (
	"context"
	"errors"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"
)

// ErrNotFound says no order has that id (for that wallet).
var ErrNotFound = errors.New("orders: no such order")

// ErrConflict says the order changed since it was read: another watcher
// (a replica) or a cancel got there first.
var ErrConflict = errors.New("orders: the order changed meanwhile")

// Store keeps orders. memory.Store implements it over the database, so
// orders and their progress survive restarts; MemStore does in memory.
type Store interface {
	// Place stores a new order and returns it with its ID.
	Place(ctx context.Context, o Order) (Order, error)
	// Get returns one order of the wallet.
	Get(ctx context.Context, chain, wallet string, id int64) (Order, error)
	// List returns the wallet's orders, newest first; only the live ones
	// (open or executing, Status.Live) if asked.
	List(ctx context.Context, chain, wallet string, liveOnly bool) ([]Order, error)
	// Update writes o if the stored order still has the status, Done count
	// and Attempt of prev (the order as the caller read it): a
	// compare-and-set, so two watchers cannot both claim or record the
	// same run, a cancel cannot land on an order being executed, and a
	// stale read cannot undo an attempt. ErrConflict otherwise.
	Update(ctx context.Context, o Order, prev Order) error
}

// MemStore is a Store in memory, for tests and programs without a
// database. Orders do not survive the process.
type MemStore struct {
	mu     sync.Mutex
	next   int64
	orders map[int64]Order
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{orders: map[int64]Order{}} }

func clone(o Order) Order {
	if o.Amount != nil {
		o.Amount = new(big.Int).Set(o.Amount)
	}
	if o.SlippageBps != nil {
		v := *o.SlippageBps
		o.SlippageBps = &v
	}
	return o
}

// Place implements Store.
func (m *MemStore) Place(_ context.Context, o Order) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	o.ID = m.next
	now := time.Now()
	o.CreatedAt, o.UpdatedAt = now, now
	m.orders[o.ID] = clone(o)
	return clone(o), nil
}

func sameWallet(o Order, chain, wallet string) bool {
	return o.Chain == chain && strings.EqualFold(o.Wallet, wallet)
}

// Get implements Store.
func (m *MemStore) Get(_ context.Context, chain, wallet string, id int64) (Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orders[id]
	if !ok || !sameWallet(o, chain, wallet) {
		return Order{}, ErrNotFound
	}
	return clone(o), nil
}

// List implements Store.
func (m *MemStore) List(_ context.Context, chain, wallet string, liveOnly bool) ([]Order, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Order
	for _, o := range m.orders {
		if sameWallet(o, chain, wallet) && (!liveOnly || o.Status.Live()) {
			out = append(out, clone(o))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// Update implements Store.
func (m *MemStore) Update(_ context.Context, o Order, prev Order) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.orders[o.ID]
	if !ok {
		return ErrNotFound
	}
	if cur.Status != prev.Status || cur.Done != prev.Done || cur.Attempt != prev.Attempt {
		return ErrConflict
	}
	o.UpdatedAt = time.Now()
	m.orders[o.ID] = clone(o)
	return nil
}
