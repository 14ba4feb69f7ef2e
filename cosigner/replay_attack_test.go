package cosigner_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/policies"
)

// TestLegacySafeRefused: for Safes before 1.3.0 the hash has no chain id,
// so a signature made on one chain is valid for the same Safe address on
// every other, where this reviewer's policy and ledger never see it. The
// reviewer refuses them unless configured for them.
func TestLegacySafeRefused(t *testing.T) {
	legacy := safe.Version{Major: 1, Minor: 2, Patch: 0}
	p, err := policies.Parse([]byte(policyYAML))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := evm.NewKeySigner(ownerKey)
	st := stx(friend, eth(1000), nil, 0)
	r := cosigner.New(chainID, policies.NewEngine(p, policies.NewMemLedger()), cosigner.WithSafe(safeAddr, legacy), cosigner.WithSigner(s), cosigner.WithNonces(fixedNonce(7)))
	var in *cosigner.InputError
	if _, err := r.Review(context.Background(), safeAddr, st); !errors.As(err, &in) || !strings.Contains(err.Error(), "chain id") {
		t.Fatalf("legacy Safe: %v, want an InputError naming the chain id", err)
	}
	// Opted in, it is served, and its hash is indeed the same on chain 1.
	r = cosigner.New(chainID, policies.NewEngine(p, policies.NewMemLedger()), cosigner.WithSafe(safeAddr, legacy), cosigner.WithSigner(s), cosigner.WithLegacySafes(), cosigner.WithNonces(fixedNonce(7)))
	d, err := r.Review(context.Background(), safeAddr, st)
	if err != nil || d.Decision != cosigner.Approve {
		t.Fatalf("%+v %v", d, err)
	}
	other, _ := st.Tx(big.NewInt(1), safeAddr, legacy)
	if h, _ := other.Hash(legacy); h.Hex() != d.SafeTxHash {
		t.Fatalf("a legacy hash differs across chains: %s vs %s", h.Hex(), d.SafeTxHash)
	}
}
