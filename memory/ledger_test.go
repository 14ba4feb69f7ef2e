package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

const wallet = "0x1111111111111111111111111111111111111111"

// day is the fixed "now" of the ledger tests: no test reads the clock.
var day = time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)

func approve(id string, at time.Time, spends ...policies.Spend) policies.Entry {
	return policies.Entry{
		ApprovalID: id,
		Wallet:     wallet,
		Chain:      "1337",
		Kind:       policies.KindTransfer,
		Digest:     "d-" + id,
		Intent:     json.RawMessage(`{"kind":"transfer","id":"` + id + `"}`),
		Decision:   policies.DecisionApprove,
		Reasons:    []string{"within limits"},
		Spends:     spends,
		At:         at,
	}
}

func spend(bucket string, amount int64) policies.Spend {
	return policies.Spend{Bucket: bucket, Amount: big.NewInt(amount)}
}

func daily(bucket string, max int64) policies.Limit {
	return policies.Limit{Bucket: bucket, Max: big.NewInt(max), Since: day.Add(-24 * time.Hour), Rule: "limits.daily." + bucket}
}

func spent(t *testing.T, l policies.Ledger, bucket string, since time.Time) *big.Int {
	t.Helper()
	n, err := l.Spent(context.Background(), bucket, since)
	if err != nil {
		t.Fatalf("Spent(%s): %v", bucket, err)
	}
	return n
}

func wantSpent(t *testing.T, l policies.Ledger, bucket string, since time.Time, want *big.Int) {
	t.Helper()
	if got := spent(t, l, bucket, since); got.Cmp(want) != 0 {
		t.Errorf("Spent(%s, %s) = %s, want %s", bucket, since.Format(time.RFC3339), got, want)
	}
}

func decisions(t *testing.T, s *memory.Store, f memory.DecisionFilter) []policies.Entry {
	t.Helper()
	es, err := s.Decisions(context.Background(), f)
	if err != nil {
		t.Fatalf("Decisions: %v", err)
	}
	return es
}

func TestCommitLimits(t *testing.T) {
	const max = 1000
	tests := []struct {
		name    string
		prior   []int64 // committed first, each must pass
		amount  int64
		wantErr bool
	}{
		{"under the limit", []int64{300}, 699, false},
		{"exactly at the limit", []int64{300, 200}, 500, false},
		{"one base unit over", []int64{300, 200}, 501, true},
		{"alone over the limit", nil, max + 1, true},
		{"zero when full", []int64{max}, 0, false},
	}
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			l := st.Store.Ledger()
			for i, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					bucket := fmt.Sprintf("1337:USDC:%d", i)
					lim := daily(bucket, max)
					var before int64
					for j, amt := range tc.prior {
						id := fmt.Sprintf("prior-%d-%d", i, j)
						if err := l.Commit(ctx, approve(id, day, spend(bucket, amt)), []policies.Limit{lim}); err != nil {
							t.Fatalf("prior commit %d: %v", amt, err)
						}
						before += amt
					}
					id := fmt.Sprintf("case-%d", i)
					err := l.Commit(ctx, approve(id, day, spend(bucket, tc.amount)), []policies.Limit{lim})
					var le *policies.LimitError
					switch {
					case !tc.wantErr && err != nil:
						t.Fatalf("Commit: %v", err)
					case tc.wantErr && !errors.As(err, &le):
						t.Fatalf("Commit error = %v, want *policies.LimitError", err)
					case tc.wantErr:
						if le.Spent.Int64() != before || le.Amount.Int64() != tc.amount || le.Limit.Rule != lim.Rule || le.Limit.Max.Int64() != max {
							t.Errorf("LimitError = {Spent %s, Amount %s, Rule %s, Max %s}, want {%d, %d, %s, %d}",
								le.Spent, le.Amount, le.Limit.Rule, le.Limit.Max, before, tc.amount, lim.Rule, max)
						}
						wantSpent(t, l, bucket, lim.Since, big.NewInt(before))
						if es := decisions(t, st.Store, memory.DecisionFilter{ApprovalID: id}); len(es) != 0 {
							t.Errorf("refused commit left %d decisions", len(es))
						}
					default:
						wantSpent(t, l, bucket, lim.Since, big.NewInt(before+tc.amount))
						if es := decisions(t, st.Store, memory.DecisionFilter{ApprovalID: id}); len(es) != 1 {
							t.Errorf("commit recorded %d decisions, want 1", len(es))
						}
					}
				})
			}
		})
	}
}

// A commit checks every limit it is given, and two spends of one bucket in
// an entry add up.
func TestCommitEveryLimit(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			l := st.Store.Ledger()
			limits := []policies.Limit{daily("ETH", 10), daily("usd", 100)}
			if err := l.Commit(ctx, approve("a", day, spend("ETH", 4), spend("ETH", 4), spend("usd", 50)), limits); err != nil {
				t.Fatal(err)
			}
			err := l.Commit(ctx, approve("b", day, spend("ETH", 1), spend("usd", 51)), limits)
			var le *policies.LimitError
			if !errors.As(err, &le) || le.Limit.Bucket != "usd" || le.Spent.Int64() != 50 || le.Amount.Int64() != 51 {
				t.Fatalf("Commit = %v, want the usd limit exceeded by 51 over 50", err)
			}
			wantSpent(t, l, "ETH", time.Time{}, big.NewInt(8))
			wantSpent(t, l, "usd", time.Time{}, big.NewInt(50))
		})
	}
}

func TestWindowExcludesOldSpends(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			l := st.Store.Ledger()
			lim := daily("ETH", 1000)
			if err := l.Commit(ctx, approve("old", day.Add(-25*time.Hour), spend("ETH", 900)), nil); err != nil {
				t.Fatal(err)
			}
			// The window starts exactly at Since: a spend at Since counts.
			if err := l.Commit(ctx, approve("edge", lim.Since, spend("ETH", 100)), []policies.Limit{lim}); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(ctx, approve("now", day, spend("ETH", 900)), []policies.Limit{lim}); err != nil {
				t.Fatalf("old spend counted in the window: %v", err)
			}
			wantSpent(t, l, "ETH", lim.Since, big.NewInt(1000))
			wantSpent(t, l, "ETH", lim.Since.Add(time.Nanosecond), big.NewInt(900))
			wantSpent(t, l, "ETH", day.Add(-72*time.Hour), big.NewInt(1900))
			wantSpent(t, l, "ETH", time.Time{}, big.NewInt(1900))
		})
	}
}

func TestReleaseStopsCounting(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			l := st.Store.Ledger()
			lim := []policies.Limit{daily("ETH", 1000)}
			if err := l.Commit(ctx, approve("a", day, spend("ETH", 1000)), lim); err != nil {
				t.Fatal(err)
			}
			var le *policies.LimitError
			if err := l.Commit(ctx, approve("b", day, spend("ETH", 1)), lim); !errors.As(err, &le) {
				t.Fatalf("Commit over a full limit = %v, want *LimitError", err)
			}
			if err := l.Release(ctx, "a", "broadcast refused"); err != nil {
				t.Fatal(err)
			}
			if err := l.Release(ctx, "a", "second reason is ignored"); err != nil {
				t.Fatalf("second Release: %v", err)
			}
			wantSpent(t, l, "ETH", time.Time{}, big.NewInt(0))
			if err := l.Commit(ctx, approve("c", day, spend("ETH", 1000)), lim); err != nil {
				t.Fatalf("Commit after Release: %v", err)
			}
			if err := l.Release(ctx, "no-such-approval", "x"); !errors.Is(err, memory.ErrNotFound) {
				t.Errorf("Release(unknown) = %v, want ErrNotFound", err)
			}
			// The released approval stays in the audit with what it charged.
			es := decisions(t, st.Store, memory.DecisionFilter{ApprovalID: "a"})
			if len(es) != 1 || len(es[0].Spends) != 1 || es[0].Spends[0].Amount.Int64() != 1000 {
				t.Errorf("audit of released approval = %+v", es)
			}
		})
	}
}

func TestDuplicateKey(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			l := st.Store.Ledger()
			lim := []policies.Limit{daily("ETH", 1000)}
			keyed := func(id, key string, amount int64) policies.Entry {
				e := approve(id, day, spend("ETH", amount))
				e.Key = key
				return e
			}
			if err := l.Commit(ctx, keyed("first", "k1", 100), lim); err != nil {
				t.Fatal(err)
			}
			err := l.Commit(ctx, keyed("second", "k1", 100), lim)
			var de *policies.DuplicateError
			if !errors.As(err, &de) || de.ApprovalID != "first" || de.Key != "k1" {
				t.Fatalf("Commit with a used key = %v, want DuplicateError naming approval first", err)
			}
			wantSpent(t, l, "ETH", time.Time{}, big.NewInt(100))
			if es := decisions(t, st.Store, memory.DecisionFilter{ApprovalID: "second"}); len(es) != 0 {
				t.Errorf("duplicate recorded %d decisions", len(es))
			}
			// A duplicate is reported even when the limit would also refuse it.
			if err := l.Commit(ctx, keyed("third", "k1", 5000), lim); !errors.As(err, &de) {
				t.Errorf("over-limit duplicate = %v, want DuplicateError", err)
			}
			// An EVM wallet is one wallet in any letter case.
			shouty := keyed("shouty", "k1", 100)
			shouty.Wallet = "0X" + "1111111111111111111111111111111111111111"
			if err := l.Commit(ctx, shouty, lim); !errors.As(err, &de) || de.ApprovalID != "first" {
				t.Errorf("same key, wallet in other case = %v, want DuplicateError", err)
			}
			if n := len(decisions(t, st.Store, memory.DecisionFilter{Wallet: "0X1111111111111111111111111111111111111111"})); n != 1 {
				t.Errorf("Decisions by wallet in other case = %d, want 1", n)
			}
			// Keys are per wallet.
			other := keyed("other-wallet", "k1", 100)
			other.Wallet = "0x2222222222222222222222222222222222222222"
			if err := l.Commit(ctx, other, lim); err != nil {
				t.Errorf("same key, other wallet: %v", err)
			}
			// A release does not free the key.
			if err := l.Release(ctx, "first", "never sent"); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(ctx, keyed("after-release", "k1", 100), lim); !errors.As(err, &de) || de.ApprovalID != "first" {
				t.Errorf("key after release = %v, want DuplicateError", err)
			}
			// An ask does not consume the key: its approval commits under it.
			ask := keyed("ask-1", "k2", 100)
			ask.Decision, ask.Spends = policies.DecisionAsk, nil
			if err := l.Record(ctx, ask); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(ctx, keyed("ask-1", "k2", 100), lim); err != nil {
				t.Errorf("approval after ask under the same key and ID: %v", err)
			}
			// The same approval ID cannot commit twice.
			if err := l.Commit(ctx, approve("ask-1", day, spend("ETH", 1)), lim); !errors.Is(err, memory.ErrDuplicateApproval) {
				t.Errorf("approval ID reused = %v, want ErrDuplicateApproval", err)
			}
		})
	}
}

// Fifty commits race for a daily limit that fits exactly ten, through two
// Stores on one database (two replicas, or two processes on one SQLite
// file). Exactly ten may pass.
func TestConcurrentCommits(t *testing.T) {
	const (
		workers = 50
		fits    = 10
	)
	amount := new(big.Int).Lsh(big.NewInt(1), 70) // above 2^64 too
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			replica, err := memory.Open(ctx, st.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer replica.Close()
			stores := []*memory.Store{st.Store, replica}
			lim := policies.Limit{Bucket: "1337:WETH:daily", Max: new(big.Int).Mul(amount, big.NewInt(fits)), Since: day.Add(-24 * time.Hour), Rule: "limits.daily.WETH"}

			var (
				wg              sync.WaitGroup
				mu              sync.Mutex
				passed, refused int
				other           []error
			)
			start := make(chan struct{})
			for i := range workers {
				wg.Go(func() {
					<-start
					l := stores[i%len(stores)].Ledger()
					err := l.Commit(ctx, approve(fmt.Sprintf("race-%d", i), day, policies.Spend{Bucket: lim.Bucket, Amount: amount}), []policies.Limit{lim})
					var le *policies.LimitError
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						passed++
					case errors.As(err, &le):
						refused++
					default:
						other = append(other, err)
					}
				})
			}
			close(start)
			wg.Wait()
			if len(other) > 0 {
				t.Fatalf("%d commits failed unexpectedly, first: %v", len(other), other[0])
			}
			if passed != fits || refused != workers-fits {
				t.Fatalf("passed %d, refused %d; want %d and %d", passed, refused, fits, workers-fits)
			}
			wantSpent(t, st.Store.Ledger(), lim.Bucket, lim.Since, lim.Max)
			if es := decisions(t, st.Store, memory.DecisionFilter{Limit: 1000}); len(es) != fits {
				t.Errorf("audit holds %d decisions, want %d", len(es), fits)
			}
		})
	}
}

func TestHugeAmounts(t *testing.T) {
	// 2^200+1: far beyond int64, uint64 and a float64's 53-bit mantissa.
	huge := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 200), big.NewInt(1))
	three := new(big.Int).Mul(huge, big.NewInt(3))
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			l := st.Store.Ledger()
			lim := []policies.Limit{{Bucket: "WEI", Max: three, Since: day.Add(-time.Hour), Rule: "limits.daily.ETH"}}
			for i := range 3 {
				if err := l.Commit(ctx, approve(fmt.Sprint("h", i), day, policies.Spend{Bucket: "WEI", Amount: huge}), lim); err != nil {
					t.Fatalf("commit %d: %v", i, err)
				}
			}
			wantSpent(t, l, "WEI", time.Time{}, three)
			var le *policies.LimitError
			if err := l.Commit(ctx, approve("h-over", day, spend("WEI", 1)), lim); !errors.As(err, &le) || le.Spent.Cmp(three) != 0 {
				t.Fatalf("one wei over 3·(2^200+1) = %v, want LimitError with the exact spent", err)
			}
			es := decisions(t, st.Store, memory.DecisionFilter{ApprovalID: "h0"})
			if len(es) != 1 || es[0].Spends[0].Amount.Cmp(huge) != 0 {
				t.Errorf("audit amount = %+v, want %s", es, huge)
			}
		})
	}
}

func TestRecordAndDecisions(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			l := st.Store.Ledger()
			deny := policies.Entry{
				Wallet:   wallet,
				Chain:    "1",
				Kind:     policies.KindSwap,
				Digest:   "ab12",
				Intent:   json.RawMessage(`{"kind": "swap",  "amount":"1"}`), // spacing kept byte for byte
				Decision: policies.DecisionDeny,
				Reasons:  []string{"value 1,200 USD exceeds per-tx limit 1,000 USD (rule spend.per_tx)", "no swaps at weekends"},
				Prices:   []string{"ETH 3000 USD (devnet)"},
				At:       day.Add(time.Minute).Add(123 * time.Nanosecond),
			}
			if err := l.Record(ctx, deny); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(ctx, approve("a1", day, spend("ETH", 5)), nil); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(ctx, approve("a2", day.Add(2*time.Minute)), nil); err != nil {
				t.Fatal(err)
			}
			bad := deny
			bad.Decision = policies.DecisionApprove
			if err := l.Record(ctx, bad); !errors.Is(err, memory.ErrInvalid) {
				t.Errorf("Record(approve) = %v, want ErrInvalid", err)
			}

			got := decisions(t, st.Store, memory.DecisionFilter{Decision: policies.DecisionDeny})
			if len(got) != 1 {
				t.Fatalf("denials = %d, want 1", len(got))
			}
			if !reflect.DeepEqual(got[0], deny) {
				t.Errorf("denial round trip:\n got %+v\nwant %+v", got[0], deny)
			}
			all := decisions(t, st.Store, memory.DecisionFilter{Wallet: wallet})
			var ids []string
			for _, e := range all {
				ids = append(ids, string(e.Decision)+":"+e.ApprovalID)
			}
			if want := []string{"approve:a2", "deny:", "approve:a1"}; !reflect.DeepEqual(ids, want) {
				t.Errorf("newest first = %v, want %v", ids, want)
			}
			if n := len(decisions(t, st.Store, memory.DecisionFilter{Limit: 2})); n != 2 {
				t.Errorf("Limit 2 returned %d", n)
			}
			if n := len(decisions(t, st.Store, memory.DecisionFilter{Since: day.Add(time.Minute)})); n != 2 {
				t.Errorf("Since returned %d, want 2", n)
			}
			if n := len(decisions(t, st.Store, memory.DecisionFilter{Wallet: "0xnobody"})); n != 0 {
				t.Errorf("other wallet returned %d", n)
			}
		})
	}
}

func TestCommitRefusesBadInput(t *testing.T) {
	st := memtest.SQLite(t)
	ctx := context.Background()
	l := st.Store.Ledger()
	tests := []struct {
		name   string
		e      policies.Entry
		limits []policies.Limit
	}{
		{"no approval ID", approve("", day, spend("ETH", 1)), nil},
		{"no wallet", func() policies.Entry { e := approve("x", day); e.Wallet = ""; return e }(), nil},
		{"negative amount", approve("x", day, spend("ETH", -1)), nil},
		{"nil amount", approve("x", day, policies.Spend{Bucket: "ETH"}), nil},
		{"denial", func() policies.Entry { e := approve("x", day); e.Decision = policies.DecisionDeny; return e }(), nil},
		{"limit without max", approve("x", day), []policies.Limit{{Bucket: "ETH"}}},
	}
	for _, tc := range tests {
		if err := l.Commit(ctx, tc.e, tc.limits); !errors.Is(err, memory.ErrInvalid) {
			t.Errorf("%s: Commit = %v, want ErrInvalid", tc.name, err)
		}
	}
}
