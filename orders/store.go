package orders

import (
	"context"
	"errors"
	"fmt"
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
//
// A chain is named by its key, ChainKey: the chain id and the genesis
// block's hash. An order placed on one chain is never listed or returned
// on another that shares its id (a devnet restarted over the same
// database), so it never executes there.
type Store interface {
	// Place stores a new order and returns it with its ID. The order names
	// its chain by id and genesis.
	Place(ctx context.Context, o Order) (Order, error)
	// Get returns one order of the wallet on chain (a ChainKey).
	Get(ctx context.Context, chain, wallet string, id int64) (Order, error)
	// List returns the wallet's orders on chain (a ChainKey), newest
	// first; only the live ones (open or executing, Status.Live) if asked.
	List(ctx context.Context, chain, wallet string, liveOnly bool) ([]Order, error)
	// Adopt gives chain (a ChainKey) the wallet's orders on its chain id
	// that were placed before orders recorded their chain's genesis and
	// were placed at or after since, and returns how many it adopted.
	// dex.Book passes the time of the chain's genesis block: an order
	// placed while the chain existed is taken to be its, one placed before
	// the chain began belongs to a chain it replaced and stays unadopted.
	Adopt(ctx context.Context, chain, wallet string, since time.Time) (int, error)
	// Elsewhere counts the wallet's live orders on other chains with
	// chain's id: placed on another genesis, or before genesis was
	// recorded and not adopted. They are kept, and never execute on chain.
	Elsewhere(ctx context.Context, chain, wallet string) (int, error)
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

// normKey checks a ChainKey and writes it the way orders compare it.
func normKey(key string) (string, error) {
	chain, genesis, err := SplitChainKey(key)
	if err != nil {
		return "", err
	}
	return ChainKey(chain, genesis), nil
}

// Place implements Store.
func (m *MemStore) Place(_ context.Context, o Order) (Order, error) {
	if o.Chain == "" || o.Genesis == "" {
		return Order{}, fmt.Errorf("orders: place: %w; the order names chain %q, genesis %q", ErrChainKey, o.Chain, o.Genesis)
	}
	o.Genesis = strings.ToLower(o.Genesis)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	o.ID = m.next
	now := time.Now()
	o.CreatedAt, o.UpdatedAt = now, now
	m.orders[o.ID] = clone(o)
	return clone(o), nil
}

func sameWallet(o Order, key, wallet string) bool {
	return o.Genesis != "" && o.ChainKey() == key && strings.EqualFold(o.Wallet, wallet)
}

// Get implements Store.
func (m *MemStore) Get(_ context.Context, chain, wallet string, id int64) (Order, error) {
	key, err := normKey(chain)
	if err != nil {
		return Order{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.orders[id]
	if !ok || !sameWallet(o, key, wallet) {
		return Order{}, ErrNotFound
	}
	return clone(o), nil
}

// List implements Store.
func (m *MemStore) List(_ context.Context, chain, wallet string, liveOnly bool) ([]Order, error) {
	key, err := normKey(chain)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Order
	for _, o := range m.orders {
		if sameWallet(o, key, wallet) && (!liveOnly || o.Status.Live()) {
			out = append(out, clone(o))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	return out, nil
}

// Adopt implements Store.
func (m *MemStore) Adopt(_ context.Context, chain, wallet string, since time.Time) (int, error) {
	id, genesis, err := SplitChainKey(chain)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, o := range m.orders {
		if o.Chain == id && o.Genesis == "" && strings.EqualFold(o.Wallet, wallet) && !o.CreatedAt.Before(since) {
			o.Genesis = genesis
			m.orders[k] = o
			n++
		}
	}
	return n, nil
}

// Elsewhere implements Store.
func (m *MemStore) Elsewhere(_ context.Context, chain, wallet string) (int, error) {
	id, genesis, err := SplitChainKey(chain)
	if err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, o := range m.orders {
		if o.Chain == id && o.Genesis != genesis && strings.EqualFold(o.Wallet, wallet) && o.Status.Live() {
			n++
		}
	}
	return n, nil
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
	o.Chain, o.Genesis, o.CreatedAt = cur.Chain, cur.Genesis, cur.CreatedAt // where and when it was placed never change
	m.orders[o.ID] = clone(o)
	return nil
}
