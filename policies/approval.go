package policies

import (
	"context"
	"encoding/hex"
	"errors"
	"sync/atomic"
)

// Errors a signer returns when an Approval does not authorise what it was
// asked to sign. Callers branch on them with errors.Is.
var (
	ErrNoApproval       = errors.New("policies: no approval (zero Approval): nothing signs without one")
	ErrApprovalUsed     = errors.New("policies: approval already used: an approval is spent once")
	ErrApprovalMismatch = errors.New("policies: approval is for a different intent")
)

// Approval is the engine's permission to carry out exactly one Intent, once.
// Its fields are unexported: only the Engine makes one, so code that skips
// the gate does not compile. A zero Approval (which Go still lets anyone
// write) authorises nothing. Copies share the same spent state.
type Approval struct{ g *grant }

type grant struct {
	id     string
	digest [32]byte
	intent Intent
	used   atomic.Bool
	// release returns the spend to the ledger when the action did not happen.
	release func(ctx context.Context, reason string) error
}

// ID is the approval's identifier in the ledger and the audit table.
func (a Approval) ID() string {
	if a.g == nil {
		return ""
	}
	return a.g.id
}

// Intent returns the approved intent (nil for a zero Approval).
func (a Approval) Intent() Intent {
	if a.g == nil {
		return nil
	}
	return a.g.intent
}

// Digest returns the digest of the approved intent, hex encoded.
func (a Approval) Digest() string {
	if a.g == nil {
		return ""
	}
	return hex.EncodeToString(a.g.digest[:])
}

// Valid reports whether the approval was made by an Engine and is unused.
func (a Approval) Valid() bool { return a.g != nil && !a.g.used.Load() }

// Claim spends the approval and returns the intent it approves. A signer
// that builds its transaction from the approved intent calls Claim; it fails
// for a zero approval and for one already used.
func (a Approval) Claim() (Intent, error) {
	if a.g == nil {
		return nil, ErrNoApproval
	}
	if !a.g.used.CompareAndSwap(false, true) {
		return nil, ErrApprovalUsed
	}
	return a.g.intent, nil
}

// Use spends the approval for in, which must be the approved intent (equal
// digest). A signer handed an intent beside its approval calls Use.
func (a Approval) Use(in Intent) error {
	if a.g == nil {
		return ErrNoApproval
	}
	d, err := Digest(in)
	if err != nil {
		return err
	}
	if d != a.g.digest {
		return ErrApprovalMismatch
	}
	if !a.g.used.CompareAndSwap(false, true) {
		return ErrApprovalUsed
	}
	return nil
}

// Release tells the ledger that the approved action did not happen (it was
// refused before its transaction left), so its spend no longer counts
// against the limits. The approval stays spent.
func (a Approval) Release(ctx context.Context, reason string) error {
	if a.g == nil {
		return ErrNoApproval
	}
	a.g.used.Store(true)
	if a.g.release == nil {
		return nil
	}
	return a.g.release(ctx, reason)
}
