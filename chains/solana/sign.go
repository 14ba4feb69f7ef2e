package solana

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/policies"
)

// ErrNotApproved is signApproved's error for a transaction whose decoded
// intents are not exactly the approved ones. Nothing was signed and no
// approval was spent.
var ErrNotApproved = errors.New("solana: the transaction does not do what was approved")

// signRequest is what the one signing path needs: the transaction, how to
// read it, the approvals, and the most it may pay in fees.
type signRequest struct {
	tx        *sol.Transaction
	chain     string
	look      Lookup
	approvals []policies.Approval // one per decoded intent, in order
	cap       FeeCap
	// keys are the idempotency keys the approvals were decided under, one
	// per decoded intent (none: no keys). A key is not in the transaction's
	// bytes, but it is in what an approval's digest covers.
	keys []string
	// decode reads the transaction instead of Decode when set: a program
	// Decode only sees as a call (a Jupiter route) is read by its own
	// decoder, still here, from the bytes about to be signed.
	decode TxDecoder
}

// signApproved is the only place this package signs. It decodes the
// transaction again (never trusting intents a caller hands over), requires
// one Approval per decoded intent, each bound to exactly that intent, and
// fees under the cap; only then does it spend the approvals and add s's
// signature. A transaction that moves nothing the policy decides is not
// signed either: nothing signs without an Approval.
func signApproved(ctx context.Context, s Signer, r signRequest) error {
	if s == nil {
		return errors.New("solana: no signer; open one from the keystore")
	}
	decode := r.decode
	if decode == nil {
		decode = Decode
	}
	d, err := decode(ctx, r.tx, r.chain, r.look)
	if err != nil {
		return err
	}
	if d == nil {
		return fmt.Errorf("%w: its decoder returned nothing", ErrMalformed)
	}
	if len(d.Intents) == 0 {
		return fmt.Errorf("%w: it moves nothing a policy decides, so no approval covers it", ErrNotApproved)
	}
	if len(d.Intents) != len(r.approvals) {
		return fmt.Errorf("%w: it does %d things, and %d approvals were given", ErrNotApproved, len(d.Intents), len(r.approvals))
	}
	if len(r.keys) > 0 {
		if len(r.keys) != len(d.Intents) {
			return fmt.Errorf("%w: it does %d things, and %d idempotency keys were given", ErrNotApproved, len(d.Intents), len(r.keys))
		}
		for i := range d.Intents {
			if d.Intents[i], err = withKey(d.Intents[i], r.keys[i]); err != nil {
				return err
			}
		}
	}
	for i, in := range d.Intents {
		dg, err := policies.Digest(in)
		if err != nil {
			return err
		}
		if r.approvals[i].Digest() != hex.EncodeToString(dg[:]) {
			return fmt.Errorf("%w: intent %d (%s) differs from its approval", ErrNotApproved, i, in.Kind())
		}
		if !r.approvals[i].Valid() {
			return fmt.Errorf("solana: approval %d: %w", i, policies.ErrApprovalUsed)
		}
	}
	if err := d.Fees.Check(r.cap); err != nil {
		return err
	}
	idx := -1
	for i, k := range r.tx.Message.Signers() {
		if k.Equals(s.Address()) {
			idx = i
		}
	}
	if idx < 0 {
		return fmt.Errorf("%w: %s is not one of its signers", ErrNotApproved, s.Address())
	}
	msg, err := r.tx.Message.MarshalBinary()
	if err != nil {
		return fmt.Errorf("solana: encode message: %w", err)
	}
	for i, in := range d.Intents {
		if err := r.approvals[i].Use(in); err != nil {
			return fmt.Errorf("solana: approval %d: %w", i, err)
		}
	}
	sig, err := s.signMessage(ctx, msg)
	if err != nil {
		return err
	}
	if n := int(r.tx.Message.Header.NumRequiredSignatures); len(r.tx.Signatures) != n {
		r.tx.Signatures = make([]sol.Signature, n)
	}
	r.tx.Signatures[idx] = sig
	return nil
}

// withKey returns in carrying idempotency key k. The decoders make only the
// kinds below (Swap: a TxDecoder such as Jupiter's).
func withKey(in policies.Intent, k string) (policies.Intent, error) {
	switch x := in.(type) {
	case policies.Transfer:
		x.Key = k
		return x, nil
	case policies.Approve:
		x.Key = k
		return x, nil
	case policies.ContractCall:
		x.Key = k
		return x, nil
	case policies.Swap:
		x.Key = k
		return x, nil
	}
	return nil, fmt.Errorf("solana: cannot key a %s intent", in.Kind())
}
