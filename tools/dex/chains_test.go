package dex_test

import (
	"database/sql"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/orders"
)

// TestOrdersStayOnTheirChain: chain A (a devnet) and chain B, a devnet
// started later with the same chain id, over one database. Orders placed on
// A, whose trigger already holds, are neither listed, cancelled nor
// executed on B; B's own order is. An order from before orders recorded
// their chain's genesis (an upgraded database), placed before B began, is
// A's: B leaves it aside and A adopts it.
func TestOrdersStayOnTheirChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two devnets")
	}
	da := devnettest.New(t)
	key := da.Accounts()[0].PrivateKey // funded alike on every devnet
	db := filepath.Join(t.TempDir(), "orders.db")
	now := &clock{t: time.Now()}
	a := openBook(t, da, key, db, now)
	// A chain adopts orders from before genesis was recorded placed from
	// the second after its genesis block's (whole seconds): place them
	// then.
	g, err := da.Client().HeaderByNumber(t.Context(), big.NewInt(0))
	if err != nil {
		t.Fatal(err)
	}
	for time.Now().Unix() <= int64(g.Time) {
		time.Sleep(10 * time.Millisecond)
	}
	place := func(e *bookEnv, amount string) orders.Order {
		t.Helper()
		res, err := e.call(t, "order_place", map[string]string{"kind": "stop", "from": "USDC", "to": "ETH", "amount": amount, "trigger": "ETH >= 1"})
		if err != nil {
			t.Fatal(err)
		}
		return res.Data.(orders.Order)
	}
	onA, legacy := place(a, "10"), place(a, "11")
	forgetGenesis(t, db, legacy.ID)

	db2 := devnettest.New(t)
	b := openBook(t, db2, key, db, now)
	if b.w.Client().Genesis() == a.w.Client().Genesis() || b.w.Chain() != a.w.Chain() {
		t.Fatalf("the second devnet is not a new chain with the same id: %s and %s", a.w.Client().ChainKey(), b.w.Client().ChainKey())
	}
	res, err := b.call(t, "order_list", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	if l := res.Data.([]orders.Order); len(l) != 0 || !strings.Contains(res.Text, "2 open order(s) placed on another chain") {
		t.Fatalf("chain B lists %+v:\n%s\nwant none, and a note of A's 2", l, res.Text)
	}
	if _, err := b.call(t, "order_cancel", map[string]any{"id": onA.ID}); err == nil || !strings.Contains(err.Error(), "no order") {
		t.Fatalf("chain B cancelled chain A's order: %v", err)
	}
	onB := place(b, "12")
	nonce, _ := b.w.Client().PendingNonce(t.Context(), b.w.Address())
	if err := b.book.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := b.order(t, onB.ID); got.Status != orders.Filled {
		t.Fatalf("B's own order after a check on B: %s (%s)", got.Status, got.Note)
	}
	// An approval and B's swap: nothing of A's orders.
	if after, _ := b.w.Client().PendingNonce(t.Context(), b.w.Address()); after != nonce+2 {
		t.Errorf("the check on B sent %d transactions, want B's order's approval and swap only", after-nonce)
	}
	for _, o := range []orders.Order{onA, legacy} {
		for _, k := range []string{o.Key(), o.Key() + "/approve"} {
			if rec, ok, err := b.w.Journal().ByKey(t.Context(), b.w.JournalChain(), b.w.Address().Hex(), k); err != nil || ok {
				t.Errorf("chain B journaled %s under %s of A's order #%d (%v)", rec.Hash, k, o.ID, err)
			}
		}
	}

	// A, started again, takes the order it is older than, and still has
	// its own; neither ran.
	a2 := openBook(t, da, key, db, now)
	res, err = a2.call(t, "order_list", struct{}{})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Data.([]orders.Order)
	if len(l) != 2 || l[0].ID != legacy.ID || l[1].ID != onA.ID || l[0].Status != orders.Open || l[1].Status != orders.Open ||
		l[0].Genesis != a.w.Client().Genesis().Hex() || strings.Contains(res.Text, "another chain") {
		t.Fatalf("chain A lists %+v:\n%s\nwant its two open orders, the older one adopted, and no note (B's order is filled)", l, res.Text)
	}
}

// forgetGenesis makes order id one placed before orders recorded their
// chain's genesis, as a database upgraded from an earlier version holds it.
func forgetGenesis(t *testing.T, db string, id int64) {
	t.Helper()
	h, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Exec("UPDATE orders SET genesis = '' WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
}
