package wallet_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

// commits counts the store's durable commits and the writes they carried.
type commits struct {
	mu             sync.Mutex
	commits, wrote int
}

func (c *commits) Committed(_ time.Duration, writes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.commits++
	c.wrote += writes
}

func (*commits) NonceWaited(time.Duration) {}

func (c *commits) take() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, w := c.commits, c.wrote
	c.commits, c.wrote = 0, 0
	return n, w
}

// TestTransferTwoDurableWrites holds a transfer to the budget: the
// journal row (with the approval's charge and its decision record) before
// the broadcast, and the outcome once mined. Nothing in between.
func TestTransferTwoDurableWrites(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			e := setup(t, st.Store, 1337)
			var c commits
			st.Store.Observe(&c)
			defer st.Store.Observe(nil)

			res, err := e.call(t, ctx, "wallet_transfer", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "1.5"})
			if err != nil {
				t.Fatalf("transfer: %v", err)
			}
			if res.Outcome.Tx == nil || res.Outcome.Tx.Status != string(evm.TxMined) {
				t.Fatalf("transfer not mined: %+v", res.Outcome.Tx)
			}
			if n, w := c.take(); n != 2 || w != 2 {
				t.Fatalf("a transfer made %d durable commits carrying %d writes, want 2 and 2", n, w)
			}
			rec, ok, err := st.Store.Journal().ByHash(ctx, e.w.JournalChain(), res.Outcome.Tx.Hash)
			if err != nil || !ok || rec.Status != evm.TxMined || rec.Block == 0 {
				t.Fatalf("journal row = %+v, %v, %v; want it mined with its block", rec, ok, err)
			}
			decs, err := st.Store.Decisions(ctx, memory.DecisionFilter{Wallet: e.w.Address().Hex()})
			if err != nil || len(decs) != 1 {
				t.Fatalf("decisions = %d, %v; want the one approval recorded", len(decs), err)
			}
		})
	}
}
