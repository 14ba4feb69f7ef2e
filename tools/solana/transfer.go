package soltools

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/solana"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

func addressArg(tool, field, s string) (sol.PublicKey, error) {
	s = strings.TrimSpace(s)
	a, err := sol.PublicKeyFromBase58(s)
	if err != nil {
		return sol.PublicKey{}, tools.Argf(tool, "%s %q is not a Solana address: want the base58 of 32 bytes", field, s)
	}
	if !a.IsOnCurve() {
		return sol.PublicKey{}, tools.Argf(tool, "%s %s is off the ed25519 curve (a program-derived address no key signs for); send to the owner's wallet address instead", field, s)
	}
	return a, nil
}

func amountArg(tool, s string, t token) (*big.Int, error) {
	v, err := solana.ParseAmount(strings.TrimSpace(s), t.Decimals, "amount")
	if err != nil {
		return nil, tools.Argf(tool, "amount %q for %s (%d decimals): %v", s, t.name(), t.Decimals, err)
	}
	if v.Sign() == 0 {
		return nil, tools.Argf(tool, "amount must be greater than zero")
	}
	return v, nil
}

func (k *kit) transfer(ctx context.Context, a struct {
	To     string `json:"to"`
	Token  string `json:"token"`
	Amount string `json:"amount"`
	Key    string `json:"idempotency_key"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "sol_transfer"
	if err := tools.Require(name, "to", a.To, "token", a.Token, "amount", a.Amount); err != nil {
		return tools.Result{}, err
	}
	if err := tools.CheckKey(name, a.Key); err != nil {
		return tools.Result{}, err
	}
	to, err := addressArg(name, "to", a.To)
	if err != nil {
		return tools.Result{}, err
	}
	tok, err := k.resolve(ctx, name, a.Token)
	if err != nil {
		return tools.Result{}, err
	}
	amt, err := amountArg(name, a.Amount, tok)
	if err != nil {
		return tools.Result{}, err
	}
	out, err := k.run(ctx, to, tok, amt, a.Key)
	what := fmt.Sprintf("%s %s to %s", policies.FormatUnits(amt, tok.Decimals), tok.name(), to)
	return report(out, what, err)
}

// run carries one transfer through the journal's key check, the build and
// simulation, the gate (one decision per intent, deferred to the wallet's
// journal transaction) and the wallet.
func (k *kit) run(ctx context.Context, to sol.PublicKey, tok token, amt *big.Int, key string) (tools.Outcome, error) {
	main := k.w.TransferIntent(to, tok.Token, amt, key)
	raw, err := policies.Marshal(main)
	if err != nil {
		return tools.Outcome{}, err
	}
	out := tools.Outcome{Intent: raw}
	if key != "" && !tools.DryRun(ctx) {
		// A retry under a key that already sent something answers with
		// that, before the policy is asked again about what was paid.
		rec, ok, err := k.w.ByKey(ctx, key)
		if ok || err != nil {
			if action, aerr := policies.ActionDigest(main); ok && aerr == nil && rec.Action != "" && rec.Action != action {
				return out, differentAction(key, rec.Hash)
			}
			return k.duplicate(ctx, out, rec, err)
		}
	}
	p, err := k.w.PrepareTransfer(ctx, to, tok.Token, amt, key)
	if errors.Is(err, solana.ErrNotWallet) {
		return out, tools.Argf("sol_transfer", "to: %v", err)
	}
	if err != nil {
		return out, err // nothing was signed
	}
	out.Gas = p.Units
	if tools.DryRun(ctx) {
		return k.evaluate(ctx, out, p)
	}
	x := tools.Executor{Gate: k.gate, Approver: k.approver}
	var aps []policies.Approval
	release := func(why string) {
		for _, ap := range aps {
			_ = ap.Release(context.WithoutCancel(ctx), why)
		}
	}
	for _, in := range p.Intents {
		ap, o, err := x.Decide(policies.DeferCommit(ctx), in)
		out.Reasons = append(out.Reasons, o.Reasons...)
		if err != nil {
			release("another intent of the transaction was refused")
			out.Decision = policies.DecisionDeny
			return out, err
		}
		aps = append(aps, ap)
	}
	out.Decision = policies.DecisionApprove
	rec, err := k.send(ctx, p, aps)
	if rec.Hash != "" {
		tx := TxOf(rec)
		out.Tx = &tx
	}
	if d, denied := errors.AsType[*policies.Denied](err); denied {
		out.Decision, out.Reasons = policies.DecisionDeny, reasonTexts(d.Reasons)
	}
	if errors.Is(err, solana.ErrKeyReused) {
		return out, tools.Argf("idempotency_key", "%v", err)
	}
	if err != nil {
		return out, err
	}
	if k.cfg.noWait {
		return out, nil
	}
	return k.confirm(ctx, out, rec.Hash)
}

// send sends an approved transaction; when the tool waits for it to land,
// its "sent" is left to the outcome Confirm records (one durable write
// fewer, see solana.Wallet.SendAwaited).
func (k *kit) send(ctx context.Context, p *solana.Prepared, aps []policies.Approval) (evm.TxRecord, error) {
	if k.cfg.noWait {
		return k.w.Send(ctx, p, aps)
	}
	return k.w.SendAwaited(ctx, p, aps)
}

func (k *kit) confirm(ctx context.Context, out tools.Outcome, hash string) (tools.Outcome, error) {
	if k.cfg.progress != nil {
		fmt.Fprintf(k.cfg.progress, "sent %s; waiting for it to land…\n", hash)
	}
	rec, err := k.w.Confirm(ctx, hash)
	if rec.Hash != "" {
		tx := TxOf(rec)
		out.Tx = &tx
	}
	if err != nil {
		return out, fmt.Errorf("transaction %s was sent: %w", hash, err)
	}
	return out, nil
}

// evaluate is a dry run: what the policy would decide about each intent,
// charging nothing. The report is the transfer's, with the stricter
// decision and every reason of the intents before it (the rent).
func (k *kit) evaluate(ctx context.Context, out tools.Outcome, p *solana.Prepared) (tools.Outcome, error) {
	decision := policies.DecisionApprove
	var reasons []policies.Reason
	var rep policies.Report
	for _, in := range p.Intents {
		r, err := k.gate.Evaluate(ctx, in)
		if err != nil {
			return out, err
		}
		decision = worse(decision, r.Decision)
		reasons = append(reasons, r.Reasons...)
		rep = r
	}
	rep.Decision, rep.Reasons = decision, reasons
	out.Report, out.Decision, out.Reasons = &rep, rep.Decision, reasonTexts(rep.Reasons)
	return out, nil
}

// worse is the stricter of two decisions.
func worse(a, b policies.Decision) policies.Decision {
	rank := map[policies.Decision]int{policies.DecisionApprove: 0, policies.DecisionAsk: 1, policies.DecisionDeny: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// duplicate answers a retry under a key that already sent a transaction.
func (k *kit) duplicate(ctx context.Context, out tools.Outcome, rec evm.TxRecord, err error) (tools.Outcome, error) {
	return k.duplicateWait(ctx, out, rec, err, !k.cfg.noWait)
}

// duplicateWait is duplicate, waiting for a transaction that may still
// land only when wait.
func (k *kit) duplicateWait(ctx context.Context, out tools.Outcome, rec evm.TxRecord, err error, wait bool) (tools.Outcome, error) {
	out.Decision, out.Duplicate = policies.DecisionApprove, true
	if rec.Hash != "" {
		tx := TxOf(rec)
		out.Tx = &tx
	}
	if err != nil {
		return out, err
	}
	if wait && !rec.Status.Final() {
		return k.confirm(ctx, out, rec.Hash)
	}
	if rec.Status == evm.TxReverted {
		return out, fmt.Errorf("transaction %s sent under this key failed on chain in slot %d: %s", rec.Hash, rec.Block, rec.Error)
	}
	return out, nil
}

func differentAction(key, first string) error {
	return tools.Argf("idempotency_key", "key %q was already used for a different action (transaction %s); a retry must repeat the same arguments, or use a new key", key, first)
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

// report renders an execution for a person and the model.
func report(out tools.Outcome, what string, err error) (tools.Result, error) {
	if err != nil {
		return tools.Result{Data: out, Outcome: &out}, err
	}
	var text string
	switch {
	case out.Report != nil:
		text = fmt.Sprintf("Dry run of %s: the policy would %s it (%d compute units).", what, out.Report.Decision, out.Gas)
		for _, r := range out.Report.Reasons {
			text += " " + r.String() + "."
		}
	case out.Duplicate:
		text = fmt.Sprintf("Already sent %s under this idempotency key, in transaction %s (status %s); nothing was sent again.", what, out.Tx.Hash, out.Tx.Status)
	case out.Tx != nil && out.Tx.Status == tools.TxMined:
		text = fmt.Sprintf("Sent %s in transaction %s (slot %d).", what, out.Tx.Hash, out.Tx.Block)
	case out.Tx != nil:
		text = fmt.Sprintf("Broadcast %s in transaction %s; status %s.", what, out.Tx.Hash, out.Tx.Status)
	}
	return tools.Result{Text: text, Data: out, Outcome: &out}, nil
}
