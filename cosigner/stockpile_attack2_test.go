package cosigner_test

import (
	"context"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/policies"
)

// TestAttack2NonceWindowNeedsNonceReader: WithNonceWindow documents its
// default as "0: only the next transaction to execute", but the window is
// enforced only inside `if r.nonces != nil` (cosigner.go Review). A
// Reviewer built with a signer and without WithNonces (the library's
// default, what cosigner.New gives) signs any nonce: a proposer holding
// the other owners' keys collects a daily allowance every day at future
// nonces and executes them all at once -- the stockpile the window was
// added to stop. (The CLI always passes WithNonces; library users get no
// warning.)
func TestAttack2NonceWindowNeedsNonceReader(t *testing.T) {
	p, err := policies.Parse([]byte(policyYAML)) // ETH per_tx 1, daily 2
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	eng := policies.NewEngine(p, policies.NewMemLedger(), policies.WithClock(clock))
	s, _ := evm.NewKeySigner(ownerKey)
	r := cosigner.New(chainID, eng, cosigner.WithSafe(safeAddr, version), cosigner.WithSigner(s), cosigner.WithNonceWindow(0))
	signed := new(big.Int)
	nonce := 7
	for day := 0; day < 5; day++ {
		for i := 0; i < 2; i++ { // the daily limit's worth: 2 × 1 ETH
			tx := stx(friend, eth(1000), nil, 0)
			tx.Nonce = []byte(big.NewInt(int64(nonce)).String())
			d, err := r.Review(context.Background(), safeAddr, tx)
			if err == nil && d.Decision == cosigner.Approve && d.Signature != "" {
				signed.Add(signed, eth(1000))
			}
			nonce++
		}
		mu.Lock()
		now = now.Add(24*time.Hour + time.Second)
		mu.Unlock()
	}
	if signed.Cmp(eth(1000)) > 0 {
		t.Fatalf("with the default nonce window 0 and no nonce reader, Mandate signed %s wei (nonces 7..%d), all executable in one block against a daily limit of 2 ETH",
			signed, nonce-1)
	}
}
