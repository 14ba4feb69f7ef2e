package memory_test

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// The window sums read from hour counters and the boundary hour's rows are
// exactly the sums of the live spends, for windows starting anywhere
// (on an hour, inside one, before every spend, after them), with releases
// taken off, and with amounts beyond 64 bits.
func TestSpentIsExactAcrossHours(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			l := st.Store.Ledger()
			rng := rand.New(rand.NewPCG(1, 2))
			base := day.Add(-48 * time.Hour).Truncate(time.Hour)
			type spent struct {
				at     time.Time
				amount *big.Int
				live   bool
			}
			var all []*spent
			huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
			for i := range 80 {
				at := base.Add(time.Duration(rng.Int64N(int64(72 * time.Hour))))
				if i%10 == 0 {
					at = base.Add(time.Duration(i/10) * time.Hour) // exactly on an hour
				}
				amount := big.NewInt(rng.Int64N(1_000_000) + 1)
				if i == 7 {
					amount = new(big.Int).Set(huge)
				}
				id := fmt.Sprintf("s%d", i)
				if err := l.Commit(ctx, approve(id, at, policies.Spend{Bucket: "B", Amount: amount}), nil); err != nil {
					t.Fatal(err)
				}
				all = append(all, &spent{at: at, amount: amount, live: true})
				if i%7 == 3 {
					if err := l.Release(ctx, id, "never sent"); err != nil {
						t.Fatal(err)
					}
					all[i].live = false
				}
			}
			sinces := []time.Time{base.Add(-time.Hour), base, base.Add(80 * time.Hour), {}}
			for range 40 {
				sinces = append(sinces, base.Add(time.Duration(rng.Int64N(int64(74*time.Hour)))-time.Hour))
			}
			for i := range 4 {
				sinces = append(sinces, base.Add(time.Duration(i*7)*time.Hour)) // on an hour
			}
			for _, since := range sinces {
				want := new(big.Int)
				for _, s := range all {
					if s.live && !s.at.Before(since) {
						want.Add(want, s.amount)
					}
				}
				got, err := l.Spent(ctx, "B", since)
				if err != nil {
					t.Fatal(err)
				}
				if got.Cmp(want) != 0 {
					t.Fatalf("Spent since %s = %s, want %s", since.Format(time.RFC3339Nano), got, want)
				}
			}
			rep, err := st.Store.VerifyAudit(ctx)
			if err != nil || rep.Broken != nil {
				t.Fatalf("audit after the spends: %v %v", rep.Broken, err)
			}
		})
	}
}
