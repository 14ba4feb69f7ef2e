package memory_test

import (
	"context"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// The policy of the deferred-commit tests: native ETH on 1337, at most 1
// a transfer and 3 a day; no USD limits, so no prices are needed.
const deferPolicy = `version: 1
chains: [1337]
limits:
  per_tx: {ETH: "1"}
  daily: {ETH: "3"}
`

const (
	deferBucket = "default/1337/native"
	deferFrom   = "0x9999999999999999999999999999999999999999"
	payee       = "0x1111111111111111111111111111111111111111"
	otherPayee  = "0x2222222222222222222222222222222222222222"
)

func deferEngine(t *testing.T, l policies.Ledger) *policies.Engine {
	t.Helper()
	p, err := policies.Parse([]byte(deferPolicy))
	if err != nil {
		t.Fatal(err)
	}
	return policies.NewEngine(p, l, policies.WithClock(func() time.Time { return day }))
}

func eth(amount string) *big.Int {
	r, ok := new(big.Rat).SetString(amount)
	if !ok {
		panic(amount)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)))
	if !r.IsInt() {
		panic(amount)
	}
	return new(big.Int).Set(r.Num())
}

func ethTransfer(to, amount, key string) policies.Transfer {
	return policies.Transfer{
		Header: policies.Header{Chain: "1337", From: deferFrom, Key: key},
		To:     to,
		Token:  policies.Token{Symbol: "ETH", Decimals: 18},
		Amount: eth(amount),
	}
}

func wantSpentETH(t *testing.T, ctx context.Context, l policies.Ledger, amount string) {
	t.Helper()
	got, err := l.Spent(ctx, deferBucket, day.Add(-24*time.Hour))
	if err != nil {
		t.Fatalf("Spent: %v", err)
	}
	if got.Cmp(eth(amount)) != 0 {
		t.Fatalf("ETH spent %s, want %s", got, eth(amount))
	}
}

func decide(t *testing.T, ctx context.Context, eng *policies.Engine, in policies.Intent) policies.Approval {
	t.Helper()
	ap, err := eng.Decide(ctx, in)
	if err != nil {
		t.Fatalf("decide: %v", err)
	}
	return ap
}

// rawDB opens the store's database a second time, to read columns the
// store's API does not return (a release's time, superseded_by).
func rawDB(t *testing.T, st memtest.Named) *gorm.DB {
	t.Helper()
	var d gorm.Dialector
	if path, ok := strings.CutPrefix(st.DSN, "sqlite:"); ok {
		d = sqlite.Open(path)
	} else {
		d = postgres.Open(st.DSN)
	}
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	return db
}

type decisionState struct {
	ReleasedAtNs  *int64
	ReleaseReason string
	SupersededBy  string
	LiveSpends    int64
	VoidSpends    int64
}

func stateOf(t *testing.T, db *gorm.DB, approvalID string) decisionState {
	t.Helper()
	var s decisionState
	var rows []struct {
		ID            int64
		ReleasedAtNs  *int64
		ReleaseReason string
		SupersededBy  string
	}
	if err := db.Raw(`SELECT id, released_at_ns, release_reason, superseded_by FROM decisions WHERE approval_id = ?`, approvalID).
		Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("approval %s has %d decision rows, want 1", approvalID, len(rows))
	}
	s.ReleasedAtNs, s.ReleaseReason, s.SupersededBy = rows[0].ReleasedAtNs, rows[0].ReleaseReason, rows[0].SupersededBy
	if err := db.Raw(`SELECT COUNT(*) FROM spends WHERE decision_id = ? AND voided_at_ns IS NULL`, rows[0].ID).Scan(&s.LiveSpends).Error; err != nil {
		t.Fatal(err)
	}
	if err := db.Raw(`SELECT COUNT(*) FROM spends WHERE decision_id = ? AND voided_at_ns IS NOT NULL`, rows[0].ID).Scan(&s.VoidSpends).Error; err != nil {
		t.Fatal(err)
	}
	return s
}

func countDecisions(t *testing.T, s *memory.Store, f memory.DecisionFilter) int {
	t.Helper()
	f.Limit = 1000
	return len(decisions(t, s, f))
}

// The deferred-commit contract on the database ledger (SQLite and
// PostgreSQL): nothing is charged or recorded as approved before Commit,
// Commit twice charges once, a limit that no longer fits denies at Commit
// and records the denial, and releasing a never-committed approval changes
// nothing.
func TestDeferredCommitOnStore(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			dctx := policies.DeferCommit(ctx)
			l := st.Store.Ledger()
			eng := deferEngine(t, l)

			a := decide(t, dctx, eng, ethTransfer(payee, "1", ""))
			keyed := decide(t, dctx, eng, ethTransfer(payee, "1", "k-once"))
			wantSpentETH(t, ctx, l, "0")
			if n := countDecisions(t, st.Store, memory.DecisionFilter{Decision: policies.DecisionApprove}); n != 0 {
				t.Fatalf("%d approvals recorded before Commit", n)
			}
			for _, ap := range []policies.Approval{a, keyed} {
				for i := range 2 {
					if err := ap.Commit(ctx); err != nil {
						t.Fatalf("Commit %d of %s: %v", i+1, ap.ID(), err)
					}
				}
				if n := countDecisions(t, st.Store, memory.DecisionFilter{ApprovalID: ap.ID()}); n != 1 {
					t.Fatalf("approval %s recorded %d times", ap.ID(), n)
				}
			}
			wantSpentETH(t, ctx, l, "2")

			// Two deferred approvals and room for one of them.
			b := decide(t, dctx, eng, ethTransfer(payee, "1", ""))
			c := decide(t, dctx, eng, ethTransfer(otherPayee, "1", ""))
			never := decide(t, dctx, eng, ethTransfer(payee, "0.5", "k-never"))
			if err := b.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			denials := countDecisions(t, st.Store, memory.DecisionFilter{Decision: policies.DecisionDeny})
			err := c.Commit(ctx)
			d, ok := errors.AsType[*policies.Denied](err)
			if !ok {
				t.Fatalf("Commit over the daily limit: %v, want *policies.Denied", err)
			}
			if !slices.ContainsFunc(d.Reasons, func(r policies.Reason) bool { return r.Rule == "limits.daily.ETH" }) {
				t.Fatalf("denial reasons %v lack limits.daily.ETH", d.Reasons)
			}
			if n := countDecisions(t, st.Store, memory.DecisionFilter{Decision: policies.DecisionDeny}); n != denials+1 {
				t.Fatalf("%d denials recorded by the refused Commit, want 1", n-denials)
			}
			if n := countDecisions(t, st.Store, memory.DecisionFilter{ApprovalID: c.ID()}); n != 0 {
				t.Fatalf("the denied approval %s was recorded", c.ID())
			}
			wantSpentETH(t, ctx, l, "3")

			// Releasing a deferred approval never committed is a no-op.
			all := countDecisions(t, st.Store, memory.DecisionFilter{})
			if err := never.Release(ctx, "the attempt failed before signing"); err != nil {
				t.Fatalf("Release of a never-committed approval: %v", err)
			}
			if err := c.Release(ctx, "denied"); err != nil {
				t.Fatalf("Release of an approval denied at Commit: %v", err)
			}
			if n := countDecisions(t, st.Store, memory.DecisionFilter{}); n != all {
				t.Fatalf("releases of uncommitted approvals wrote %d decisions", n-all)
			}
			wantSpentETH(t, ctx, l, "3")
			// The ledger itself still says the approval is unknown.
			if err := l.Release(ctx, never.ID(), "x"); !errors.Is(err, policies.ErrUnknownApproval) {
				t.Fatalf("ledger Release of an unknown approval: %v, want ErrUnknownApproval", err)
			}
			// A raw re-commit of an approval ID the ledger holds says so.
			e := policies.Entry{ApprovalID: a.ID(), Wallet: deferFrom, Chain: "1337", Kind: policies.KindTransfer,
				Decision: policies.DecisionApprove, At: day}
			if err := l.Commit(ctx, e, nil); !errors.Is(err, policies.ErrApprovalCommitted) {
				t.Fatalf("re-commit of %s: %v, want ErrApprovalCommitted", a.ID(), err)
			}
		})
	}
}

// Supersede on the database ledger: the prior approval holding the key is
// released (spends voided, released_at and superseded_by set) in the
// retry's commit, and the key passes to the retry.
func TestSupersedeOnStore(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			dctx := policies.DeferCommit(ctx)
			l := st.Store.Ledger()
			eng := deferEngine(t, l)
			db := rawDB(t, st)
			in := ethTransfer(payee, "1", "order-7")

			prior := decide(t, dctx, eng, in)
			if err := prior.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			retry := decide(t, dctx, eng, in)
			err := retry.Commit(ctx)
			if dup, ok := errors.AsType[*policies.DuplicateError](err); !ok || dup.ApprovalID != prior.ID() {
				t.Fatalf("Commit under a held key: %v, want *DuplicateError naming %s", err, prior.ID())
			}
			if err := retry.Supersede(ctx, "0123456789abcdef0123456789abcdef", false); !errors.As(err, new(*policies.DuplicateError)) {
				t.Fatalf("Supersede naming another approval than the key's holder: %v", err)
			}
			if s := stateOf(t, db, prior.ID()); s.ReleasedAtNs != nil || s.SupersededBy != "" || s.LiveSpends != 1 {
				t.Fatalf("refused supersedes touched the prior approval: %+v", s)
			}
			if err := retry.Supersede(ctx, prior.ID(), false); err != nil {
				t.Fatal(err)
			}
			wantSpentETH(t, ctx, l, "1")
			s := stateOf(t, db, prior.ID())
			if s.ReleasedAtNs == nil || s.SupersededBy != retry.ID() || s.LiveSpends != 0 || s.VoidSpends != 1 || s.ReleaseReason == "" {
				t.Fatalf("superseded approval: %+v, want released, superseded by %s, its spend voided", s, retry.ID())
			}
			if s := stateOf(t, db, retry.ID()); s.ReleasedAtNs != nil || s.LiveSpends != 1 {
				t.Fatalf("the retry: %+v, want charged", s)
			}
			// The key is the retry's now.
			third := decide(t, dctx, eng, in)
			err = third.Commit(ctx)
			if dup, ok := errors.AsType[*policies.DuplicateError](err); !ok || dup.ApprovalID != retry.ID() {
				t.Fatalf("a third approval under the key: %v, want *DuplicateError naming %s", err, retry.ID())
			}
			_, err = eng.Decide(ctx, in)
			if dup, ok := errors.AsType[*policies.DuplicateError](err); !ok || dup.ApprovalID != retry.ID() {
				t.Fatalf("Decide under the key: %v, want *DuplicateError naming %s", err, retry.ID())
			}
			// Committing the retry again charges nothing more.
			if err := retry.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			wantSpentETH(t, ctx, l, "1")
		})
	}
}

// A Supersede whose limit does not fit fails whole: the prior approval
// keeps its charge and its key.
func TestSupersedeOverLimitOnStore(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			dctx := policies.DeferCommit(ctx)
			l := st.Store.Ledger()
			eng := deferEngine(t, l)
			db := rawDB(t, st)
			prior := decide(t, dctx, eng, ethTransfer(payee, "0.5", "order-8"))
			if err := prior.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			retry := decide(t, dctx, eng, ethTransfer(payee, "1", "order-8"))
			for _, amt := range []string{"1", "1", "0.5"} {
				decide(t, ctx, eng, ethTransfer(otherPayee, amt, ""))
			}
			err := retry.Supersede(ctx, prior.ID(), false)
			if _, ok := errors.AsType[*policies.Denied](err); !ok {
				t.Fatalf("Supersede over the limit: %v, want *policies.Denied", err)
			}
			wantSpentETH(t, ctx, l, "3")
			if s := stateOf(t, db, prior.ID()); s.ReleasedAtNs != nil || s.SupersededBy != "" || s.LiveSpends != 1 {
				t.Fatalf("a refused Supersede released the prior approval: %+v", s)
			}
		})
	}
}

// The context LockNonces passes its callback carries the journal's
// transaction: an approval committed with it, and its denial records,
// commit with the journal row when the callback returns nil and are rolled
// back with it when the callback fails. On SQLite a write that did not
// join the transaction would wait for the one connection the callback
// holds; the deadline turns that into a failure, not a hang.
func TestLockNoncesCarriesTransaction(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dctx := policies.DeferCommit(ctx)
			l := st.Store.Ledger()
			eng := deferEngine(t, l)
			j := st.Store.Journal()
			locker := j.(evm.NonceLocker)
			row := func(hash string, ap policies.Approval, key string) evm.TxRecord {
				return evm.TxRecord{Hash: hash, Chain: "1337/0xabc", From: deferFrom, Nonce: 0, Key: key,
					ApprovalID: ap.ID(), Raw: []byte{0x02, 0x01}, Status: evm.TxSigned}
			}
			boom := errors.New("the signer failed after journaling")

			ap := decide(t, dctx, eng, ethTransfer(payee, "1", "k-tx"))
			err := locker.LockNonces(ctx, "1337/0xabc", deferFrom, func(lctx context.Context, tj evm.Journal) error {
				if err := ap.Commit(lctx); err != nil {
					return err
				}
				if err := tj.Insert(lctx, row("0xa1", ap, "k-tx")); err != nil {
					return err
				}
				// Inside, the transaction sees its own charge; outside, nobody does yet.
				in, err := l.Spent(lctx, deferBucket, day.Add(-24*time.Hour))
				if err != nil {
					return err
				}
				out, err := l.Spent(ctx, deferBucket, day.Add(-24*time.Hour))
				if err != nil {
					return err
				}
				if in.Cmp(eth("1")) != 0 || out.Sign() != 0 {
					t.Errorf("inside the lock: spent %s in the transaction, %s outside; want 1 ETH and 0", in, out)
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("LockNonces = %v, want the callback's error", err)
			}
			wantSpentETH(t, ctx, l, "0")
			if n := countDecisions(t, st.Store, memory.DecisionFilter{ApprovalID: ap.ID()}); n != 0 {
				t.Fatal("the approval's decision record outlived the rolled-back journal transaction")
			}
			if _, ok, err := j.ByHash(ctx, "1337/0xabc", "0xa1"); err != nil || ok {
				t.Fatalf("the rolled-back row: %v %v", ok, err)
			}

			// A raw ledger commit with the callback's context rolls back too.
			raw := policies.Entry{ApprovalID: "raw-approval", Wallet: deferFrom, Chain: "1337", Kind: policies.KindTransfer,
				Decision: policies.DecisionApprove, At: day, Spends: []policies.Spend{{Bucket: deferBucket, Amount: eth("1")}}}
			err = locker.LockNonces(ctx, "1337/0xabc", deferFrom, func(lctx context.Context, tj evm.Journal) error {
				if err := l.Commit(lctx, raw, nil); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("LockNonces = %v, want the callback's error", err)
			}
			wantSpentETH(t, ctx, l, "0")

			// The same again, the callback succeeding: charge, record and
			// row are all there. The approval rolled back before commits now.
			err = locker.LockNonces(ctx, "1337/0xabc", deferFrom, func(lctx context.Context, tj evm.Journal) error {
				if err := ap.Commit(lctx); err != nil {
					return err
				}
				if err := l.Commit(lctx, raw, nil); err != nil {
					return err
				}
				return tj.Insert(lctx, row("0xa1", ap, "k-tx"))
			})
			if err != nil {
				t.Fatal(err)
			}
			wantSpentETH(t, ctx, l, "2")
			if n := countDecisions(t, st.Store, memory.DecisionFilter{ApprovalID: ap.ID()}); n != 1 {
				t.Fatalf("approval recorded %d times, want 1", n)
			}
			if rec, ok, err := j.ByHash(ctx, "1337/0xabc", "0xa1"); err != nil || !ok || rec.ApprovalID != ap.ID() {
				t.Fatalf("journal row: %+v %v %v", rec, ok, err)
			}

			// A denial at Commit inside the lock: recorded when the callback
			// goes on (as the wallet does), and nothing charged.
			over := decide(t, dctx, eng, ethTransfer(payee, "1", ""))
			over2 := decide(t, dctx, eng, ethTransfer(payee, "1", ""))
			if err := over.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			denials := countDecisions(t, st.Store, memory.DecisionFilter{Decision: policies.DecisionDeny})
			var denied error
			err = locker.LockNonces(ctx, "1337/0xabc", deferFrom, func(lctx context.Context, tj evm.Journal) error {
				denied = over2.Commit(lctx)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := errors.AsType[*policies.Denied](denied); !ok {
				t.Fatalf("Commit over the limit inside the lock: %v, want *policies.Denied", denied)
			}
			if n := countDecisions(t, st.Store, memory.DecisionFilter{Decision: policies.DecisionDeny}); n != denials+1 {
				t.Fatalf("%d denials recorded, want 1", n-denials)
			}
			wantSpentETH(t, ctx, l, "3")
			if ctx.Err() != nil {
				t.Fatal("the test ran into its deadline: a write made inside LockNonces waited instead of joining its transaction")
			}
		})
	}
}

// The retry of an attempt that signed nothing, as the wallet makes it:
// inside the nonce lock, the journal shows no row under the key, the retry
// supersedes the prior approval and journals its own row, in one
// transaction. Rolled back, the prior approval still holds the key and its
// charge.
func TestSupersedeInsideLockNonces(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			dctx := policies.DeferCommit(ctx)
			l := st.Store.Ledger()
			eng := deferEngine(t, l)
			db := rawDB(t, st)
			locker := st.Store.Journal().(evm.NonceLocker)
			in := ethTransfer(payee, "1", "order-9")
			prior := decide(t, dctx, eng, in)
			if err := prior.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			retry := decide(t, dctx, eng, in)
			boom := errors.New("crashed before the broadcast")
			for _, fail := range []bool{true, false} {
				err := locker.LockNonces(ctx, "1337/0xabc", deferFrom, func(lctx context.Context, tj evm.Journal) error {
					if _, ok, err := tj.ByKey(lctx, "1337/0xabc", deferFrom, "order-9"); err != nil || ok {
						t.Errorf("ByKey inside the lock: %v %v, want no row", ok, err)
					}
					if err := retry.Supersede(lctx, prior.ID(), false); err != nil {
						return err
					}
					if err := tj.Insert(lctx, evm.TxRecord{Hash: "0xb1", Chain: "1337/0xabc", From: deferFrom, Key: "order-9",
						ApprovalID: retry.ID(), Raw: []byte{0x02}, Status: evm.TxSigned}); err != nil {
						return err
					}
					if fail {
						return boom
					}
					return nil
				})
				if fail {
					if !errors.Is(err, boom) {
						t.Fatalf("LockNonces = %v", err)
					}
					if s := stateOf(t, db, prior.ID()); s.ReleasedAtNs != nil || s.SupersededBy != "" || s.LiveSpends != 1 {
						t.Fatalf("a rolled-back supersede left the prior approval %+v", s)
					}
					wantSpentETH(t, ctx, l, "1")
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if s := stateOf(t, db, prior.ID()); s.SupersededBy != retry.ID() || s.LiveSpends != 0 {
				t.Fatalf("prior after the committed supersede: %+v", s)
			}
			wantSpentETH(t, ctx, l, "1")
		})
	}
}
