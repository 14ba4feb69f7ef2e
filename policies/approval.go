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
	// in is the engine's snapshot of the approved intent (Clone), which
	// digest hashes the canonical encoding of. Nobody outside holds it:
	// Intent and Claim hand out fresh copies, so nothing a caller changes,
	// before or after the decision, reaches what a signer acts on.
	in   Intent
	used atomic.Bool
	// state is grantOpen, then grantSent (Sent) or grantReleased (Release).
	state atomic.Int32
	// release returns the spend to the ledger when the action did not happen.
	release func(ctx context.Context, reason string) error
	// commit charges the ledger for an approval decided under DeferCommit
	// (nil for one Decide committed at once). supersedes names an earlier
	// approval of the same intent and key whose attempt signed nothing.
	commit func(ctx context.Context, supersedes string, priorSent bool) error
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

// decode returns a fresh copy of the approved snapshot. The snapshot's
// strings are valid UTF-8 (Clone made them so), so the copy is exactly
// what the digest covers.
func (g *grant) decode() (Intent, error) {
	in := Clone(g.in)
	if in == nil {
		return nil, errors.New("policies: the approval holds no intent")
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

// Deferred reports whether the approval was decided under DeferCommit and
// so charges the ledger only when Commit is called.
func (a Approval) Deferred() bool { return a.g != nil && a.g.commit != nil }

// Commit charges the spends of an approval decided under DeferCommit and
// writes its decision record, checking the limits again against what the
// ledger holds now: a signer calls it in the database transaction that
// records what it signs (the wallet's journal row), so the charge and the
// record of the transaction exist together or not at all. When a limit no
// longer fits it records the denial and returns a *Denied error; when the
// idempotency key was taken meanwhile, an error wrapping the ledger's
// *DuplicateError. Commit is safe to repeat: an approval the ledger
// already holds is not charged twice (a transaction that rolled back took
// its charge with it, and the next Commit charges again). For an approval
// Decide committed at once it does nothing.
func (a Approval) Commit(ctx context.Context) error {
	if a.g == nil {
		return ErrNoApproval
	}
	if a.g.commit == nil {
		return nil
	}
	return a.g.commit(ctx, "", false)
}

// Supersede is Commit taking over an idempotency key that the approval
// prior holds for the same wallet, in the same ledger transaction. For the
// retry of an attempt that signed nothing (priorSent false) prior is
// released: the signer calls it only when its own record (the journal,
// read in that transaction) shows that, and only for a retry of the same
// action. When prior's transaction was sent on another chain that shares
// this one's id (a devnet restarted over the same database; priorSent
// true), the key is free on this chain but prior stays charged.
func (a Approval) Supersede(ctx context.Context, prior string, priorSent bool) error {
	if a.g == nil {
		return ErrNoApproval
	}
	if a.g.commit == nil || prior == "" {
		return errors.New("policies: only an approval decided under DeferCommit can supersede an earlier one")
	}
	return a.g.commit(ctx, prior, priorSent)
}
