package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/policies"
)

// orderRow is a row of orders.
type orderRow struct {
	ID          int64  `gorm:"column:id;primaryKey;autoIncrement"`
	Chain       string `gorm:"column:chain"`
	Genesis     string `gorm:"column:genesis"` // '' for orders placed before it was recorded, until adopted
	Wallet      string `gorm:"column:wallet"`
	WalletKey   string `gorm:"column:wallet_key"`
	Kind        string `gorm:"column:kind"`
	FromToken   string `gorm:"column:from_token"`
	ToToken     string `gorm:"column:to_token"`
	Amount      string `gorm:"column:amount"`
	Trig        string `gorm:"column:trig"`
	SlippageBps *int64 `gorm:"column:slippage_bps"`
	EveryNs     int64  `gorm:"column:every_ns"`
	Runs        int64  `gorm:"column:runs"`
	Done        int64  `gorm:"column:done"`
	Attempt     int64  `gorm:"column:attempt"`
	NextAtNs    int64  `gorm:"column:next_at_ns"`
	Status      string `gorm:"column:status"`
	Note        string `gorm:"column:note"`
	LastTx      string `gorm:"column:last_tx"`
	CreatedAtNs int64  `gorm:"column:created_at_ns"`
	UpdatedAtNs int64  `gorm:"column:updated_at_ns"`
}

func (orderRow) TableName() string { return "orders" }

// orderStore implements orders.Store over a Store.
type orderStore struct{ s *Store }

var _ orders.Store = orderStore{}

// Orders returns the standing orders store: orders and their progress
// survive restarts, and the compare-and-set in Update keeps two watchers
// (replicas on one PostgreSQL) from recording the same run twice.
func (s *Store) Orders() orders.Store { return orderStore{s} }

func unixNs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNs(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

func toRow(o orders.Order) (orderRow, error) {
	if o.Chain == "" || o.Wallet == "" || o.Amount == nil || o.Amount.Sign() <= 0 {
		return orderRow{}, fmt.Errorf("memory: order: chain, wallet and a positive amount are required: %w", ErrInvalid)
	}
	from, err := json.Marshal(o.From)
	if err != nil {
		return orderRow{}, err
	}
	to, err := json.Marshal(o.To)
	if err != nil {
		return orderRow{}, err
	}
	r := orderRow{
		ID: o.ID, Chain: o.Chain, Genesis: strings.ToLower(o.Genesis), Wallet: o.Wallet, WalletKey: strings.ToLower(o.Wallet), Kind: string(o.Kind),
		FromToken: string(from), ToToken: string(to), Amount: o.Amount.String(), Trig: o.Trigger,
		EveryNs: int64(o.Every), Runs: int64(o.Runs), Done: int64(o.Done), Attempt: int64(o.Attempt), NextAtNs: unixNs(o.NextAt),
		Status: string(o.Status), Note: cleanText(o.Note), LastTx: o.LastTx,
		CreatedAtNs: unixNs(o.CreatedAt), UpdatedAtNs: unixNs(o.UpdatedAt),
	}
	if o.SlippageBps != nil {
		v := int64(*o.SlippageBps)
		r.SlippageBps = &v
	}
	return r, nil
}

func (r orderRow) order() (orders.Order, error) {
	o := orders.Order{
		ID: r.ID, Chain: r.Chain, Genesis: r.Genesis, Wallet: r.Wallet, Kind: orders.Kind(r.Kind), Trigger: r.Trig,
		Every: time.Duration(r.EveryNs), Runs: int(r.Runs), Done: int(r.Done), Attempt: int(r.Attempt), NextAt: fromNs(r.NextAtNs),
		Status: orders.Status(r.Status), Note: r.Note, LastTx: r.LastTx,
		CreatedAt: fromNs(r.CreatedAtNs), UpdatedAt: fromNs(r.UpdatedAtNs),
	}
	var ok bool
	if o.Amount, ok = new(big.Int).SetString(r.Amount, 10); !ok {
		return orders.Order{}, fmt.Errorf("memory: order %d: stored amount %q is not an integer", r.ID, r.Amount)
	}
	var from, to policies.Token
	if err := json.Unmarshal([]byte(r.FromToken), &from); err != nil {
		return orders.Order{}, fmt.Errorf("memory: order %d: from token: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(r.ToToken), &to); err != nil {
		return orders.Order{}, fmt.Errorf("memory: order %d: to token: %w", r.ID, err)
	}
	o.From, o.To = from, to
	if r.SlippageBps != nil {
		v := uint32(*r.SlippageBps)
		o.SlippageBps = &v
	}
	return o, nil
}

func (st orderStore) Place(ctx context.Context, o orders.Order) (orders.Order, error) {
	if o.Genesis == "" {
		return orders.Order{}, fmt.Errorf("memory: place order: the order names no genesis block of chain %q (%w): %w", o.Chain, orders.ErrChainKey, ErrInvalid)
	}
	now := time.Now()
	o.ID, o.CreatedAt, o.UpdatedAt = 0, now, now
	r, err := toRow(o)
	if err != nil {
		return orders.Order{}, err
	}
	if err := st.s.write(ctx, func(tx *gorm.DB) error { return tx.Create(&r).Error }); err != nil {
		return orders.Order{}, fmt.Errorf("memory: place order: %w", err)
	}
	o.ID, o.Genesis = r.ID, r.Genesis
	return o, nil
}

// onChain restricts q to the wallet's orders on the chain named by key
// (orders.ChainKey): its id and its genesis.
func onChain(q *gorm.DB, key, wallet string) (*gorm.DB, error) {
	chain, genesis, err := orders.SplitChainKey(key)
	if err != nil {
		return nil, fmt.Errorf("memory: orders: %w", err)
	}
	return q.Where("chain = ? AND genesis = ? AND genesis <> '' AND wallet_key = ?", chain, genesis, strings.ToLower(wallet)), nil
}

func (st orderStore) Get(ctx context.Context, chain, wallet string, id int64) (orders.Order, error) {
	q, err := onChain(st.s.read(ctx), chain, wallet)
	if err != nil {
		return orders.Order{}, err
	}
	var r orderRow
	err = q.Where("id = ?", id).Take(&r).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return orders.Order{}, orders.ErrNotFound
	}
	if err != nil {
		return orders.Order{}, fmt.Errorf("memory: order %d: %w", id, err)
	}
	return r.order()
}

func (st orderStore) List(ctx context.Context, chain, wallet string, liveOnly bool) ([]orders.Order, error) {
	q, err := onChain(st.s.read(ctx), chain, wallet)
	if err != nil {
		return nil, err
	}
	if liveOnly {
		q = q.Where("status IN ?", []string{string(orders.Open), string(orders.Executing)})
	}
	var rows []orderRow
	if err := q.Order("id DESC").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("memory: list orders: %w", err)
	}
	out := make([]orders.Order, 0, len(rows))
	for _, r := range rows {
		o, err := r.order()
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

func (st orderStore) Update(ctx context.Context, o orders.Order, prev orders.Order) error {
	o.UpdatedAt = time.Now()
	r, err := toRow(o)
	if err != nil {
		return err
	}
	var affected int64
	err = st.s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&orderRow{}).
			Where("id = ? AND status = ? AND done = ? AND attempt = ?", o.ID, string(prev.Status), prev.Done, prev.Attempt).
			Updates(map[string]any{
				"done": r.Done, "attempt": r.Attempt, "next_at_ns": r.NextAtNs, "status": r.Status, "note": r.Note,
				"last_tx": r.LastTx, "updated_at_ns": r.UpdatedAtNs,
			})
		affected = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("memory: update order %d: %w", o.ID, err)
	}
	if affected == 0 {
		var n int64
		if err := st.s.read(ctx).Model(&orderRow{}).Where("id = ?", o.ID).Count(&n).Error; err == nil && n == 0 {
			return orders.ErrNotFound
		}
		return orders.ErrConflict
	}
	return nil
}

func (st orderStore) Adopt(ctx context.Context, chain, wallet string, since time.Time) (int, error) {
	id, genesis, err := orders.SplitChainKey(chain)
	if err != nil {
		return 0, fmt.Errorf("memory: adopt orders: %w", err)
	}
	var n int64
	err = st.s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&orderRow{}).
			Where("chain = ? AND genesis = '' AND wallet_key = ? AND created_at_ns >= ?", id, strings.ToLower(wallet), since.UnixNano()).
			Update("genesis", genesis)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("memory: adopt orders: %w", err)
	}
	return int(n), nil
}

func (st orderStore) Elsewhere(ctx context.Context, chain, wallet string) (int, error) {
	id, genesis, err := orders.SplitChainKey(chain)
	if err != nil {
		return 0, fmt.Errorf("memory: orders: %w", err)
	}
	var n int64
	err = st.s.read(ctx).Model(&orderRow{}).
		Where("chain = ? AND genesis <> ? AND wallet_key = ? AND status IN ?", id, genesis, strings.ToLower(wallet), []string{string(orders.Open), string(orders.Executing)}).
		Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("memory: orders on other chains: %w", err)
	}
	return int(n), nil
}
