package cosigner_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// failingPut is the database's review store whose record fails: the
// charge of the approval must roll back with it.
type failingPut struct {
	cosigner.Store
	fail bool
}

func (f *failingPut) Put(ctx context.Context, d cosigner.Decision) error {
	if f.fail && d.Decision == cosigner.Approve {
		return errors.New("disk full")
	}
	return f.Store.Put(ctx, d)
}

func (f *failingPut) Atomically(ctx context.Context, fn func(context.Context) error) error {
	return f.Store.(cosigner.Atomic).Atomically(ctx, fn)
}

// An approval's charge, its decision record and its review commit together:
// when the review cannot be recorded, nothing is charged, nothing is
// signed for anyone, and the retry approves once.
func TestReviewAndChargeCommitTogether(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			p, err := policies.Parse([]byte(benchPolicy))
			if err != nil {
				t.Fatal(err)
			}
			s, _ := evm.NewKeySigner(ownerKey)
			store := &failingPut{Store: cosigner.ReviewStore(st.Store.Reviews()), fail: true}
			r := cosigner.New(chainID, policies.NewEngine(p, st.Store.Ledger()), cosigner.WithSafe(safeAddr, version), cosigner.WithSigner(s),
				cosigner.WithStore(store), cosigner.WithNonces(fixedNonce(0)), cosigner.WithNonceWindow(1<<40),
				cosigner.WithTokens(func(a string) (policies.Token, bool) {
					return policies.Token{Symbol: "USDC", Address: usdc.Hex(), Decimals: 6}, common.HexToAddress(a) == usdc
				}))
			tx := stx(callOnly, new(big.Int), batch(call(usdc, 0, transfer(friend, 1)), call(friend, 1, nil)), 1)
			d, err := r.Review(ctx, safeAddr, tx)
			var retry *cosigner.RetryError
			if !errors.As(err, &retry) || d.Signature != "" || !strings.Contains(err.Error(), "disk full") {
				t.Fatalf("with the review failing: %+v, %v; want a RetryError and no signature", d, err)
			}
			rep, err := st.Store.VerifyAudit(ctx)
			if err != nil || rep.Decisions != 0 {
				t.Fatalf("the failed review left %d decisions in the audit (%v); the charge must roll back with it", rep.Decisions, err)
			}
			store.fail = false
			if d, err = r.Review(ctx, safeAddr, tx); err != nil || d.Decision != cosigner.Approve || d.Signature == "" {
				t.Fatalf("the retry: %+v, %v", d, err)
			}
			if rep, err = st.Store.VerifyAudit(ctx); err != nil || rep.Broken != nil || rep.Decisions != 1 {
				t.Fatalf("after the retry the audit holds %+v (%v)", rep, err)
			}
		})
	}
}
