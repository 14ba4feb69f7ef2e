package solana

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/policies"
)

// Errors of Send and ByKey that callers branch on.
var (
	// ErrKeyReused: the idempotency key already carried another action.
	ErrKeyReused = errors.New("solana: the idempotency key was already used for a different action")
	// ErrExpired: the transaction's blockhash expired before it landed,
	// so it never will; nothing was paid.
	ErrExpired = errors.New("solana: the transaction's blockhash expired before it landed; nothing was paid")
)

// expiredPrefix starts the journal error of a row whose blockhash expired:
// the one failure after which a retry under the same key signs afresh.
const expiredPrefix = "expired: "

func expired(r evm.TxRecord) bool {
	return r.Status == evm.TxFailed && strings.HasPrefix(r.Error, expiredPrefix)
}

// RejectedError says the node refused a signed transaction in preflight:
// it never left. Its row is marked failed and its approvals released.
type RejectedError struct {
	Hash string
	Err  error
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("solana: the node refused transaction %s: %v; nothing was sent", e.Hash, e.Err)
}

func (e *RejectedError) Unwrap() error { return e.Err }

// UncertainError says a signed, journaled transaction was handed to the
// node but the answer was lost. It may land; its row stays signed and is
// sent again by Confirm and Reconcile until it lands or its blockhash
// expires. Its approvals stay charged.
type UncertainError struct {
	Record evm.TxRecord
	Err    error
}

func (e *UncertainError) Error() string {
	return fmt.Sprintf("solana: transaction %s was signed and journaled but the node's answer was lost: %v; it may land, and is sent again until it lands or its blockhash expires at block height %d",
		e.Record.Hash, e.Err, e.Record.Nonce)
}

func (e *UncertainError) Unwrap() error { return e.Err }

// KeyFailedError answers a retry under a key whose transaction the node
// refused: it never left and nothing was paid. The key stays spent on it.
type KeyFailedError struct {
	Key    string
	Record evm.TxRecord
}

func (e *KeyFailedError) Error() string {
	return fmt.Sprintf("solana: the transaction %s sent under idempotency key %q was refused and never left (%s); nothing was paid: to try again, use a new key",
		e.Record.Hash, e.Key, e.Record.Error)
}

// keyedError says, from inside the lock, that the key already sent a
// transaction that stands: Send answers with it and signs nothing.
type keyedError struct{ rec evm.TxRecord }

func (e *keyedError) Error() string {
	return "solana: idempotency key already journaled as " + e.rec.Hash
}

// Send signs p with one approval per intent (in p.Intents' order) and
// broadcasts it. Under the journal's lock on this wallet (shared by every
// process on the database) it checks p.Key against the journal, commits
// each deferred approval (policies.DeferCommit), which checks the limits
// again with every intent of the transaction counted together, signs
// through signApproved and journals the signed transaction, all in one
// database transaction; it broadcasts with the lock released.
//
// A key that already sent a transaction answers with that transaction
// (nothing new is signed, the approvals are released), unless its
// blockhash expired without it landing (checked on chain first): then a
// fresh transaction is signed and linked from the expired row. A key used
// for another action is ErrKeyReused. A node's definite refusal marks the
// row failed and releases the approvals (*RejectedError); a lost answer
// leaves them charged (*UncertainError).
func (w *Wallet) Send(ctx context.Context, p *Prepared, approvals []policies.Approval) (evm.TxRecord, error) {
	return w.send(ctx, p, approvals, false)
}

// SendAwaited is Send for a caller that calls Confirm next: the journal row
// stays "signed" after the broadcast and Confirm records where it landed,
// so a transfer costs two durable writes (the row before the broadcast, and
// its outcome) instead of three. A crash in between leaves a "signed" row,
// which Reconcile and a retry under the key send again (the same bytes:
// they cannot land twice). The returned record says "sent".
func (w *Wallet) SendAwaited(ctx context.Context, p *Prepared, approvals []policies.Approval) (evm.TxRecord, error) {
	return w.send(ctx, p, approvals, true)
}

func (w *Wallet) send(ctx context.Context, p *Prepared, approvals []policies.Approval, awaited bool) (evm.TxRecord, error) {
	rec, prior, err := w.sign(ctx, p, approvals)
	if prior != nil {
		return w.keyed(ctx, p.Key, *prior)
	}
	if err != nil {
		return rec, err
	}
	release := func(why string) { w.release(ctx, approvals, why) }
	switch out, berr := w.broadcast(ctx, rec.Raw); out {
	case accepted:
		for _, ap := range approvals {
			ap.Sent()
		}
		rec.Status = evm.TxSent
		if !awaited {
			w.update(ctx, w.j, rec)
		}
		w.log.Info("transaction sent", slog.String("signature", rec.Hash), slog.Uint64("last_valid_height", rec.Nonce))
		return rec, nil
	case refused:
		rec.Status, rec.Error = evm.TxFailed, berr.Error()
		w.update(ctx, w.j, rec)
		release("refused by the node: " + berr.Error())
		return rec, &RejectedError{Hash: rec.Hash, Err: berr}
	default:
		for _, ap := range approvals {
			ap.Sent() // it may have left: its spend stays charged
		}
		return rec, &UncertainError{Record: rec, Err: berr}
	}
}

// Sign does what Send does up to the broadcast: the key check, the
// commits, the signature through signApproved and the journal row, with
// status signed. It returns that row (the signed transaction in Raw) and
// fresh true; under a key that already sent a transaction it signs
// nothing, releases the approvals and returns that transaction's row with
// fresh false. The row is journaled like any other, so Confirm and
// Reconcile send it while its blockhash is valid: Sign is for a caller
// that broadcasts itself, or a chain the transaction cannot run on (tests
// of programs the local runtime lacks), not a way to sign off the record.
func (w *Wallet) Sign(ctx context.Context, p *Prepared, approvals []policies.Approval) (rec evm.TxRecord, fresh bool, err error) {
	rec, prior, err := w.sign(ctx, p, approvals)
	if prior != nil {
		return w.refresh(ctx, w.j, *prior), false, nil
	}
	return rec, err == nil, err
}

// sign checks the approvals and reserves under the lock. prior is the row
// a used key already sent (nothing signed, approvals released).
func (w *Wallet) sign(ctx context.Context, p *Prepared, approvals []policies.Approval) (evm.TxRecord, *evm.TxRecord, error) {
	release := func(why string) { w.release(ctx, approvals, why) }
	if p == nil || p.Tx == nil {
		release("nothing to send")
		return evm.TxRecord{}, nil, errors.New("solana: nothing to send; prepare a transaction first")
	}
	if len(approvals) != len(p.Intents) {
		release("wrong number of approvals")
		return evm.TxRecord{}, nil, fmt.Errorf("%w: the transaction does %d things, and %d approvals were given", ErrNotApproved, len(p.Intents), len(approvals))
	}
	for _, ap := range approvals {
		if !ap.Valid() {
			release("an approval was not valid")
			if ap.ID() == "" {
				return evm.TxRecord{}, nil, policies.ErrNoApproval
			}
			return evm.TxRecord{}, nil, policies.ErrApprovalUsed
		}
	}
	rec, err := w.reserve(ctx, p, approvals)
	if kd, ok := errors.AsType[*keyedError](err); ok {
		release("idempotency key already sent as " + kd.rec.Hash)
		return evm.TxRecord{}, &kd.rec, nil
	}
	if err != nil {
		release(err.Error())
		w.log.Warn("send refused", slog.String("error", err.Error()))
		return evm.TxRecord{}, nil, err
	}
	return rec, nil, nil
}

// release gives back approvals that paid for nothing.
func (w *Wallet) release(ctx context.Context, approvals []policies.Approval, why string) {
	for _, ap := range approvals {
		if err := ap.Release(context.WithoutCancel(ctx), why); err != nil && !errors.Is(err, policies.ErrNoApproval) {
			w.log.Debug("approval not released", slog.String("approval", ap.ID()), slog.String("error", err.Error()))
		}
	}
}

// reserve does Send's work under the lock: key check, commits, signature,
// journal row. Nothing it returns an error for was journaled or sent.
func (w *Wallet) reserve(ctx context.Context, p *Prepared, approvals []policies.Approval) (evm.TxRecord, error) {
	lctx, cancel := context.WithTimeout(ctx, w.lockWait)
	defer cancel()
	var rec evm.TxRecord
	err := w.locker().LockNonces(lctx, w.jchain, w.from, func(ctx context.Context, j evm.Journal) error {
		var prev *evm.TxRecord // an expired attempt under the key, which this one retries
		if p.Key != "" {
			first, ok, err := j.ByKey(ctx, w.jchain, w.from, p.Key)
			if err != nil {
				return fmt.Errorf("solana: journal: %w", err)
			}
			if ok {
				if first.Action != "" && first.Action != p.Action {
					return fmt.Errorf("%w: key %q sent transaction %s; a retry must repeat the same arguments, or use a new key", ErrKeyReused, p.Key, w.fix(first).Hash)
				}
				cur := w.refresh(ctx, j, w.latest(ctx, j, first))
				if !expired(cur) {
					return &keyedError{rec: cur}
				}
				prev = &cur
			}
		}
		for _, ap := range approvals {
			if err := w.commit(ctx, j, ap, prev != nil); err != nil {
				return err
			}
		}
		tx := *p.Tx
		tx.Signatures = nil
		if err := signApproved(ctx, w.s, signRequest{tx: &tx, chain: w.cluster, look: w.look, approvals: approvals, cap: w.cap, keys: p.Keys, decode: p.decode}); err != nil {
			return err
		}
		raw, err := tx.MarshalBinary()
		if err != nil {
			return fmt.Errorf("solana: encode the signed transaction: %w", err)
		}
		rec = evm.TxRecord{Hash: tx.Signatures[0].String(), Chain: w.jchain, From: w.from, Nonce: p.Blockhash.LastValidBlockHeight,
			Key: p.Key, ApprovalID: approvals[len(approvals)-1].ID(), Action: p.Action, Raw: raw, Status: evm.TxSigned}
		if prev != nil {
			rec.Key = "" // the key stays on the first row; the expired row links here
		}
		if err := j.Insert(ctx, rec); err != nil {
			return fmt.Errorf("solana: journal the signed transaction: %w", err)
		}
		if prev != nil {
			prev.ReplacedBy = rec.Hash
			if err := j.Update(ctx, *prev); err != nil {
				return fmt.Errorf("solana: journal: %w", err)
			}
		}
		return nil
	})
	if err != nil && errors.Is(err, evm.ErrNonceLockTimeout) {
		return evm.TxRecord{}, fmt.Errorf("%w: another sender of %s held the wallet's lock for %s; nothing was signed: try again", err, w.from, w.lockWait)
	}
	return rec, err
}

// commit charges a deferred approval in the lock's transaction. A key the
// ledger holds for an earlier approval is taken over when that attempt
// signed nothing that can land: its transaction expired (retry), or no row
// carries the key and it asked for the same thing.
func (w *Wallet) commit(ctx context.Context, j evm.Journal, ap policies.Approval, retry bool) error {
	err := ap.Commit(ctx)
	dup, ok := errors.AsType[*policies.DuplicateError](err)
	if !ok {
		return err
	}
	if retry || dup.Digest == ap.Digest() {
		w.log.Info("retrying an attempt that sent nothing under its idempotency key",
			slog.String("key", dup.Key), slog.String("earlier_approval", dup.ApprovalID), slog.String("approval", ap.ID()))
		return ap.Supersede(ctx, dup.ApprovalID, false)
	}
	return fmt.Errorf("%w: key %q (approval %s)", ErrKeyReused, dup.Key, dup.ApprovalID)
}

// locker is the journal's lock when it has one (shared across processes),
// else one within this process.
func (w *Wallet) locker() evm.NonceLocker {
	if l, ok := w.j.(evm.NonceLocker); ok {
		return l
	}
	return localLocker{w}
}

type localLocker struct{ w *Wallet }

func (l localLocker) LockNonces(ctx context.Context, _, _ string, fn func(context.Context, evm.Journal) error) error {
	l.w.local.Lock()
	defer l.w.local.Unlock()
	return fn(ctx, l.w.j)
}

type outcome int

const (
	accepted outcome = iota
	refused
	uncertain
)

// broadcast sends raw. A node's error answer is a definite refusal (the
// preflight ran), except "already processed", which is the transaction
// having landed; anything else leaves the outcome unknown.
func (w *Wallet) broadcast(ctx context.Context, raw []byte) (outcome, error) {
	_, err := w.c.SendRaw(ctx, raw)
	if err == nil {
		return accepted, nil
	}
	var re *RPCError
	if errors.As(err, &re) {
		if strings.Contains(re.Message, "already been processed") || strings.Contains(re.Message, "AlreadyProcessed") {
			return accepted, nil
		}
		return refused, err
	}
	return uncertain, err
}

// fix restores a row's signature from its signed bytes: a journal may
// store hashes lower-cased (EVM hex), and base58 is case-sensitive.
func (w *Wallet) fix(r evm.TxRecord) evm.TxRecord {
	if tx, err := sol.TransactionFromBytes(r.Raw); err == nil && len(tx.Signatures) > 0 {
		r.Hash = tx.Signatures[0].String()
	}
	return r
}

func (w *Wallet) update(ctx context.Context, j evm.Journal, r evm.TxRecord) {
	if err := j.Update(ctx, r); err != nil {
		w.log.Error("journal update failed", slog.String("signature", r.Hash), slog.String("status", string(r.Status)), slog.String("error", err.Error()))
	}
}

// latest follows ReplacedBy links (an expired attempt to its retry).
func (w *Wallet) latest(ctx context.Context, j evm.Journal, r evm.TxRecord) evm.TxRecord {
	r = w.fix(r)
	for i := 0; i < 64 && r.ReplacedBy != ""; i++ {
		next, ok, err := j.ByHash(ctx, w.jchain, r.ReplacedBy)
		if err != nil || !ok {
			break
		}
		r = w.fix(next)
	}
	return r
}

// refresh settles a row that is not final from the chain: landed (mined,
// or reverted with its error), or expired when the block height passed its
// last valid height without it (asked twice, so a landing in between is
// not missed). A row the chain cannot say anything about is returned as is.
func (w *Wallet) refresh(ctx context.Context, j evm.Journal, r evm.TxRecord) evm.TxRecord {
	if r.Status.Final() {
		return r
	}
	sig, err := sol.SignatureFromBase58(r.Hash)
	if err != nil {
		return r
	}
	st, err := w.c.SignatureStatus(ctx, sig)
	if err != nil {
		return r
	}
	if st == nil {
		h, err := w.c.BlockHeight(ctx)
		if err != nil || h <= r.Nonce {
			return r
		}
		if st, err = w.c.SignatureStatus(ctx, sig); err != nil {
			return r
		}
		if st == nil {
			r.Status, r.Error = evm.TxFailed, fmt.Sprintf("%sblock height %d passed the blockhash's last valid height %d without the transaction landing", expiredPrefix, h, r.Nonce)
			w.update(ctx, j, r)
			w.log.Info("transaction expired", slog.String("signature", r.Hash), slog.Uint64("last_valid_height", r.Nonce))
			return r
		}
	}
	r.Block, r.Status, r.Error = st.Slot, evm.TxMined, ""
	if st.Err != "" {
		r.Status, r.Error = evm.TxReverted, st.Err
	}
	w.update(ctx, j, r)
	return r
}

// keyed answers a retry whose key sent a transaction: where it stands,
// sent again if it may still land.
func (w *Wallet) keyed(ctx context.Context, key string, r evm.TxRecord) (evm.TxRecord, error) {
	r = w.refresh(ctx, w.j, r)
	switch {
	case expired(r):
		return r, fmt.Errorf("%w (transaction %s)", ErrExpired, r.Hash)
	case r.Status == evm.TxFailed:
		return r, &KeyFailedError{Key: key, Record: r}
	case !r.Status.Final():
		r = w.redeliver(ctx, r)
	}
	return r, nil
}

// redeliver sends a row that may still land again (the same bytes: it
// cannot land twice).
func (w *Wallet) redeliver(ctx context.Context, r evm.TxRecord) evm.TxRecord {
	return w.redeliverRecording(ctx, r, true)
}

// redeliverRecording is redeliver, marking a "signed" row sent only when
// markSent (Confirm records the outcome instead).
func (w *Wallet) redeliverRecording(ctx context.Context, r evm.TxRecord, markSent bool) evm.TxRecord {
	switch out, err := w.broadcast(ctx, r.Raw); out {
	case accepted:
		if r.Status == evm.TxSigned && markSent {
			r.Status = evm.TxSent
			w.update(ctx, w.j, r)
		}
	case refused:
		// Its blockhash may be gone from this node while the transaction
		// landed elsewhere, or not yet be past its last valid height:
		// only refresh decides it is dead.
		w.log.Debug("rebroadcast refused", slog.String("signature", r.Hash), slog.String("error", err.Error()))
	}
	return r
}

// ByKey returns the transaction sent under key, as a retry would answer:
// where it stands (sent again if it may still land), an error for one the
// node refused (*KeyFailedError). It reports false when the key sent
// nothing, or only a transaction whose blockhash expired without landing
// (checked on chain): the key may send afresh.
func (w *Wallet) ByKey(ctx context.Context, key string) (evm.TxRecord, bool, error) {
	if key == "" {
		return evm.TxRecord{}, false, nil
	}
	first, ok, err := w.j.ByKey(ctx, w.jchain, w.from, key)
	if err != nil {
		return evm.TxRecord{}, false, fmt.Errorf("solana: journal: %w", err)
	}
	if !ok {
		return evm.TxRecord{}, false, nil
	}
	r, err := w.keyed(ctx, key, w.latest(ctx, w.j, first))
	if errors.Is(err, ErrExpired) {
		return r, false, nil
	}
	return r, true, err
}

// Confirm waits until the transaction lands (mined, or reverted with an
// error) or its blockhash expires (failed, ErrExpired: it never will land,
// and a retry under its key may sign a fresh one). It sends the same bytes
// again every few polls, so a transaction a node dropped still lands while
// it can. It returns when ctx is done.
func (w *Wallet) Confirm(ctx context.Context, hash string) (evm.TxRecord, error) {
	r, ok, err := w.j.ByHash(ctx, w.jchain, hash)
	if err != nil {
		return evm.TxRecord{}, fmt.Errorf("solana: journal: %w", err)
	}
	if !ok {
		return evm.TxRecord{}, fmt.Errorf("solana: transaction %s is not in this wallet's journal", hash)
	}
	r = w.fix(r)
	for polls := 1; ; polls++ {
		r = w.refresh(ctx, w.j, r)
		switch {
		case r.Status == evm.TxMined:
			return r, nil
		case r.Status == evm.TxReverted:
			return r, fmt.Errorf("solana: transaction %s failed on chain in slot %d: %s", r.Hash, r.Block, r.Error)
		case expired(r):
			return r, fmt.Errorf("%w (transaction %s)", ErrExpired, r.Hash)
		case r.Status == evm.TxFailed:
			return r, fmt.Errorf("solana: transaction %s failed: %s", r.Hash, r.Error)
		}
		if polls%3 == 0 {
			r = w.redeliverRecording(ctx, r, false) // the outcome is recorded above, once known
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("solana: waiting for transaction %s: %w", r.Hash, ctx.Err())
		case <-time.After(w.poll):
		}
	}
}

// Reconcile settles the wallet's open journal rows with the chain; a
// wallet does it when it opens. A row that landed is settled; one whose
// blockhash expired without landing is marked expired; one that may still
// land is sent again (a process that died between journaling and
// broadcasting left it unsent).
func (w *Wallet) Reconcile(ctx context.Context) error {
	open, err := w.j.Open(ctx, w.jchain, w.from)
	if err != nil {
		return fmt.Errorf("solana: journal: %w", err)
	}
	for _, r := range open {
		if err := ctx.Err(); err != nil {
			return err
		}
		was := r.Status
		r = w.refresh(ctx, w.j, w.fix(r))
		if !r.Status.Final() {
			r = w.redeliver(ctx, r)
		}
		if r.Status != was {
			w.log.Info("journal reconciled", slog.String("signature", r.Hash), slog.String("was", string(was)), slog.String("now", string(r.Status)))
		}
	}
	return nil
}
