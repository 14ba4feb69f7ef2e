package dex_test

import (
	"testing"

	"github.com/mandatehq/mandate/orders"
)

// TestOrderKeyLookalikes: Keys that only look like
// an order's run key -- another case, a leading or trailing space, a
// Cyrillic "о", a full-width hyphen -- pass tools.CheckKey, but the journal
// and the ledger compare keys byte for byte, so none of them takes the run
// over: the order still executes under its own key, in a transaction of
// its own.
func TestOrderKeyLookalikes(t *testing.T) {
	e := newBook(t)
	res, err := e.call(t, "order_place", map[string]string{"kind": "stop", "from": "ETH", "to": "USDC", "amount": "0.05", "trigger": "ETH <= 1000000"})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Data.(orders.Order)
	k := o.Key()
	for _, key := range []string{"ORDER" + k[5:], " " + k, k + " ", "\u043e" + k[1:], "order\uff0d" + k[6:], k + "\u200b"} {
		res, err := e.call(t, "dex_swap", map[string]string{"from": "ETH", "to": "USDC", "amount": "0.0001", "idempotency_key": key})
		if err != nil {
			t.Logf("key %q refused: %v", key, err)
			continue
		}
		t.Logf("key %q accepted: %s", key, res.Text)
	}
	if err := e.book.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := e.order(t, o.ID)
	rec, ok, _ := e.w.Journal().ByKey(t.Context(), e.w.JournalChain(), e.w.Address().Hex(), k)
	if got.Status != orders.Filled || !ok || rec.Hash != got.LastTx {
		t.Fatalf("the order's own run did not execute under %q: %+v (journal %v %+v)", k, got, ok, rec)
	}
}
