package policies

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
)

// Errors a signer returns when an Approval does not authorise what it was
// asked to sign. Callers branch on them with errors.Is.
var (
	ErrNoApproval       = errors.New("policies: no approval (zero Approval): nothing signs without one")
	ErrApprovalUsed     = errors.New("policies: approval already used: an approval is spent once")
	ErrApprovalMismatch = errors.New("policies: approval is for a different intent")
	// ErrApprovalSent is Release's error once Sent was called: the action
	// happened, so its spend stays charged.
	ErrApprovalSent = errors.New("policies: approval already sent: the transaction left, so its spend cannot be released")
)

// Approval is the engine's permission to carry out exactly one Intent, once.
// Its fields are unexported: only the Engine makes one, so code that skips
// the gate does not compile. A zero Approval (which Go still lets anyone
// write) authorises nothing. Copies share the same spent state.
type Approval struct{ g *grant }

type grant struct {
	id     string
	digest [32]byte
	// raw is the canonical encoding (Marshal) that digest hashes. The grant
	// keeps bytes, not the caller's intent, whose *big.Int, *Call and slices
	// the caller could still change after the decision; Intent and Claim
	// decode a fresh copy from raw.
	raw  []byte
	used atomic.Bool
	// state is grantOpen, then grantSent (Sent) or grantReleased (Release).
	state atomic.Int32
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

const (
	grantOpen int32 = iota
	grantSent
	grantReleased
)

// Intent returns a fresh copy of the approved intent, decoded from the
// bytes the engine digested, so nothing the caller changed after Decide
// shows in it (nil for a zero Approval, or if the bytes do not decode).
func (a Approval) Intent() Intent {
	if a.g == nil {
		return nil
	}
	in, err := a.g.decode()
	if err != nil {
		return nil
	}
	return in
}

// decode returns a fresh copy of the approved intent and checks it encodes
// back to exactly the approved bytes: an intent that does not survive the
// round trip (invalid UTF-8 is written as U+FFFD, say) is not what was
// approved, and nothing may be signed from it.
func (g *grant) decode() (Intent, error) {
	in, err := Unmarshal(g.raw)
	if err != nil {
		return nil, fmt.Errorf("policies: approved intent does not decode: %w", err)
	}
	again, err := Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("policies: approved intent does not encode again: %w", err)
	}
	if !bytes.Equal(again, g.raw) {
		return nil, errors.New("policies: approved intent does not decode to what was approved (its encoding is not canonical, e.g. invalid UTF-8): refusing to sign it")
	}
	return in, nil
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

// Claim spends the approval and returns the intent it approves, as a fresh
// copy decoded from the bytes the engine digested. A signer that builds its
// transaction from the approved intent calls Claim; it fails for a zero
// approval, for one already used, and (failing closed, without spending
// it) when the approved bytes do not decode back to themselves.
func (a Approval) Claim() (Intent, error) {
	if a.g == nil {
		return nil, ErrNoApproval
	}
	in, err := a.g.decode()
	if err != nil {
		return nil, err
	}
	if !a.g.used.CompareAndSwap(false, true) {
		return nil, ErrApprovalUsed
	}
	return in, nil
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

// Sent marks the approved action as carried out: the signer calls it once
// the transaction has left (was broadcast). From then on Release refuses
// with ErrApprovalSent, so a spend that happened is never uncharged. Sent
// spends the approval; it does nothing for a zero Approval or after Release.
func (a Approval) Sent() {
	if a.g == nil {
		return
	}
	a.g.used.Store(true)
	a.g.state.CompareAndSwap(grantOpen, grantSent)
}

// Release tells the ledger that the approved action did not happen (it was
// refused before its transaction left), so its spend no longer counts
// against the limits. The approval stays spent. After Sent it returns
// ErrApprovalSent and leaves the ledger alone.
func (a Approval) Release(ctx context.Context, reason string) error {
	if a.g == nil {
		return ErrNoApproval
	}
	a.g.used.Store(true)
	if !a.g.state.CompareAndSwap(grantOpen, grantReleased) && a.g.state.Load() != grantReleased {
		return ErrApprovalSent
	}
	if a.g.release == nil {
		return nil
	}
	return a.g.release(ctx, reason)
}
