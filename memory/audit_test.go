package memory_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// auditFixture writes three decisions (two approvals, a denial) and a
// release, the events a chain links.
func auditFixture(t *testing.T, s *memory.Store) {
	t.Helper()
	ctx := context.Background()
	l := s.Ledger()
	if err := l.Commit(ctx, approve("a1", day, spend("ETH", 4)), nil); err != nil {
		t.Fatal(err)
	}
	deny := approve("d1", day)
	deny.Decision, deny.Reasons = policies.DecisionDeny, []string{"over the limit"}
	if err := l.Record(ctx, deny); err != nil {
		t.Fatal(err)
	}
	if err := l.Commit(ctx, approve("a2", day, spend("ETH", 5)), nil); err != nil {
		t.Fatal(err)
	}
	if err := l.Release(ctx, "a1", "never sent"); err != nil {
		t.Fatal(err)
	}
}

func verify(t *testing.T, s *memory.Store) memory.AuditReport {
	t.Helper()
	rep, err := s.VerifyAudit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Each way of changing the audit by hand is caught, at the record where it
// happened, and said in words.
func TestAuditChain(t *testing.T) {
	tampers := []struct {
		name    string
		stmts   []string
		problem string
	}{
		{"reasons edited", []string{`UPDATE decisions SET reasons = '["fine"]' WHERE approval_id = 'd1'`}, "edited (fields [reasons])"},
		{"decision flipped", []string{`UPDATE decisions SET decision = 'approve' WHERE approval_id = 'd1'`}, "edited (fields [decision])"},
		{"spend lowered", []string{`UPDATE spends SET amount = '1' WHERE amount = '5'`}, "edited (fields [spends])"},
		{"decision deleted", []string{`DELETE FROM decisions WHERE approval_id = 'a2'`}, "it records was deleted"},
		{"link deleted", []string{`DELETE FROM audit_chain WHERE seq = 2`}, "records 2 to 2 are missing: deleted"},
		{"first links deleted", []string{`DELETE FROM audit_chain WHERE seq < 3`}, "records 1 to 2 were deleted"},
		{"link edited", []string{`UPDATE audit_chain SET content = replace(content, 'over the limit', 'fine') WHERE seq = 2`}, "the record was edited"},
		{"release undone", []string{`UPDATE decisions SET released_at_ns = NULL, release_reason = '' WHERE approval_id = 'a1'`}, "release or supersession differs"},
		{"spend voided by hand", []string{`UPDATE spends SET voided_at_ns = 1 WHERE amount = '5'`}, "voiding does not match"},
		{"counter lowered", []string{`UPDATE spend_counters SET amount = '0'`}, "spend counter of"},
		{"counter deleted", []string{`DELETE FROM spend_counters`}, "is missing"},
		{"decision inserted", []string{
			`INSERT INTO decisions (approval_id, wallet, wallet_key, chain, idem_key, kind, digest, intent, decision, reasons, prices, at_ns) ` +
				`VALUES ('x9', '` + wallet + `', '` + strings.ToLower(wallet) + `', '1337', '', 'transfer', 'd', '{}', 'approve', '[]', '[]', 5)`,
		}, "inserted by hand"},
	}
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			whole := memtest.SQLite(t)
			if st.Name == "postgres" {
				whole = st
			}
			auditFixture(t, whole.Store)
			rep := verify(t, whole.Store)
			if rep.Broken != nil || rep.Links != 4 || rep.Decisions != 3 || len(rep.Heads) != 1 {
				t.Fatalf("untouched audit: %+v (broken: %v)", rep, rep.Broken)
			}
			for _, tc := range tampers {
				t.Run(tc.name, func(t *testing.T) {
					var s *memory.Store
					if st.Name == "postgres" {
						pg, _ := memtest.Postgres(t)
						s = pg.Store
					} else {
						s = memtest.SQLite(t).Store
					}
					auditFixture(t, s)
					for _, stmt := range tc.stmts {
						if err := memory.Tamper(s, stmt); err != nil {
							t.Fatalf("%s: %v", stmt, err)
						}
					}
					rep := verify(t, s)
					if rep.Broken == nil {
						t.Fatalf("the tampered audit verified whole: %+v", rep)
					}
					if !strings.Contains(rep.Broken.Error(), tc.problem) {
						t.Fatalf("break = %q, want it to say %q", rep.Broken.Error(), tc.problem)
					}
				})
			}
		})
	}
}

// Writers of one wallet in parallel append one after the other: the chain
// stays whole, one link per decision.
func TestAuditChainConcurrentWriters(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			l := st.Store.Ledger()
			var wg sync.WaitGroup
			errs := make(chan error, 40)
			for i := range 40 {
				wg.Go(func() {
					e := approve(fmt.Sprintf("c%d", i), day, spend(fmt.Sprintf("B%d", i%4), 1))
					if i%3 == 0 {
						e.Decision, e.Spends = policies.DecisionDeny, nil
						errs <- l.Record(ctx, e)
						return
					}
					errs <- l.Commit(ctx, e, nil)
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil && !errors.Is(err, memory.ErrBusy) {
					t.Fatal(err)
				}
			}
			rep := verify(t, st.Store)
			if rep.Broken != nil || rep.Links != rep.Decisions {
				t.Fatalf("after parallel writers: %+v (broken: %v)", rep, rep.Broken)
			}
		})
	}
}

// A store appends after the head it wrote last without reading it again;
// that guess is checked by the insert. Two stores on one database (two
// processes) append to one chain in turn, and one of them guesses a head
// whose transaction rolled back while the other wrote a different link in
// its place: the chain stays whole.
func TestAuditHeadGuessedWrong(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			other, err := memory.Open(ctx, st.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			a, b := st.Store.Ledger(), other.Ledger()
			commitIn := func(ctx context.Context, l policies.Ledger, id string) {
				t.Helper()
				if err := l.Commit(ctx, approve(id, day, spend("ETH", 1)), nil); err != nil {
					t.Fatalf("commit %s: %v", id, err)
				}
			}
			commit := func(l policies.Ledger, id string) { t.Helper(); commitIn(ctx, l, id) }
			commit(a, "a1")
			commit(b, "b1") // a's guess is now behind
			commit(a, "a2")
			// a writes a link and remembers it, then the transaction
			// rolls back; b writes the link with that number instead.
			abort := errors.New("abort")
			err = st.Store.Atomically(ctx, func(ctx context.Context) error {
				commitIn(ctx, a, "a-rolled-back")
				return abort
			})
			if !errors.Is(err, abort) {
				t.Fatalf("Atomically = %v, want the abort", err)
			}
			commit(b, "b2")
			commit(a, "a3")
			commit(a, "a4")
			rep := verify(t, st.Store)
			if rep.Broken != nil || rep.Links != 6 || rep.Decisions != 6 {
				t.Fatalf("after two stores took turns: %+v (broken: %v)", rep, rep.Broken)
			}
		})
	}
}
