package cosigner_test

import (
	"context"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/policies"
)

// TestSignaturesDoNotStockpile: the daily limit is charged when Mandate
// signs, but a Safe signature never expires. A proposer who also holds the
// other owners' keys could collect a day's allowance day after day at
// future nonces and execute them all in one block. The nonce window
// (default 0) signs only the Safe's next transaction; later nonces are
// not judged until their turn (ErrNonceAhead), so at most one signature is
// outstanding.
func TestSignaturesDoNotStockpile(t *testing.T) {
	p, err := policies.Parse([]byte(policyYAML)) // ETH per_tx 1, daily 2
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	eng := policies.NewEngine(p, policies.NewMemLedger(), policies.WithClock(clock))
	s, _ := evm.NewKeySigner(ownerKey)
	r := cosigner.New(chainID, eng, cosigner.WithSafe(safeAddr, version), cosigner.WithSigner(s),
		cosigner.WithNonces(func(context.Context, common.Address) (uint64, error) { return 7, nil }))
	signed := new(big.Int)
	for day := 0; day < 5; day++ {
		for n := 7; n < 17; n++ {
			tx := stx(friend, eth(1000), nil, 0)
			tx.Nonce = []byte(big.NewInt(int64(n)).String())
			d, err := r.Review(context.Background(), safeAddr, tx)
			switch {
			case n > 7 && !errors.Is(err, cosigner.ErrNonceAhead):
				t.Fatalf("day %d nonce %d: %+v %v, want ErrNonceAhead", day, n, d, err)
			case n == 7 && (err != nil || d.Decision != cosigner.Approve):
				t.Fatalf("day %d nonce 7: %+v %v", day, d, err)
			case n == 7 && day == 0:
				signed.Add(signed, eth(1000))
			}
		}
		mu.Lock()
		now = now.Add(24*time.Hour + time.Second)
		mu.Unlock()
	}
	if signed.Cmp(eth(1000)) != 0 {
		t.Fatalf("%s wei of signatures outstanding, want one transaction's 1 ETH", signed)
	}
}

// A reviewer that signs without the Safe's nonce could not hold any
// window: it refuses to review at all.
func TestSigningReviewerNeedsNonces(t *testing.T) {
	p, err := policies.Parse([]byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := evm.NewKeySigner(ownerKey)
	r := cosigner.New(chainID, policies.NewEngine(p, policies.NewMemLedger()), cosigner.WithSafe(safeAddr, version), cosigner.WithSigner(s))
	var in *cosigner.InputError
	if d, err := r.Review(context.Background(), safeAddr, stx(friend, eth(1), nil, 0)); !errors.As(err, &in) || d.Signature != "" {
		t.Fatalf("%+v %v, want an InputError and no signature", d, err)
	}
}
