package dex_test

import (
	"context"
	"encoding/json"
	"math/big"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/dex"
)

// hookTool wraps a tool and runs before() ahead of each call once armed.
type hookTool struct {
	tools.Tool
	armed  *atomic.Bool
	before func()
}

func (h hookTool) Call(ctx context.Context, args json.RawMessage) (tools.Result, error) {
	if h.armed.Load() {
		h.armed.Store(false)
		h.before()
	}
	return h.Tool.Call(ctx, args)
}

// TestCancelledOrderDoesNotExecute: an order cancelled while the watcher
// prices it does not execute. The race it pins: Book.Check lists the open orders,
// then (per order) prices it with dex_quote and swaps with dex_swap, without
// re-reading or claiming the order before the swap. An order_cancel that
// lands in that window (the quote is several RPC round trips) succeeds --
// the owner is told "Order #N cancelled." -- and the watcher then executes
// the swap anyway. The order ends "cancelled" with the swap on chain and
// the outcome unrecorded.
func TestCancelledOrderDoesNotExecute(t *testing.T) {
	d := devnettest.Shared(t)
	acct, _ := devnettest.Account(t, d)
	ctx := t.Context()
	pr := openProcess(t, d, acct.PrivateKey, filepath.Join(t.TempDir(), "orders.db"), nil)
	store, w, list, dt := pr.store, pr.w, pr.list, pr.dex
	c := w.Client()
	var armed atomic.Bool
	var book *dex.Book
	var orderID int64
	var cancelText string
	var wrapped []tools.Tool
	for _, tl := range dt {
		if tl.Name() == "dex_quote" {
			// The owner cancels while the watcher is pricing the order.
			tl = hookTool{Tool: tl, armed: &armed, before: func() {
				for _, bt := range book.Tools() {
					if bt.Name() == "order_cancel" {
						raw, _ := json.Marshal(map[string]any{"id": orderID})
						res, err := bt.Call(ctx, raw)
						if err != nil {
							t.Errorf("cancel: %v", err)
						}
						cancelText = res.Text
					}
				}
			}}
		}
		wrapped = append(wrapped, tl)
	}
	book = dex.NewBook(store.Orders(), w, wrapped, dex.BookTokenList(list))
	reg := tools.NewRegistry(wrapped, book.Tools())

	raw, _ := json.Marshal(map[string]string{"kind": "stop", "from": "ETH", "to": "USDC", "amount": "0.05", "trigger": "ETH <= 1000000"})
	res, err := reg.Call(ctx, "order_place", raw)
	if err != nil {
		t.Fatal(err)
	}
	orderID = res.Data.(orders.Order).ID

	before, _ := c.TokenBalance(ctx, d.Address("USDC"), w.Address())
	armed.Store(true)
	if err := book.Check(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := c.TokenBalance(ctx, d.Address("USDC"), w.Address())
	o, err := store.Orders().Get(ctx, w.Client().ChainKey(), w.Address().Hex(), orderID)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cancel answered %q; order now %s (done %d, last tx %q); USDC %s -> %s", cancelText, o.Status, o.Done, o.LastTx, before, after)
	if o.Status == orders.Cancelled && after.Cmp(before) > 0 {
		t.Fatalf("order #%d was cancelled (owner told %q) but the watcher swapped anyway: USDC balance rose by %s",
			orderID, cancelText, new(big.Int).Sub(after, before))
	}
}

// TestOrderKeysAreReserved: an order's run key ("order-ID-RUN") shares the
// wallet's idempotency namespace with keys a model may pass to dex_swap or
// wallet_transfer. A prompt-injected model that swapped dust under an open
// order's next key would have the watcher take that swap for the order's
// run. Keys with the reserved prefix (and derived-key "/") are refused in
// tool arguments, so only the book uses them.
func TestOrderKeysAreReserved(t *testing.T) {
	e := newBook(t)
	res, err := e.call(t, "order_place", map[string]string{"kind": "stop", "from": "ETH", "to": "USDC", "amount": "0.05", "trigger": "ETH <= 1000000"})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Data.(orders.Order)
	for _, key := range []string{o.Key(), "x/approve"} {
		if _, err := e.call(t, "dex_swap", map[string]string{"from": "ETH", "to": "USDC", "amount": "0.0001", "idempotency_key": key}); err == nil || !strings.Contains(err.Error(), "idempotency_key") {
			t.Fatalf("key %q: %v, want it refused", key, err)
		}
	}
	if err := e.book.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := e.order(t, o.ID); got.Status != orders.Filled || got.LastTx == "" {
		t.Fatalf("the order's own run: %+v", got)
	}
}
