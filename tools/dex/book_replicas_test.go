package dex_test

import (
	"context"
	"encoding/json"
	"math/big"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/dex"
)

// slowGate runs hook once, right after the engine approved an intent whose
// idempotency key is key: the replica that claimed the run is "slow" from
// here on (in production: the swap's approval waiting to be mined, which
// is journaled only under KEY+"/approve"; a stalled RPC; the wallet's nonce
// lock held by another send) for longer than claimGrace.
type slowGate struct {
	tools.Gate
	key  *atomic.Value // string
	hook func()
}

func (g slowGate) Decide(ctx context.Context, in policies.Intent) (policies.Approval, error) {
	ap, err := g.Gate.Decide(ctx, in)
	if k, _ := g.key.Load().(string); k != "" && in.Head().Key == k {
		g.key.Store("")
		g.hook()
	}
	return ap, err
}

type replica struct {
	store *memory.Store
	w     *evm.Wallet
	book  *dex.Book
	reg   *tools.Registry
}

// openReplica is one process of the agent: its own connection to the shared
// database, its own wallet object over the same key, its own book.
func openReplica(t *testing.T, d *devnet.Devnet, key, db string, now func() time.Time, confirm uint64, wrap func(tools.Gate) tools.Gate) *replica {
	t.Helper()
	pr := openProcess(t, d, key, db, wrap)
	book := dex.NewBook(pr.store.Orders(), pr.w, pr.dex, dex.BookTokenList(pr.list), dex.BookClock(now), dex.BookConfirmBlocks(confirm))
	return &replica{store: pr.store, w: pr.w, book: book, reg: tools.NewRegistry(pr.dex, book.Tools())}
}

func (r *replica) call(t *testing.T, name string, args any) (tools.Result, error) {
	t.Helper()
	b, _ := json.Marshal(args)
	return r.reg.Call(t.Context(), name, b)
}

// TestSlowRunTakenOverExecutesOnce: a run another replica takes over
// executes once. The race it pins: replica A claims a stop
// order's run (open -> executing) and is slow before anything is journaled
// under the run's key. After claimGrace (2 min, read from the clock),
// replica B's recover() takes the run for abandoned: it bumps Attempt and
// gives it back to open, then executes it under the new key
// "order-N-1.1". A then carries on under "order-N-1": a different key, so
// neither the ledger nor the journal stops it. One stop order, two swaps.
func TestSlowRunTakenOverExecutesOnce(t *testing.T) {
	d := devnettest.Shared(t)
	acct, _ := devnettest.Account(t, d)
	db := filepath.Join(t.TempDir(), "shared.db")
	var key atomic.Value
	var b *replica
	a := openReplica(t, d, acct.PrivateKey, db, time.Now, 1, func(g tools.Gate) tools.Gate {
		return slowGate{Gate: g, key: &key, hook: func() {
			// Replica B's pass, "3 minutes later", while A is still in flight.
			if err := b.book.Check(t.Context()); err != nil {
				t.Errorf("replica B: %v", err)
			}
		}}
	})
	b = openReplica(t, d, acct.PrivateKey, db, func() time.Time { return time.Now().Add(3 * time.Minute) }, 1, nil)

	res, err := a.call(t, "order_place", map[string]string{"kind": "stop", "from": "ETH", "to": "USDC", "amount": "0.05", "trigger": "ETH <= 1000000"})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Data.(orders.Order)
	key.Store(o.Key()) // "order-N-1"
	ctx := t.Context()
	usdc := d.Address("USDC")
	before, _ := a.w.Client().TokenBalance(ctx, usdc, a.w.Address())
	if err := a.book.Check(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := a.w.Client().TokenBalance(ctx, usdc, a.w.Address())

	got, _ := a.store.Orders().Get(ctx, a.w.Client().ChainKey(), a.w.Address().Hex(), o.ID)
	var mined []string
	for _, k := range []string{o.Key(), o.Key() + ".1"} {
		if rec, ok, _ := a.w.Journal().ByKey(ctx, a.w.JournalChain(), a.w.Address().Hex(), k); ok && rec.Status == evm.TxMined {
			mined = append(mined, k+"="+rec.Hash)
		}
	}
	t.Logf("order #%d now %s (done %d, last tx %s); USDC %s -> %s; swaps mined: %v", o.ID, got.Status, got.Done, got.LastTx, before, after, mined)
	if len(mined) > 1 {
		t.Fatalf("one stop order of 0.05 ETH swapped %d times (%s); USDC received %s base units",
			len(mined), strings.Join(mined, ", "), new(big.Int).Sub(after, before))
	}
}

// TestCancelWhileRunInFlight: a cancel while a replica still runs the
// order is refused. The race it pins: the same take-over, with the
// default two-block confirmation on replica B, so B only gives the run
// back to open. The owner then cancels and is told "Order #N cancelled.";
// replica A, still in flight, swaps anyway.
func TestCancelWhileRunInFlight(t *testing.T) {
	d := devnettest.Shared(t)
	acct, _ := devnettest.Account(t, d)
	db := filepath.Join(t.TempDir(), "shared.db")
	var key atomic.Value
	var b *replica
	var orderID int64
	var cancelText string
	a := openReplica(t, d, acct.PrivateKey, db, time.Now, 1, func(g tools.Gate) tools.Gate {
		return slowGate{Gate: g, key: &key, hook: func() {
			if err := b.book.Check(t.Context()); err != nil {
				t.Errorf("replica B: %v", err)
			}
			res, err := b.call(t, "order_cancel", map[string]any{"id": orderID})
			if err != nil {
				t.Logf("cancel refused: %v", err)
				return
			}
			cancelText = res.Text
		}}
	})
	b = openReplica(t, d, acct.PrivateKey, db, func() time.Time { return time.Now().Add(3 * time.Minute) }, 2, nil)

	res, err := a.call(t, "order_place", map[string]string{"kind": "stop", "from": "ETH", "to": "USDC", "amount": "0.05", "trigger": "ETH <= 1000000"})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Data.(orders.Order)
	orderID = o.ID
	key.Store(o.Key())
	ctx := t.Context()
	if err := a.book.Check(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := a.store.Orders().Get(ctx, a.w.Client().ChainKey(), a.w.Address().Hex(), o.ID)
	rec, sent, _ := a.w.Journal().ByKey(ctx, a.w.JournalChain(), a.w.Address().Hex(), o.Key())
	t.Logf("cancel answered %q; order now %s; swap under %s: sent %v %s %s", cancelText, got.Status, o.Key(), sent, rec.Hash, rec.Status)
	if got.Status == orders.Cancelled && sent && rec.Status == evm.TxMined {
		t.Fatalf("the owner was told %q, the order reads %s, and its run swapped anyway in %s", cancelText, got.Status, rec.Hash)
	}
}
