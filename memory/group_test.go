package memory_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// Writes that arrive together share commits, and each keeps its own
// outcome: of 200 concurrent charges against a limit that fits 120, exactly
// 120 commit and 80 are refused with the limit's error, the refused ones
// leave nothing behind (no decision, no spend, no audit record), and every
// one that was acknowledged is there after a reopen.
func TestGroupCommitKeepsEachOutcome(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			l := st.Store.Ledger()
			lim := []policies.Limit{{Rule: "limits.daily.ETH", Bucket: "ETH", Max: big.NewInt(120), Since: day.Add(-24 * 60 * 60 * 1e9)}}
			var wg sync.WaitGroup
			errs := make([]error, 200)
			for i := range errs {
				wg.Go(func() {
					errs[i] = l.Commit(ctx, approve(fmt.Sprintf("g%d", i), day, spend("ETH", 1)), lim)
				})
			}
			wg.Wait()
			ok, refused := 0, 0
			for i, err := range errs {
				var le *policies.LimitError
				switch {
				case err == nil:
					ok++
				case errors.As(err, &le):
					refused++
				default:
					t.Fatalf("commit %d: %v", i, err)
				}
			}
			if ok != 120 || refused != 80 {
				t.Fatalf("%d committed and %d refused, want 120 and 80", ok, refused)
			}
			again, err := memory.Open(ctx, st.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			spent, err := again.Ledger().Spent(ctx, "ETH", day.Add(-24*60*60*1e9))
			if err != nil || spent.Int64() != 120 {
				t.Fatalf("after a reopen the bucket holds %v (%v), want 120", spent, err)
			}
			rep, err := again.VerifyAudit(ctx)
			if err != nil || rep.Broken != nil || rep.Decisions != 120 || rep.Links != 120 {
				t.Fatalf("audit after the groups: %+v, broken %v, %v", rep, rep.Broken, err)
			}
		})
	}
}

// A write whose context ended before a group took it does not happen.
func TestGroupCommitCancelledBeforeTaken(t *testing.T) {
	st := memtest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := st.Store.Ledger().Commit(ctx, approve("c1", day, spend("ETH", 1)), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("commit with an ended context: %v", err)
	}
	rep, err := st.Store.VerifyAudit(context.Background())
	if err != nil || rep.Decisions != 0 {
		t.Fatalf("a cancelled commit left %d decisions (%v)", rep.Decisions, err)
	}
}
