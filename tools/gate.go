package tools

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/mandatehq/mandate/policies"
)

// Gate is the policy engine as tools use it; *policies.Engine is one.
type Gate interface {
	Decide(ctx context.Context, in policies.Intent) (policies.Approval, error)
	Confirm(ctx context.Context, ask *policies.Ask) (policies.Approval, error)
	Evaluate(ctx context.Context, in policies.Intent) (policies.Report, error)
}

// DenyAll is the gate where no policy is configured: it allows nothing,
// and every refusal is Err (a default says so when Err is nil).
type DenyAll struct{ Err error }

// ErrNoPolicy is DenyAll's refusal when it has no error of its own.
var ErrNoPolicy = errors.New("no policy is configured, so nothing that moves value is allowed")

func (d DenyAll) err() error {
	if d.Err != nil {
		return d.Err
	}
	return ErrNoPolicy
}

func (d DenyAll) Decide(context.Context, policies.Intent) (policies.Approval, error) {
	return policies.Approval{}, d.err()
}

func (d DenyAll) Confirm(context.Context, *policies.Ask) (policies.Approval, error) {
	return policies.Approval{}, d.err()
}

func (d DenyAll) Evaluate(context.Context, policies.Intent) (policies.Report, error) {
	return policies.Report{}, d.err()
}

// Sender signs what an Approval allows and reports where its transaction
// stands: a chain's wallet as the Executor uses it. A Sender never signs
// without an Approval; the Executor only ever hands it one the Gate made.
type Sender interface {
	// Simulate runs call on the latest state and returns its gas; an
	// error means it would fail.
	Simulate(ctx context.Context, call policies.Call) (uint64, error)
	// Send signs and broadcasts the approved intent.
	Send(ctx context.Context, ap policies.Approval) (Tx, error)
	// Wait waits until the transaction is final.
	Wait(ctx context.Context, hash string) (Tx, error)
	// ByKey is where the transaction sent under an idempotency key
	// stands, false when the key sent nothing. When that transaction
	// failed the error says so and Tx still describes it.
	ByKey(ctx context.Context, key string) (Tx, bool, error)
}

// awaitedSender is a Sender that can save a durable write when the
// Executor waits for the receipt right after sending: the record that the
// node accepted the transaction is left to the outcome Wait records.
type awaitedSender interface {
	SendAwaited(ctx context.Context, ap policies.Approval) (Tx, error)
}

// ErrNotConfirmed is returned when a person declined (or nobody could be
// asked about) an intent the policy wanted confirmed.
var ErrNotConfirmed = errors.New("not confirmed by a person")

// Executor carries an intent through simulation, the gate and the sender.
// It is the one path from a tool to a signature.
type Executor struct {
	W        Sender
	Gate     Gate
	Approver Approver  // default approver; WithApprover on the context overrides it; nil: refused
	NoWait   bool      // return once broadcast instead of waiting for the transaction to be final
	Progress io.Writer // where to say what a long step is waiting for; nil: nowhere
}

// Execute simulates in's call, asks the gate, and when approved has the
// sender sign and send it. Under DryRun it stops after the evaluation.
func (x *Executor) Execute(ctx context.Context, in policies.Intent, call policies.Call) (Outcome, error) {
	return x.Run(ctx, in, func(ctx context.Context) (uint64, error) { return x.W.Simulate(ctx, call) })
}

// Simulation runs an intent's calls without sending them and returns the
// gas of the one the intent is about; an error means it would fail.
type Simulation func(ctx context.Context) (uint64, error)

// Run is Execute with the simulation given by the caller: a swap that needs
// an approval first is simulated as both calls in sequence, which a single
// call's simulation cannot do.
func (x *Executor) Run(ctx context.Context, in policies.Intent, simulate Simulation) (Outcome, error) {
	raw, err := policies.Marshal(in)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Intent: raw}
	gas, err := simulate(ctx)
	if err != nil {
		return out, fmt.Errorf("simulation failed, nothing was signed: %w", err)
	}
	out.Gas = gas
	if DryRun(ctx) {
		rep, err := x.Gate.Evaluate(ctx, in)
		if err != nil {
			return out, err
		}
		out.Report, out.Decision, out.Reasons = &rep, rep.Decision, reasonTexts(rep.Reasons)
		return out, nil
	}
	if h := in.Head(); h.Key != "" {
		// A retry under a key that already sent something answers with
		// that, before the policy is asked again about an action that
		// happened (its limits may now refuse what was already paid).
		if tx, ok, err := x.W.ByKey(ctx, h.Key); ok || err != nil {
			if action, aerr := policies.ActionDigest(in); ok && aerr == nil && tx.Action != "" && tx.Action != action {
				return out, differentAction(h.Key, "transaction "+tx.Hash)
			}
			return x.duplicate(ctx, out, tx, err)
		}
	}
	// The approval's charge is deferred to the sender's journal
	// transaction, with the row of what it signs (see
	// policies.DeferCommit): never one without the other, whatever crashes
	// between them.
	ap, err := x.decide(policies.DeferCommit(ctx), in, &out)
	if err != nil {
		return out, keyReused(in, err)
	}
	send := x.W.Send
	if aw, ok := x.W.(awaitedSender); ok && !x.NoWait {
		send = aw.SendAwaited
	}
	tx, err := send(ctx, ap)
	if d, denied := errors.AsType[*policies.Denied](err); denied {
		// A limit filled while this one waited to commit.
		out.Decision, out.Reasons = policies.DecisionDeny, reasonTexts(d.Reasons)
	}
	if err != nil {
		return out, keyReused(in, err)
	}
	out.Tx = &tx
	if x.NoWait {
		return out, nil
	}
	if x.Progress != nil {
		fmt.Fprintf(x.Progress, "sent %s (nonce %d); waiting for its receipt…\n", tx.Hash, tx.Nonce)
	}
	tx, err = x.W.Wait(ctx, tx.Hash)
	if err != nil {
		return out, fmt.Errorf("transaction %s was sent; waiting for its receipt: %w", out.Tx.Hash, err)
	}
	out.Tx = &tx
	if tx.Status == TxReverted {
		return out, fmt.Errorf("transaction %s reverted in block %d: %s", tx.Hash, tx.Block, tx.Error)
	}
	return out, nil
}

// Decide asks the gate about in, and a person when the policy wants one,
// for a tool that signs with no Sender (a Safe owner's signature over a
// proposal): the approval, and the outcome with the decision and its
// reasons. The approval is charged when it is made.
func (x *Executor) Decide(ctx context.Context, in policies.Intent) (policies.Approval, Outcome, error) {
	raw, err := policies.Marshal(in)
	if err != nil {
		return policies.Approval{}, Outcome{}, err
	}
	out := Outcome{Intent: raw}
	ap, err := x.decide(ctx, in, &out)
	return ap, out, err
}

// decide asks the gate, and a person when the policy wants one, and
// records the decision and its reasons in out.
func (x *Executor) decide(ctx context.Context, in policies.Intent, out *Outcome) (policies.Approval, error) {
	ap, err := x.Gate.Decide(ctx, in)
	if ask, asked := errors.AsType[*policies.Ask](err); asked {
		out.Reasons = reasonTexts(ask.Reasons)
		ap, err = x.confirm(ctx, in, ask)
	}
	if err != nil {
		out.Decision = policies.DecisionDeny
		if d, denied := errors.AsType[*policies.Denied](err); denied {
			out.Reasons = reasonTexts(d.Reasons)
		}
		return ap, err
	}
	out.Decision = policies.DecisionApprove // with the reasons a person confirmed, if asked
	return ap, nil
}

func reasonTexts(rs []policies.Reason) []string {
	if len(rs) == 0 {
		return nil
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func (x *Executor) confirm(ctx context.Context, in policies.Intent, ask *policies.Ask) (policies.Approval, error) {
	approver := x.Approver
	if a := ApproverFrom(ctx); a != nil {
		approver = a // the person behind this request, e.g. the chat's owner
	}
	if approver == nil {
		return policies.Approval{}, fmt.Errorf("%w: %v; no approver is configured here", ErrNotConfirmed, ask)
	}
	ok, err := approver.Approve(ctx, in, reasonTexts(ask.Reasons))
	if err != nil {
		return policies.Approval{}, fmt.Errorf("asking for confirmation: %w", err)
	}
	if !ok {
		return policies.Approval{}, fmt.Errorf("%w: declined", ErrNotConfirmed)
	}
	return x.Gate.Confirm(ctx, ask)
}

// duplicate answers a retry under an idempotency key that already sent a
// transaction, with where that transaction stands (the sender broadcast it
// again if the node did not have it), without sending anything new.
func (x *Executor) duplicate(ctx context.Context, out Outcome, tx Tx, err error) (Outcome, error) {
	out.Decision, out.Duplicate = policies.DecisionApprove, true
	if tx.Hash != "" {
		out.Tx = &tx
	}
	if err != nil {
		return out, err
	}
	if !x.NoWait && !tx.Final {
		if x.Progress != nil {
			fmt.Fprintf(x.Progress, "already sent under this key as %s (nonce %d, %s); waiting for its receipt…\n", tx.Hash, tx.Nonce, tx.Status)
		}
		if tx, err = x.W.Wait(ctx, tx.Hash); err != nil {
			return out, err
		}
		out.Tx = &tx
	}
	if tx.Status == TxReverted {
		return out, fmt.Errorf("transaction %s sent under this key reverted in block %d: %s", tx.Hash, tx.Block, tx.Error)
	}
	return out, nil
}

// keyReused says plainly when an idempotency key was used for another
// action: that is a mistake, not a retry, and "already sent" would misreport
// what happened to the person and the model.
func keyReused(in policies.Intent, err error) error {
	dup, ok := errors.AsType[*policies.DuplicateError](err)
	if !ok {
		return err
	}
	if d, derr := policies.Digest(in); derr == nil && dup.Digest != "" && dup.Digest != hex.EncodeToString(d[:]) {
		return differentAction(in.Head().Key, "approval "+dup.ApprovalID)
	}
	return err
}

func differentAction(key, first string) error {
	return Argf("idempotency_key", "key %q was already used for a different action (%s); a retry must repeat the same arguments, or use a new key", key, first)
}
