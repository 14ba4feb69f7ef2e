package solana

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/policies"
)

// engineFor parses a Solana policy file for w and returns its engine.
func engineFor(t *testing.T, w *world, denied sol.PublicKey) *policies.Engine {
	t.Helper()
	p, err := policies.Parse([]byte(`version: 1
chains: [solana-local]
tokens:
  USDC: {chain: solana-local, mint: "` + w.usdc.String() + `", decimals: 6}
recipients: {deny: ["` + denied.String() + `"]}
limits:
  per_tx: {SOL: "1", USDC: "100"}
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	return policies.NewEngine(p, policies.NewMemLedger(), policies.WithClock(func() time.Time { return now }))
}

// decideAll asks the engine about every intent the transaction decodes to.
func decideAll(t *testing.T, eng *policies.Engine, d *Decoded) ([]policies.Approval, error) {
	t.Helper()
	var out []policies.Approval
	for _, in := range d.Intents {
		a, err := eng.Decide(context.Background(), in)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func TestSignApproved(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	thief := newKey()
	eng := engineFor(t, w, thief)
	s := NewKeySigner(w.wallet)
	me, friend := w.wallet.Address(), w.friend.Address()

	// A USDC transfer creating the friend's account: two intents (the rent
	// in SOL, the USDC), two approvals, one signature.
	tx, err := BuildTokenTransfer(ctx, w.look, me, friend, w.usdc, n(100_000_000), ComputeBudget{UnitPrice: 100}, w.blockhash)
	if err != nil {
		t.Fatal(err)
	}
	approvals, err := decideAll(t, eng, w.decode(t, tx))
	if err != nil || len(approvals) != 2 {
		t.Fatalf("decide: %d approvals, %v", len(approvals), err)
	}
	req := signRequest{tx: tx, chain: chain, look: w.look, approvals: approvals, cap: FeeCap{MaxUnitPrice: 1_000}}
	if err := signApproved(ctx, s, req); err != nil {
		t.Fatal(err)
	}
	if err := wire(t, tx).VerifySignatures(); err != nil {
		t.Fatalf("the signature does not verify: %v", err)
	}
	if err := signApproved(ctx, s, req); !errors.Is(err, policies.ErrApprovalUsed) {
		t.Fatalf("approvals used twice: %v", err)
	}

	// Over the limit: no approval, so nothing to sign with.
	over, _ := BuildSOLTransfer(me, friend, n(1_000_000_001), ComputeBudget{}, w.blockhash)
	if _, err := decideAll(t, eng, w.decode(t, over)); err == nil {
		t.Fatal("an over-limit transfer was approved")
	}

	// To a denied recipient: no approval either.
	denied, _ := BuildSOLTransfer(me, thief, n(1), ComputeBudget{}, w.blockhash)
	if _, err := decideAll(t, eng, w.decode(t, denied)); err == nil {
		t.Fatal("a transfer to a denied recipient was approved")
	}

	// Approved, then tampered with: the recipient changed after the
	// decision. Nothing is signed and the approval stays unspent.
	ok, _ := BuildSOLTransfer(me, friend, n(1_000), ComputeBudget{}, w.blockhash)
	approvals, err = decideAll(t, eng, w.decode(t, ok))
	if err != nil {
		t.Fatal(err)
	}
	tampered, _ := BuildSOLTransfer(me, thief, n(1_000), ComputeBudget{}, w.blockhash)
	err = signApproved(ctx, s, signRequest{tx: tampered, chain: chain, look: w.look, approvals: approvals})
	if !errors.Is(err, ErrNotApproved) || !approvals[0].Valid() || slices.ContainsFunc(tampered.Signatures, func(g sol.Signature) bool { return !g.IsZero() }) {
		t.Fatalf("tampered: %v (approval still valid: %v)", err, approvals[0].Valid())
	}
	// A priority fee above the cap is refused before anything is spent.
	pricey, _ := BuildSOLTransfer(me, friend, n(1_000), ComputeBudget{UnitPrice: 5_000}, w.blockhash)
	pa, err := decideAll(t, eng, w.decode(t, pricey))
	if err != nil {
		t.Fatal(err)
	}
	if err := signApproved(ctx, s, signRequest{tx: pricey, chain: chain, look: w.look, approvals: pa, cap: FeeCap{MaxUnitPrice: 1_000}}); !errors.Is(err, ErrFeeOverCap) || !pa[0].Valid() {
		t.Fatalf("fee over cap: %v", err)
	}
	// A zero Approval, a missing one, another signer: refused.
	for name, r := range map[string]signRequest{
		"zero approval": {tx: ok, chain: chain, look: w.look, approvals: []policies.Approval{{}}},
		"no approval":   {tx: ok, chain: chain, look: w.look},
		"wrong chain":   {tx: ok, chain: "solana-devnet", look: w.look, approvals: approvals},
		"moves nothing": {tx: txOf(t, me, sol.NewInstruction(sol.MemoProgramID, nil, []byte("hi"))), chain: chain},
	} {
		if err := signApproved(ctx, s, r); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	if err := signApproved(ctx, NewKeySigner(w.friend), signRequest{tx: ok, chain: chain, look: w.look, approvals: approvals}); !errors.Is(err, ErrNotApproved) {
		t.Fatalf("a signer the transaction does not name: %v", err)
	}
	if err := signApproved(ctx, s, signRequest{tx: ok, chain: chain, look: w.look, approvals: approvals}); err != nil {
		t.Fatalf("the untampered transaction: %v", err)
	}
}
