package wallet

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// Gate is the policy engine as the tools use it; *policies.Engine is one.
type Gate interface {
	Decide(ctx context.Context, in policies.Intent) (policies.Approval, error)
	Confirm(ctx context.Context, ask *policies.Ask) (policies.Approval, error)
	Evaluate(ctx context.Context, in policies.Intent) (policies.Report, error)
}

// Approver is a person who confirms an intent the policy wants confirmed.
type Approver = tools.Approver

// ErrNotConfirmed is returned when a person declined (or nobody could be
// asked about) an intent the policy wanted confirmed.
var ErrNotConfirmed = errors.New("not confirmed by a person")

// Outcome is what executing an intent produced.
type Outcome struct {
	Intent   json.RawMessage  `json:"intent"`
	Decision string           `json:"decision"`
	Report   *policies.Report `json:"report,omitempty"` // dry runs
	Gas      uint64           `json:"gas,omitempty"`    // simulated gas
	Tx       *TxView          `json:"tx,omitempty"`
}

// TxView is a journaled transaction as tools report it.
type TxView struct {
	Hash   string `json:"hash"`
	Nonce  uint64 `json:"nonce"`
	Status string `json:"status"`
	Block  uint64 `json:"block,omitempty"`
	Error  string `json:"error,omitempty"`
}

func viewOf(r evm.TxRecord) *TxView {
	return &TxView{Hash: r.Hash, Nonce: r.Nonce, Status: string(r.Status), Block: r.Block, Error: r.Error}
}

// Executor carries an intent through simulation, the gate and the wallet.
// It is the one path from a tool to a signature.
type Executor struct {
	W        *evm.Wallet
	Gate     Gate
	Approver Approver  // default approver; tools.WithApprover on the context overrides it; nil: refused
	NoWait   bool      // return once broadcast instead of waiting for the receipt
	Progress io.Writer // where to say what a long step is waiting for; nil: nowhere
}

// Execute simulates in, asks the gate, and when approved has the wallet sign
// and send it. Under tools.DryRun it stops after the evaluation.
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
	if tools.DryRun(ctx) {
		rep, err := x.Gate.Evaluate(ctx, in)
		if err != nil {
			return out, err
		}
		out.Report, out.Decision = &rep, string(rep.Decision)
		return out, nil
	}
	if h := in.Head(); h.Key != "" {
		// A retry under a key that already sent something answers with
		// that, before the policy is asked again about an action that
		// happened (its limits may now refuse what was already paid).
		if rec, ok, err := x.W.ByKey(ctx, h.Key); ok || err != nil {
			if action, aerr := policies.ActionDigest(in); ok && aerr == nil && rec.Action != "" && rec.Action != action {
				return out, x.differentAction(h.Key, "transaction "+rec.Hash)
			}
			return x.duplicate(ctx, out, rec, err)
		}
	}
	// The approval is charged in the wallet's journal transaction, with
	// the row of what it signs (see policies.DeferCommit): never one
	// without the other, whatever crashes between them.
	dctx := policies.DeferCommit(ctx)
	ap, err := x.Gate.Decide(dctx, in)
	var ask *policies.Ask
	if errors.As(err, &ask) {
		ap, err = x.confirm(dctx, in, ask)
	}
	if err != nil {
		out.Decision = string(policies.DecisionDeny)
		return out, x.keyReused(in, err)
	}
	out.Decision = string(policies.DecisionApprove)
	rec, err := x.W.Send(ctx, ap)
	if _, denied := errors.AsType[*policies.Denied](err); denied {
		out.Decision = string(policies.DecisionDeny) // a limit filled while this one waited to commit
	}
	if err != nil {
		return out, x.keyReused(in, err)
	}
	out.Tx = viewOf(rec)
	if x.NoWait {
		return out, nil
	}
	if x.Progress != nil {
		fmt.Fprintf(x.Progress, "sent %s (nonce %d); waiting for its receipt…\n", rec.Hash, rec.Nonce)
	}
	rec, err = x.W.Wait(ctx, rec.Hash)
	if err != nil {
		return out, fmt.Errorf("transaction %s was sent; waiting for its receipt: %w", out.Tx.Hash, err)
	}
	out.Tx = viewOf(rec)
	if rec.Status == evm.TxReverted {
		return out, fmt.Errorf("transaction %s reverted in block %d: %s", rec.Hash, rec.Block, rec.Error)
	}
	return out, nil
}

func (x *Executor) confirm(ctx context.Context, in policies.Intent, ask *policies.Ask) (policies.Approval, error) {
	approver := x.Approver
	if a := tools.ApproverFrom(ctx); a != nil {
		approver = a // the person behind this request, e.g. the chat's owner
	}
	if approver == nil {
		return policies.Approval{}, fmt.Errorf("%w: %v; no approver is configured here", ErrNotConfirmed, ask)
	}
	why := make([]string, len(ask.Reasons))
	for i, r := range ask.Reasons {
		why[i] = r.String()
	}
	ok, err := approver.Approve(ctx, in, why)
	if err != nil {
		return policies.Approval{}, fmt.Errorf("asking for confirmation: %w", err)
	}
	if !ok {
		return policies.Approval{}, fmt.Errorf("%w: declined", ErrNotConfirmed)
	}
	return x.Gate.Confirm(ctx, ask)
}

// duplicate answers a retry under an idempotency key that already sent a
// transaction, with where that transaction stands (the wallet broadcast it
// again if the node did not have it), without sending anything new.
func (x *Executor) duplicate(ctx context.Context, out Outcome, rec evm.TxRecord, err error) (Outcome, error) {
	out.Decision = "duplicate"
	if err != nil {
		if _, failed := errors.AsType[*evm.KeyFailedError](err); failed {
			out.Tx = viewOf(rec)
		}
		return out, err
	}
	out.Tx = viewOf(rec)
	if !x.NoWait && !rec.Status.Final() {
		if x.Progress != nil {
			fmt.Fprintf(x.Progress, "already sent under this key as %s (nonce %d, %s); waiting for its receipt…\n", rec.Hash, rec.Nonce, rec.Status)
		}
		if rec, err = x.W.Wait(ctx, rec.Hash); err != nil {
			return out, err
		}
		out.Tx = viewOf(rec)
	}
	if rec.Status == evm.TxReverted {
		return out, fmt.Errorf("transaction %s sent under this key reverted in block %d: %s", rec.Hash, rec.Block, rec.Error)
	}
	return out, nil
}

// keyReused says plainly when an idempotency key was used for another
// action: that is a mistake, not a retry, and "already sent" would misreport
// what happened to the person and the model.
func (x *Executor) keyReused(in policies.Intent, err error) error {
	dup, ok := errors.AsType[*policies.DuplicateError](err)
	if !ok {
		return err
	}
	if d, derr := policies.Digest(in); derr == nil && dup.Digest != "" && dup.Digest != hex.EncodeToString(d[:]) {
		return x.differentAction(in.Head().Key, "approval "+dup.ApprovalID)
	}
	return err
}

func (x *Executor) differentAction(key, first string) error {
	return tools.Argf("idempotency_key", "key %q was already used for a different action (%s); a retry must repeat the same arguments, or use a new key", key, first)
}
