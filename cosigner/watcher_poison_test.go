package cosigner_test

import (
	"context"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/chains/evm/safe/safetest"
	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/policies"
)

// TestBogusHashDoesNotPoisonWatcher: a bogus supplied hash must not stop the
// watcher from confirming the real transaction. The attack it pins: a review whose *supplied* safeTxHash is
// wrong is recorded as a rejection under the *real* hash of its fields
// (cosigner.go, the supplied-hash check calls r.reject). The watcher skips
// every pending transaction whose hash has a recorded rejection. So one
// HTTP request with a legitimate pending transaction's fields and a bogus
// safeTxHash makes the watcher never confirm that transaction.
func TestBogusHashDoesNotPoisonWatcher(t *testing.T) {
	ctx := context.Background()
	p, err := policies.Parse([]byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := evm.NewKeySigner(ownerKey)
	otherKey, _ := crypto.GenerateKey()
	other := crypto.PubkeyToAddress(otherKey.PublicKey)
	r := cosigner.New(chainID, policies.NewEngine(p, policies.NewMemLedger()), cosigner.WithSafe(safeAddr, version), cosigner.WithSigner(s), cosigner.WithNonces(fixedNonce(0)))
	sts := safetest.New(t)
	sts.AddSafe(safeAddr, chainID, version, 2, s.Address(), other)
	svc, err := safe.NewService(sts.URL)
	if err != nil {
		t.Fatal(err)
	}
	zero := new(big.Int)
	good := safe.Tx{Safe: safeAddr, ChainID: chainID, To: friend, Value: big.NewInt(1e15), SafeTxGas: zero, BaseGas: zero, GasPrice: zero, Nonce: big.NewInt(0)}
	h, _ := good.Hash(version)
	sig, _ := crypto.Sign(h[:], otherKey)
	sig[64] += 27
	if err := svc.Propose(ctx, good, version, other, sig, "t"); err != nil {
		t.Fatal(err)
	}
	// The poisoning request: the right fields, a wrong hash.
	st := good.ServiceTx()
	st.SafeTxHash = common.Hash{1}.Hex()
	if d, err := r.Review(ctx, safeAddr, st); err != nil || d.Decision != cosigner.Reject {
		t.Fatalf("%+v %v", d, err)
	}
	w, err := cosigner.NewWatcher(r, svc)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range sts.Confirmations(h) {
		if common.HexToAddress(c.Owner) == s.Address() {
			return // confirmed: not poisoned
		}
	}
	t.Fatalf("the allowed transaction %s was never confirmed by the watcher: a request with a bogus safeTxHash recorded a rejection under its real hash", h.Hex())
}
