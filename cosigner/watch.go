package cosigner

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/mandatehq/mandate/chains/evm/safe"
)

// Watcher polls a Safe Transaction Service for the pending transactions
// of the reviewer's Safes and confirms the ones the reviewer approves. A
// transaction reviewed before is not reviewed again (its recorded answer
// stands), and one the co-signer's owner already confirmed is skipped.
type Watcher struct {
	r       *Reviewer
	svc     *safe.Service
	owner   common.Address
	poll    time.Duration
	rejudge time.Duration
	onDone  func(Decision)
}

// WatchOption configures a Watcher.
type WatchOption func(*Watcher)

// WithPoll sets how often the service is asked (default 15 s).
func WithPoll(d time.Duration) WatchOption { return func(w *Watcher) { w.poll = d } }

// WithRejudge sets how long a refusal stands before the watcher judges the
// transaction again (default 15 minutes).
func WithRejudge(d time.Duration) WatchOption { return func(w *Watcher) { w.rejudge = d } }

// OnDecision calls f with each new decision (to print or alert).
func OnDecision(f func(Decision)) WatchOption { return func(w *Watcher) { w.onDone = f } }

// NewWatcher watches svc for r's Safes; r must have a signer (the owner).
func NewWatcher(r *Reviewer, svc *safe.Service, opts ...WatchOption) (*Watcher, error) {
	if r.signer == nil {
		return nil, errors.New("cosigner: the watcher confirms transactions, so the reviewer needs an owner key (WithSigner)")
	}
	w := &Watcher{r: r, svc: svc, owner: r.signer.Address(), poll: 15 * time.Second, rejudge: 15 * time.Minute}
	for _, o := range opts {
		o(w)
	}
	return w, nil
}

// Run checks until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	t := time.NewTicker(w.poll)
	defer t.Stop()
	for {
		if err := w.Check(ctx); err != nil && ctx.Err() == nil {
			w.r.log.Warn("co-signer watch: check failed", slog.String("error", err.Error()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Check runs one pass over every Safe's pending transactions.
func (w *Watcher) Check(ctx context.Context) error {
	var errs []error
	for addr := range w.r.safes {
		var from uint64
		if w.r.nonces != nil {
			n, err := w.r.nonces(ctx, addr)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			from = n
		}
		pending, err := w.svc.Pending(ctx, addr, from)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range pending {
			if p.IsExecuted || w.confirmed(p) {
				continue
			}
			if err := w.one(ctx, addr, p); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (w *Watcher) confirmed(p safe.Pending) bool {
	for _, c := range p.Confirmations {
		if strings.EqualFold(c.Owner, w.owner.Hex()) {
			return true
		}
	}
	return false
}

func (w *Watcher) one(ctx context.Context, addr common.Address, p safe.Pending) error {
	if p.SafeTxHash != "" {
		prev, ok, err := w.r.store.Get(ctx, w.r.chainID.String(), p.SafeTxHash)
		if err != nil {
			return err
		}
		// Refused before: the answer stands, and the audit has it once. A
		// refusal may have had a passing cause (a daily limit), so it is
		// judged again after a while.
		if ok && prev.Decision != Approve && time.Since(prev.At) < w.rejudge {
			return nil
		}
	}
	d, err := w.r.Review(ctx, addr, p.ServiceTx)
	if errors.Is(err, ErrNonceAhead) {
		return nil // queued behind transactions the Safe has not executed yet
	}
	if err != nil {
		var in *InputError
		if errors.As(err, &in) {
			w.r.log.Warn("co-signer watch: a pending transaction is malformed", slog.String("safeTxHash", p.SafeTxHash), slog.String("error", err.Error()))
			return nil
		}
		return err
	}
	if w.onDone != nil {
		w.onDone(d)
	}
	if d.Decision != Approve || d.Signature == "" {
		return nil
	}
	sig, err := hexutil.Decode(d.Signature)
	if err != nil {
		return err
	}
	if err := w.svc.Confirm(ctx, common.HexToHash(d.SafeTxHash), sig); err != nil {
		return err
	}
	w.r.log.Info("co-signer confirmed a transaction", slog.String("safe", addr.Hex()), slog.String("safeTxHash", d.SafeTxHash))
	return nil
}
