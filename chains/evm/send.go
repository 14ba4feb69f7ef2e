package evm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/mandatehq/mandate/policies"
)

// Errors Send returns that callers branch on (besides policies.ErrNoApproval,
// ErrApprovalUsed and ErrApprovalMismatch, which it also returns).
var (
	// ErrCallMismatch: the intent's Tx does not do what its fields say.
	ErrCallMismatch = errors.New("evm: the intent's call does not match the intent")
	// ErrNotSendable: the intent kind is not sent by a Wallet (a SafeTx is
	// signed by the safe package's Signer; a Swap's router call cannot be
	// checked against its fields yet) or it carries no call.
	ErrNotSendable = errors.New("evm: the intent cannot be sent by a wallet")
)

// RejectedError says the node refused a signed transaction, so it never
// left. Its nonce was given back and its journal row marked failed; the
// approval was released.
type RejectedError struct {
	Hash  string
	Nonce uint64
	Err   error
}

func (e *RejectedError) Error() string {
	return fmt.Sprintf("evm: node refused transaction %s (nonce %d): %v; nothing was sent", e.Hash, e.Nonce, e.Err)
}

func (e *RejectedError) Unwrap() error { return e.Err }

// UncertainError says a signed, journaled transaction was handed to the
// node but its answer was lost (timeout, dropped connection, garbage). It
// may be in the pool. Its nonce stays used and its row stays "signed": the
// next send and Resume rebroadcast the same bytes, which cannot execute
// twice. The approval is not released.
type UncertainError struct {
	Record TxRecord
	Err    error
}

func (e *UncertainError) Error() string {
	return fmt.Sprintf("evm: transaction %s (nonce %d) was signed and journaled but the node's answer was lost: %v; it may have been sent, and will be rebroadcast by the next send or Resume",
		e.Record.Hash, e.Record.Nonce, e.Err)
}

func (e *UncertainError) Unwrap() error { return e.Err }

// Send carries out an approved intent: it is the only path from an Intent to
// a signature in this package.
//
// It refuses, before anything is signed:
//   - a zero Approval (policies.ErrNoApproval) and one already used
//     (policies.ErrApprovalUsed);
//   - an approval for another chain or account (policies.ErrApprovalMismatch),
//     without spending it, so the wallet it is for can still use it;
//   - an intent without a call, a Swap or a SafeTx (ErrNotSendable: not
//     supported yet, since no decoder checks their calldata against their
//     fields), and a transfer or
//     approval whose call, decoded again, says something other than its
//     fields (ErrCallMismatch): the signature covers the call, so the call
//     must be what the policy read.
//
// It then spends the approval, answers from the journal if the intent's
// idempotency key was already used (see keyed: sending nothing new), and
// simulates the call. Under the journal's lock on the wallet's nonces
// (shared by every process on the same database, see NonceLocker) it
// commits the approval's charge if the approval was decided under
// policies.DeferCommit, takes the next nonce, signs the call and journals it
// (status signed), all in one database transaction with memory.Store's
// journal; with the lock released it broadcasts it and marks it sent. A
// reservation not done within the nonce lock timeout
// (WithNonceLockTimeout) fails with ErrNonceLockTimeout, having signed
// nothing.
//
// When anything fails before the transaction leaves (a revert in
// simulation, the node's definite refusal, a journal error, the lock
// timeout), the approval is released so the ledger uncharges it. Once the
// node accepted the transaction, or its answer leaves that uncertain, the
// approval is marked sent (policies.Approval.Sent) and can no longer be
// released.
//
// Send returns once the node accepted the transaction; Wait waits for it to
// be mined.
func (w *Wallet) Send(ctx context.Context, ap policies.Approval) (TxRecord, error) {
	return w.send(ctx, ap, false)
}

// SendAwaited is Send for a caller that calls Wait for the transaction
// next, as a tool that reports the receipt does: the journal row stays
// "signed" after the broadcast and Wait records the outcome, so a transfer
// costs two durable writes (the row before the broadcast, and its outcome)
// instead of three. A crash between the two leaves a "signed" row, which
// Resume, the next send's rebroadcast and a retry under the key handle as
// they handle a sender that died before broadcasting: the same bytes are
// sent again and are "already known". The returned record says "sent".
func (w *Wallet) SendAwaited(ctx context.Context, ap policies.Approval) (TxRecord, error) {
	return w.send(ctx, ap, true)
}

func (w *Wallet) send(ctx context.Context, ap policies.Approval, awaited bool) (TxRecord, error) {
	in := ap.Intent()
	if in == nil {
		return TxRecord{}, policies.ErrNoApproval
	}
	if !ap.Valid() {
		return TxRecord{}, policies.ErrApprovalUsed
	}
	if err := w.checkOwner(in); err != nil {
		return TxRecord{}, err
	}
	in, err := ap.Claim()
	if err != nil {
		return TxRecord{}, err
	}
	log := w.log.With(slog.String("approval", ap.ID()), slog.String("kind", string(in.Kind())))
	fail := func(err error) (TxRecord, error) {
		w.release(ctx, ap, err.Error())
		log.Warn("send refused", slog.String("error", err.Error()))
		return TxRecord{}, err
	}
	call, err := w.exactCall(in)
	if err != nil {
		return fail(err)
	}
	key := in.Head().Key
	if key != "" {
		rec, ok, err := w.byKey(ctx, w.j, key)
		if err != nil {
			return fail(fmt.Errorf("evm: journal lookup of idempotency key: %w", err))
		}
		if ok {
			w.release(ctx, ap, "idempotency key already sent as "+rec.Hash)
			return w.keyed(ctx, key, rec)
		}
	}
	action, err := policies.ActionDigest(in)
	if err != nil {
		return fail(err)
	}
	ref := sendRef{key: key, approvalID: ap.ID(), action: action, commit: w.committer(ap, key, action), awaited: awaited}
	if sw, ok := in.(policies.Swap); ok {
		// A swap that needs an allowance first gets it, mined, before
		// its own simulation: the swap would revert without it.
		if err := w.approveFirst(ctx, sw, ref, log); err != nil {
			return w.refused(ctx, ap, key, err, fail)
		}
	}
	gas, err := w.Simulate(ctx, call)
	if err != nil {
		return fail(err)
	}
	tip, feeCap, err := w.Fees(ctx)
	if err != nil {
		return fail(err)
	}
	rec, err := w.signAndSend(ctx, call, w.gasLimit(gas), tip, feeCap, ref)
	if err != nil {
		var unc *UncertainError
		if errors.As(err, &unc) {
			ap.Sent() // it may have left: the spend must stay charged
			log.Warn("broadcast outcome unknown", slog.String("hash", rec.Hash), slog.Uint64("nonce", rec.Nonce), slog.String("error", err.Error()))
			return rec, err
		}
		return w.refused(ctx, ap, key, err, fail)
	}
	ap.Sent()
	log.Info("transaction sent", slog.String("hash", rec.Hash), slog.Uint64("nonce", rec.Nonce), slog.String("to", call.To))
	crashPoint("before-wait")
	return rec, nil
}

// refused ends a send that signed nothing of its own: a key another
// attempt journaled first is answered with that attempt's transaction
// (keyed); anything else releases the approval (fail).
func (w *Wallet) refused(ctx context.Context, ap policies.Approval, key string, err error, fail func(error) (TxRecord, error)) (TxRecord, error) {
	var kd *keyedError
	if errors.As(err, &kd) {
		w.release(ctx, ap, "idempotency key already sent as "+kd.rec.Hash)
		return w.keyed(ctx, key, kd.rec)
	}
	if errors.Is(err, ErrDuplicateKey) { // a concurrent send journaled the key first
		w.release(ctx, ap, "idempotency key already sent")
		prev, ok, jerr := w.byKey(ctx, w.j, key)
		if jerr != nil || !ok {
			return TxRecord{}, errors.Join(err, jerr)
		}
		return w.keyed(ctx, key, prev)
	}
	return fail(err)
}

// ByKey returns where the transaction sent under an idempotency key
// stands, as a retry under that key would answer: following ReplacedBy,
// broadcast again if the node does not have it, an error for one that
// failed (KeyFailedError). It reports false when the key sent nothing on
// this chain.
func (w *Wallet) ByKey(ctx context.Context, key string) (TxRecord, bool, error) {
	if key == "" {
		return TxRecord{}, false, nil
	}
	rec, ok, err := w.byKey(ctx, w.j, key)
	if !ok || err != nil {
		return TxRecord{}, false, err
	}
	rec, err = w.keyed(ctx, key, rec)
	return rec, true, err
}

// JournalChain is the chain's name in the journal (Client.ChainKey): the
// chain id and the genesis block, so two chains with one id are not mixed.
func (w *Wallet) JournalChain() string { return w.jchain }

// keyedError says, from inside the nonce lock, that the send's idempotency
// key is journaled already (another process took it meanwhile): nothing is
// signed, and Send answers with the journaled transaction.
type keyedError struct{ rec TxRecord }

func (e *keyedError) Error() string {
	return "evm: idempotency key already journaled as " + e.rec.Hash
}

// sendRef is what a transaction is signed for: the idempotency key its row
// carries, the approval and the action it carries out (ActionDigest), and
// what charges that approval inside the journal's transaction (nil once
// charged, or for one charged when decided).
type sendRef struct {
	key, approvalID, action string
	commit                  func(context.Context, Journal) error
	// awaited: the caller calls Wait next, which records the outcome; the
	// row is not marked sent in between (see SendAwaited).
	awaited bool
}

// committer returns what charges ap inside the nonce lock's transaction,
// beside the journal row of the first transaction it signs, or nil for an
// approval the engine committed when it decided. A key the ledger holds
// for another approval is resolved there, where the journal cannot change
// under it: journaled (by an attempt in another process, or a crashed one)
// means that transaction answers (keyedError); not journaled, for the same
// intent, means the earlier attempt signed nothing, and this one
// supersedes it (its charge released, the key passed on, in this commit).
func (w *Wallet) committer(ap policies.Approval, key, action string) func(context.Context, Journal) error {
	if !ap.Deferred() {
		return nil
	}
	return func(ctx context.Context, j Journal) error {
		err := ap.Commit(ctx)
		dup, ok := errors.AsType[*policies.DuplicateError](err)
		if !ok || key == "" {
			return err
		}
		rec, found, jerr := w.byKey(ctx, j, key)
		switch {
		case jerr != nil:
			return jerr
		case found && rec.Action != "" && rec.Action != action:
			return err // another action under this key: the caller says so
		case found:
			return &keyedError{rec: rec}
		}
		if old, elsewhere, jerr := j.KeyedElsewhere(ctx, w.jchain, w.addr.Hex(), key); jerr != nil {
			return jerr
		} else if elsewhere && (old.Chain == w.chain || strings.HasPrefix(old.Chain, w.chain+"/")) {
			// Sent on a chain this one replaced (same id, another genesis):
			// the key is free here, and that attempt stays charged.
			w.log.Info("idempotency key used on an earlier chain with this id; free on this one",
				slog.String("key", key), slog.String("earlier_chain", old.Chain), slog.String("earlier_tx", old.Hash))
			return ap.Supersede(ctx, dup.ApprovalID, true)
		}
		if dup.Digest != ap.Digest() && !w.allowanceOnly(ctx, j, ap, key) {
			return err // another action under this key: the caller says so
		}
		w.log.Info("retrying an attempt that signed nothing under its idempotency key",
			slog.String("key", key), slog.String("earlier_approval", dup.ApprovalID), slog.String("approval", ap.ID()))
		return ap.Supersede(ctx, dup.ApprovalID, false)
	}
}

// allowanceOnly reports whether the earlier attempt under key was a swap
// that sent only the allowance it needed first (journaled under
// key+"/approve", see approveFirst) and never signed the swap: its retry
// is the same swap quoted again, whose intent differs in its quote and
// deadline, and supersedes it.
func (w *Wallet) allowanceOnly(ctx context.Context, j Journal, ap policies.Approval, key string) bool {
	if _, swap := ap.Intent().(policies.Swap); !swap {
		return false
	}
	_, ok, err := j.ByKey(ctx, w.jchain, w.addr.Hex(), key+"/approve")
	return ok && err == nil
}

// byKey finds the transaction journaled under key on this chain. Rows
// journaled before chains were told apart by genesis name the chain by id
// alone; such a row answers only if this chain knows its transaction.
func (w *Wallet) byKey(ctx context.Context, j Journal, key string) (TxRecord, bool, error) {
	rec, ok, err := j.ByKey(ctx, w.jchain, w.addr.Hex(), key)
	if ok || err != nil {
		return rec, ok, err
	}
	old, ok, err := j.ByKey(ctx, w.chain, w.addr.Hex(), key)
	if !ok || err != nil {
		return TxRecord{}, false, err
	}
	if _, _, err := w.c.TransactionByHash(ctx, common.HexToHash(old.Hash)); err != nil {
		if errors.Is(err, ethereum.NotFound) {
			return TxRecord{}, false, nil // a chain this one replaced
		}
		return TxRecord{}, false, err
	}
	return old, true, nil
}

// keyed answers a send whose idempotency key is already journaled, with
// where that attempt stands now, following ReplacedBy to the transaction
// that counts. One journaled but not known to the node (its sender died
// before broadcasting it, or the node dropped it) is broadcast again, so a
// retry converges instead of waiting for a transaction nobody sends. One
// that failed is an error: it never left, and nothing was paid.
func (w *Wallet) keyed(ctx context.Context, key string, rec TxRecord) (TxRecord, error) {
	rec = w.latest(ctx, rec)
	if !rec.Status.Final() {
		rec = w.redeliver(ctx, rec)
	}
	if rec.Status == TxFailed {
		return rec, &KeyFailedError{Key: key, Record: rec}
	}
	return rec, nil
}

// KeyFailedError answers a retry under an idempotency key whose
// transaction failed: the node refused it, it never left, and nothing was
// paid. The key stays spent on it; a new key tries again.
type KeyFailedError struct {
	Key    string
	Record TxRecord
}

func (e *KeyFailedError) Error() string {
	return fmt.Sprintf("evm: the transaction %s sent under idempotency key %q failed and never left (%s); nothing was paid: to try again, use a new key",
		e.Record.Hash, e.Key, e.Record.Error)
}

// redeliver makes sure the node has a journaled transaction that is not
// final: settled from its receipt if mined, marked sent if the node knows
// it, broadcast again otherwise. It returns the row as it now stands.
func (w *Wallet) redeliver(ctx context.Context, rec TxRecord) TxRecord {
	return w.redeliverRecording(ctx, rec, true)
}

// redeliverRecording is redeliver, writing "sent" to the journal only when
// markSent: Wait, which records the outcome next, does not (see
// SendAwaited).
func (w *Wallet) redeliverRecording(ctx context.Context, rec TxRecord, markSent bool) TxRecord {
	h := common.HexToHash(rec.Hash)
	if r, err := w.c.Receipt(ctx, h); err == nil {
		return w.settle(ctx, rec, r)
	}
	if _, _, err := w.c.TransactionByHash(ctx, h); err == nil {
		if rec.Status == TxSigned && markSent {
			rec.Status = TxSent
			w.update(ctx, rec)
		}
		return rec
	} else if !errors.Is(err, ethereum.NotFound) {
		return rec // the node cannot say; Wait asks again
	}
	out, serr := w.broadcast(ctx, rec.Raw)
	switch out {
	case accepted:
		if markSent {
			rec.Status = TxSent
			w.update(ctx, rec)
		}
		w.log.Info("journaled transaction the node did not have sent again", slog.String("hash", rec.Hash), slog.Uint64("nonce", rec.Nonce))
	case rejected:
		if cur, ok, err := w.j.ByHash(ctx, w.jchain, rec.Hash); err == nil && ok && !cur.Status.Final() {
			rec.Status, rec.Error = TxFailed, serr.Error()
			w.update(ctx, rec)
		}
	}
	return rec
}

// latest follows ReplacedBy links to the newest record.
func (w *Wallet) latest(ctx context.Context, rec TxRecord) TxRecord {
	seen := map[string]bool{strings.ToLower(rec.Hash): true}
	for rec.ReplacedBy != "" && !seen[strings.ToLower(rec.ReplacedBy)] {
		next, ok, err := w.j.ByHash(ctx, w.jchain, rec.ReplacedBy)
		if err != nil || !ok {
			break
		}
		seen[strings.ToLower(next.Hash)] = true
		rec = next
	}
	return rec
}

func (w *Wallet) release(ctx context.Context, ap policies.Approval, reason string) {
	if err := ap.Release(context.WithoutCancel(ctx), reason); err != nil {
		w.log.Error("could not release approval", slog.String("approval", ap.ID()), slog.String("error", err.Error()))
	}
}

// checkOwner refuses an intent for another chain or account.
func (w *Wallet) checkOwner(in policies.Intent) error {
	h := in.Head()
	if h.Chain != w.chain {
		return fmt.Errorf("%w: the intent is for chain %q, this wallet is on chain %s", policies.ErrApprovalMismatch, h.Chain, w.chain)
	}
	from, err := parseAddress("from", h.From)
	if err != nil || from != w.addr {
		return fmt.Errorf("%w: the intent acts from %q, this wallet is %s", policies.ErrApprovalMismatch, h.From, w.addr.Hex())
	}
	return nil
}

// exactCall returns the call an approved intent executes, after checking it
// against the intent's fields.
func (w *Wallet) exactCall(in policies.Intent) (policies.Call, error) {
	if in.Kind() == policies.KindSafeTx {
		return policies.Call{}, fmt.Errorf("%w: sending a Safe transaction from a wallet is not supported yet: it is signed by the Safe's owners (package safe)", ErrNotSendable)
	}
	tx := in.Call()
	if tx == nil {
		return policies.Call{}, fmt.Errorf("%w: the %s intent carries no call (Tx)", ErrNotSendable, in.Kind())
	}
	to, err := parseAddress("to", tx.To)
	if err != nil {
		return policies.Call{}, fmt.Errorf("%w: %v", ErrCallMismatch, err)
	}
	call := policies.Call{To: to.Hex(), Value: new(big.Int), Data: bytes.Clone([]byte(tx.Data))}
	if tx.Value != nil {
		call.Value.Set(tx.Value)
	}
	if call.Value.Sign() < 0 || call.Value.Cmp(maxUint256) > 0 {
		return policies.Call{}, fmt.Errorf("%w: value %s is not a uint256", ErrCallMismatch, call.Value)
	}

	// Defense in depth: the engine judged the fields; the signature covers
	// the call. Decode the call again and require they agree.
	switch x := in.(type) {
	case policies.Transfer, policies.Approve:
		got, err := DecodeCall(w.chain, w.addr.Hex(), call, nil, w.dec...)
		if err != nil {
			return policies.Call{}, fmt.Errorf("%w: %v", ErrCallMismatch, err)
		}
		if why := sameSemantics(in, got); why != "" {
			return policies.Call{}, fmt.Errorf("%w: %s", ErrCallMismatch, why)
		}
	case policies.Swap:
		if err := w.swapCall(x, call); err != nil {
			return policies.Call{}, err
		}
	case policies.ContractCall:
		xv := x.Value
		if xv == nil {
			xv = new(big.Int)
		}
		if xto, err := parseAddress("to", x.To); err != nil || xto != to || xv.Cmp(call.Value) != 0 || !bytes.Equal(x.Data, call.Data) {
			return policies.Call{}, fmt.Errorf("%w: the contract call's to, value or data differ from its Tx", ErrCallMismatch)
		}
	}
	return call, nil
}

func addrEq(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	x, err1 := parseAddress("a", a)
	y, err2 := parseAddress("b", b)
	return err1 == nil && err2 == nil && x == y
}

func amountEq(a, b *big.Int) bool { return a != nil && b != nil && a.Cmp(b) == 0 }

// sameSemantics compares what a transfer or approval says with what its
// call, decoded, says. It returns "" when they agree.
func sameSemantics(want, got policies.Intent) string {
	switch x := want.(type) {
	case policies.Transfer:
		g, ok := got.(policies.Transfer)
		switch {
		case !ok:
			return fmt.Sprintf("the call is a %s, not a transfer", got.Kind())
		case x.Token.Native() != g.Token.Native() || !addrEq(x.Token.Address, g.Token.Address):
			return fmt.Sprintf("the call moves token %q, the intent says %q", g.Token.Address, x.Token.Address)
		case !addrEq(x.To, g.To):
			return fmt.Sprintf("the call pays %s, the intent says %s", g.To, x.To)
		case !amountEq(x.Amount, g.Amount):
			return fmt.Sprintf("the call moves %s, the intent says %v", g.Amount, x.Amount)
		}
	case policies.Approve:
		g, ok := got.(policies.Approve)
		switch {
		case !ok:
			return fmt.Sprintf("the call is a %s, not an approval", got.Kind())
		case x.Method != g.Method:
			return fmt.Sprintf("the call is %s, the intent says %s", g.Method, x.Method)
		case !addrEq(x.Token.Address, g.Token.Address):
			return fmt.Sprintf("the call approves token %s, the intent says %s", g.Token.Address, x.Token.Address)
		case !addrEq(x.Spender, g.Spender):
			return fmt.Sprintf("the call approves %s, the intent says %s", g.Spender, x.Spender)
		case !amountEq(x.Amount, g.Amount):
			return fmt.Sprintf("the call approves %s, the intent says %v", g.Amount, x.Amount)
		case x.Unlimited != g.Unlimited:
			return fmt.Sprintf("the call's unlimited is %t, the intent says %t", g.Unlimited, x.Unlimited)
		case x.Expiration != g.Expiration:
			return fmt.Sprintf("the call expires at %d, the intent says %d", g.Expiration, x.Expiration)
		}
	}
	return ""
}

// --- nonce reservation and broadcast --------------------------------------

// crashPoint is a test seam: a binary built with the mandate_crashpoints tag
// (crashpoint.go) is killed at the point named by its environment, so tests
// can check that a process dying between two steps loses nothing. In every
// other build it does nothing, and nothing outside this package can set it.
var crashPoint = func(point string) {}

// locker is the lock on the wallet's nonces: the journal's own when it is a
// NonceLocker (shared by every process on a database), otherwise one held
// within this process.
func (w *Wallet) locker() NonceLocker {
	if l, ok := w.j.(NonceLocker); ok {
		return l
	}
	return localLocker{w}
}

type localLocker struct{ w *Wallet }

func (l localLocker) LockNonces(ctx context.Context, chain, from string, fn func(context.Context, Journal) error) error {
	unlock, err := l.w.local.lock(ctx, chain+"/"+strings.ToLower(from))
	if err != nil {
		return err
	}
	defer unlock()
	return fn(ctx, l.w.j)
}

// reserve takes the wallet's next nonce, signs call with it and journals the
// signed transaction (status signed), all under the nonce lock, so no other
// sender — in this process or, through a shared database, in another — can
// take the same nonce. The lock is released before anything is broadcast:
// it is never held across the network's answer. Nothing it returns an error
// for was journaled, so no nonce is used.
func (w *Wallet) reserve(ctx context.Context, call policies.Call, gas uint64, tip, feeCap *big.Int, ref sendRef) (TxRecord, error) {
	lctx, cancel := context.WithTimeout(ctx, w.lockWait)
	defer cancel()
	var rec TxRecord
	var decided error // the policy refused at commit: recorded, nothing signed
	err := w.locker().LockNonces(lctx, w.jchain, w.addr.Hex(), func(ctx context.Context, j Journal) error {
		if ref.commit != nil {
			if err := ref.commit(ctx, j); err != nil {
				if _, ok := errors.AsType[*policies.Denied](err); ok {
					decided = err
					return nil // commit the denial's record, and nothing else
				}
				return err
			}
		}
		nonce, err := w.nextNonce(ctx, j)
		if err != nil {
			return err
		}
		crashPoint("before-commit")
		rec, err = w.signJournaled(ctx, j, call, nonce, gas, tip, feeCap, ref)
		return err
	})
	var kd *keyedError
	switch {
	case err == nil && decided != nil:
		return TxRecord{}, decided
	case err == nil:
		return rec, nil
	case errors.As(err, &kd), errors.Is(err, ErrDuplicateKey):
		return TxRecord{}, err
	case errors.As(err, new(*policies.DuplicateError)):
		return TxRecord{}, err
	case errors.As(err, new(*signError)) && ctx.Err() == nil && lctx.Err() != nil:
		return TxRecord{}, fmt.Errorf("%w; a signer must answer within the nonce lock timeout, %s (WithNonceLockTimeout); nothing was sent", err, w.lockWait)
	case errors.As(err, new(*signError)):
		return TxRecord{}, fmt.Errorf("%w; nothing was sent", err)
	case ctx.Err() != nil:
		return TxRecord{}, fmt.Errorf("evm: reserving a nonce: %w; nothing was sent", ctx.Err())
	case errors.Is(err, ErrNonceLockTimeout):
		return TxRecord{}, fmt.Errorf("%w: not granted within %s, another sender of %s held it (on a shared database, another process may hold the database locked); nothing was written or signed, and no nonce was used: try again once it is free, or allow longer with WithNonceLockTimeout",
			ErrNonceLockTimeout, w.lockWait, w.addr.Hex())
	case lctx.Err() != nil:
		return TxRecord{}, fmt.Errorf("evm: reserving a nonce took longer than %s: %w; nothing was sent", w.lockWait, err)
	}
	return TxRecord{}, fmt.Errorf("evm: reserving a nonce: %w; nothing was sent", err)
}

// nextNonce returns the lowest nonce at or above the chain's pending nonce
// that no open journal row holds. Called under the nonce lock, it sees every
// transaction a sender sharing the journal has journaled, broadcast or not:
// one a live sender is about to broadcast, one whose sender died before
// broadcasting it, one whose broadcast outcome is unknown (the last two are
// rebroadcast before each reservation, see flushUnsent).
//
// Final rows do not count. A mined row's nonce is in the pending nonce
// already, and on a chain that was reset (a devnet restarted over the same
// database) the old chain's rows would leave a gap no transaction fills. A
// failed row never left, so its nonce is free: if another sender reserved
// the next one meanwhile, this fills the gap the refusal left, and the
// later transaction does not wait behind it.
func (w *Wallet) nextNonce(ctx context.Context, j Journal) (uint64, error) {
	pending, err := w.c.PendingNonce(ctx, w.addr)
	if err != nil {
		return 0, err
	}
	used, err := openNonces(ctx, j, w.jchain, w.addr.Hex(), pending)
	if err != nil {
		return 0, fmt.Errorf("evm: journal: %w", err)
	}
	next := pending
	for used[next] {
		next++
	}
	w.log.Debug("nonce reserved", slog.Uint64("nonce", next), slog.Uint64("pending", pending), slog.Int("open", len(used)))
	return next, nil
}

// OpenNoncer is a Journal that can list the nonces at or above floor that
// a sender's open transactions hold, lowest first, without reading the
// transactions: a reservation needs nothing else of them, and it reads them
// under the nonce lock, where under load every transaction in flight is
// open.
type OpenNoncer interface {
	OpenNonces(ctx context.Context, chain, from string, floor uint64) ([]uint64, error)
}

// openNonces is the set of nonces at or above floor that from's open
// transactions hold.
func openNonces(ctx context.Context, j Journal, chain, from string, floor uint64) (map[uint64]bool, error) {
	if on, ok := j.(OpenNoncer); ok {
		ns, err := on.OpenNonces(ctx, chain, from, floor)
		if err != nil {
			return nil, err
		}
		used := make(map[uint64]bool, len(ns))
		for _, n := range ns {
			used[n] = true
		}
		return used, nil
	}
	open, err := j.Open(ctx, chain, from)
	if err != nil {
		return nil, err
	}
	used := make(map[uint64]bool, len(open))
	for _, r := range open {
		if !r.Status.Final() && r.Nonce >= floor { // Open lists only these; a journal may be lax
			used[r.Nonce] = true
		}
	}
	return used, nil
}

// signJournaled signs call at nonce and journals it, under the nonce lock.
// The journal may already hold the very same transaction — same sender,
// nonce, call and fees give the same hash — when an earlier attempt at
// this nonce was refused by the node (a failed row, whose nonce is free
// again); the tip is then raised by one wei, which makes it a distinct
// transaction with a row of its own.
func (w *Wallet) signJournaled(ctx context.Context, j Journal, call policies.Call, nonce, gas uint64, tip, feeCap *big.Int, ref sendRef) (TxRecord, error) {
	for range 3 {
		tx, raw, err := w.sign(ctx, call, nonce, gas, tip, feeCap)
		if err != nil {
			return TxRecord{}, err
		}
		rec := w.record(tx, raw, ref)
		err = j.Insert(ctx, rec)
		if err == nil || errors.Is(err, ErrDuplicateKey) {
			return rec, err
		}
		if !errors.Is(err, ErrDuplicateHash) {
			return TxRecord{}, fmt.Errorf("evm: journal the signed transaction: %w", err)
		}
		tip, feeCap = new(big.Int).Add(tip, big.NewInt(1)), new(big.Int).Add(feeCap, big.NewInt(1))
	}
	return TxRecord{}, fmt.Errorf("evm: journal the signed transaction: %w at nonce %d three times", ErrDuplicateHash, nonce)
}

type outcome int

const (
	accepted    outcome = iota // in the pool (or already was)
	nonceTaken                 // the nonce is used by another transaction
	rejected                   // refused by the node; never left
	undelivered                // never reached the node (connection refused, client closed)
	uncertain                  // may or may not have left
)

// definiteRefusals are node answers to eth_sendRawTransaction that say the
// transaction is invalid as signed, so no node, and no provider forwarding
// it, can have put it in a pool. Matched in lower case as substrings.
var definiteRefusals = []string{
	"insufficient funds",
	"intrinsic gas too low",
	"fee cap less than block base fee",
	"max fee per gas less than block base fee",
	"max priority fee per gas higher than max fee per gas",
	"tip higher than fee cap",
	"invalid sender",
	"invalid signature",
	"invalid transaction v, r, s values",
	"exceeds block gas limit",
	"transaction type not supported",
	"tx type not supported",
	"oversized data",
}

// classify reads the node's answer to eth_sendRawTransaction. Only answers
// known to refuse the transaction for good are "rejected" (its nonce is
// given back and its approval released); any other JSON-RPC error is
// "uncertain", since a provider may have forwarded the transaction before
// something else failed.
func classify(err error) outcome {
	if err == nil {
		return accepted
	}
	var rerr rpc.Error
	if errors.As(err, &rerr) {
		msg := strings.ToLower(rerr.Error())
		switch {
		case strings.Contains(msg, "already known"), strings.Contains(msg, "already imported"),
			strings.Contains(msg, "known transaction"):
			return accepted
		case strings.Contains(msg, "nonce too low"), strings.Contains(msg, "replacement transaction underpriced"),
			strings.Contains(msg, "nonce has already been used"):
			return nonceTaken
		}
		for _, r := range definiteRefusals {
			if strings.Contains(msg, r) {
				return rejected
			}
		}
		return uncertain
	}
	// Nothing was written: a refused connection or a closed client.
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, rpc.ErrClientQuit) {
		return undelivered
	}
	return uncertain
}

func (w *Wallet) broadcast(ctx context.Context, raw []byte) (outcome, error) {
	// Once signed and journaled, the broadcast is not abandoned halfway
	// because the caller gave up: the Client's own timeout bounds it.
	_, err := w.c.SendRaw(context.WithoutCancel(ctx), raw)
	return classify(err), err
}

func (w *Wallet) update(ctx context.Context, rec TxRecord) {
	rec.UpdatedAt = time.Now()
	if err := w.j.Update(context.WithoutCancel(ctx), rec); err != nil {
		w.log.Error("journal update failed", slog.String("hash", rec.Hash), slog.String("status", string(rec.Status)), slog.String("error", err.Error()))
	}
}

// sign has the wallet's signer sign call. Its callers hold a claimed
// Approval for call (Send, through reserve) or the journaled transaction
// such an approval produced (Replace): this is the only place a
// transaction reaches a Signer.
func (w *Wallet) sign(ctx context.Context, call policies.Call, nonce, gas uint64, tip, feeCap *big.Int) (*types.Transaction, []byte, error) {
	to := common.HexToAddress(call.To)
	tx := types.NewTx(&types.DynamicFeeTx{
		ChainID:   w.c.ChainID(),
		Nonce:     nonce,
		GasTipCap: tip,
		GasFeeCap: feeCap,
		Gas:       gas,
		To:        &to,
		Value:     call.Value,
		Data:      call.Data,
	})
	signed, err := w.s.signTx(ctx, tx, w.c.chainID)
	if err != nil {
		return nil, nil, &signError{nonce: nonce, err: err}
	}
	raw, err := signed.MarshalBinary()
	if err != nil {
		return nil, nil, fmt.Errorf("evm: encode signed transaction: %w", err)
	}
	return signed, raw, nil
}

// signError is a signer's failure to sign a transaction: nothing was
// signed, so nothing was journaled.
type signError struct {
	nonce uint64
	err   error
}

func (e *signError) Error() string {
	return fmt.Sprintf("evm: sign (nonce %d): %v", e.nonce, e.err)
}

func (e *signError) Unwrap() error { return e.err }

func (w *Wallet) record(tx *types.Transaction, raw []byte, ref sendRef) TxRecord {
	now := time.Now().UTC()
	return TxRecord{Hash: tx.Hash().Hex(), Chain: w.jchain, From: w.addr.Hex(), Nonce: tx.Nonce(), Key: ref.key,
		ApprovalID: ref.approvalID, Action: ref.action, Raw: raw, Status: TxSigned, CreatedAt: now, UpdatedAt: now}
}

// signAndSend reserves a nonce for call, signs and journals it (reserve),
// then broadcasts it with the nonce lock released. First it rebroadcasts
// what earlier senders left signed but maybe unsent, so the new nonce does
// not wait behind a gap.
//
// A transaction the node refuses for good is marked failed, which frees its
// nonce for the next reservation (see nextNonce). One whose nonce turns out
// to be used by a transaction the journal does not know (another program
// with the same key) is marked failed and signed again at a fresh nonce, at
// most twice.
func (w *Wallet) signAndSend(ctx context.Context, call policies.Call, gas uint64, tip, feeCap *big.Int, ref sendRef) (TxRecord, error) {
	w.flushUnsent(ctx)
	var prev *TxRecord // a row that failed with "nonce too low", to link to its retry
	for attempt := 0; ; attempt++ {
		rowRef := ref
		if prev != nil {
			rowRef.key = "" // the key stays on the first row, which links here
		}
		rec, err := w.reserve(ctx, call, gas, tip, feeCap, rowRef)
		if err != nil {
			return TxRecord{}, err
		}
		if prev != nil {
			prev.ReplacedBy = rec.Hash
			w.update(ctx, *prev)
		}
		crashPoint("after-reserve")
		w.sending.Store(strings.ToLower(rec.Hash), struct{}{})
		out, serr := w.broadcast(ctx, rec.Raw)
		if out != accepted || !ref.awaited {
			w.sending.Delete(strings.ToLower(rec.Hash))
		}
		switch out {
		case accepted:
			crashPoint("after-broadcast")
			rec.Status = TxSent
			if !ref.awaited {
				w.update(ctx, rec)
			}
			// Awaited, the row stays "signed" until Wait records the
			// outcome, and in w.sending meanwhile, so that this wallet's
			// other sends do not broadcast it again (Wait removes it).
			return rec, nil
		case uncertain:
			// It stays signed: the next send, here or in another process
			// on the journal, rebroadcasts it (flushUnsent), as does Resume.
			return rec, &UncertainError{Record: rec, Err: serr}
		case nonceTaken:
			if r, err := w.c.Receipt(ctx, common.HexToHash(rec.Hash)); err == nil {
				// "nonce too low" because this very transaction is mined
				// (a provider relayed it twice, or another sender's
				// flushUnsent sent it first): it was sent.
				return w.settle(ctx, rec, r), nil
			}
			rec.Status, rec.Error = TxFailed, serr.Error()
			w.update(ctx, rec)
			if attempt >= 2 {
				return TxRecord{}, &RejectedError{Hash: rec.Hash, Nonce: rec.Nonce, Err: serr}
			}
			w.log.Warn("nonce already used by a transaction not in the journal; reserving another",
				slog.Uint64("nonce", rec.Nonce), slog.String("error", serr.Error()))
			prev = &rec
		default: // rejected, undelivered: it never left
			rec.Status, rec.Error = TxFailed, serr.Error()
			w.update(ctx, rec)
			return TxRecord{}, &RejectedError{Hash: rec.Hash, Nonce: rec.Nonce, Err: serr}
		}
	}
}

// flushUnsent rebroadcasts the wallet's journaled transactions still
// "signed" at or above the chain's pending nonce, lowest first. They are
// nonces the chain may not have seen: a broadcast whose answer was lost, or
// a sender — in this process or another on the same journal — that died
// between journaling and broadcasting. A new nonce reserved above them would
// wait behind them for ever. Rows this wallet is broadcasting at this
// moment are left to it; a row another process is broadcasting goes out
// twice, which is harmless: the same bytes are "already known". One the
// node refuses for good is marked failed, so its nonce is reused. Failures
// here only log: the send goes on.
func (w *Wallet) flushUnsent(ctx context.Context) {
	open, err := w.j.Open(ctx, w.jchain, w.addr.Hex())
	if err != nil {
		w.log.Warn("could not read the journal for unsent transactions", slog.String("error", err.Error()))
		return
	}
	var signed []TxRecord
	for _, r := range open {
		if _, mine := w.sending.Load(strings.ToLower(r.Hash)); r.Status == TxSigned && !mine {
			signed = append(signed, r)
		}
	}
	if len(signed) == 0 {
		return
	}
	pending, err := w.c.PendingNonce(ctx, w.addr)
	if err != nil {
		w.log.Warn("could not read the pending nonce to rebroadcast unsent transactions", slog.String("error", err.Error()))
		return
	}
	for _, rec := range signed {
		if rec.Nonce < pending {
			continue // the chain has used the nonce: Wait and Resume settle the row
		}
		out, serr := w.broadcast(ctx, rec.Raw)
		switch out {
		case accepted:
			rec.Status = TxSent
			w.update(ctx, rec) // only from signed: see Journal.Update
			w.log.Info("rebroadcast unsent transaction", slog.String("hash", rec.Hash), slog.Uint64("nonce", rec.Nonce))
		case rejected:
			w.setIfSigned(ctx, rec, TxFailed, serr.Error())
			w.log.Warn("unsent transaction refused; its nonce is free again", slog.String("hash", rec.Hash), slog.Uint64("nonce", rec.Nonce), slog.String("error", serr.Error()))
		case nonceTaken, uncertain, undelivered:
			// Mined or replaced meanwhile (Wait and Resume settle it), or
			// no answer: left signed for the next try.
		}
	}
}

// setIfSigned moves a row that other senders may be settling at the same
// time on from "signed", unless one of them already did: a row's own
// sender, or Wait, may have recorded more than this rebroadcast knows.
func (w *Wallet) setIfSigned(ctx context.Context, rec TxRecord, status TxStatus, why string) {
	if cur, ok, err := w.j.ByHash(ctx, w.jchain, rec.Hash); err != nil || !ok || cur.Status != TxSigned {
		return
	}
	rec.Status, rec.Error = status, why
	w.update(ctx, rec)
}

// Resume reconciles the wallet's journal with the chain; every process
// that opens a wallet to send calls it first (the CLI does). Each
// transaction not final is settled from its receipt when mined, marked sent
// when the node knows it, and otherwise broadcast again (redeliver): a
// sender that died between journaling and broadcasting, or a node that
// dropped what it was given, leaves a nonce the wallet's next transaction
// would wait behind forever. Rebroadcasting is idempotent: the same bytes
// have the same hash and nonce. One the node now refuses for good is marked
// failed (its nonce is free again) and reported. A row whose nonce the
// chain has used without its receipt is left to Wait, which settles it
// after the receipt's grace.
//
// There are no charges to release here: an approval decided under
// policies.DeferCommit is charged in the transaction that journals what it
// signs, so no charge exists without its row.
func (w *Wallet) Resume(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	open, err := w.j.Open(ctx, w.jchain, w.addr.Hex())
	if err != nil {
		return fmt.Errorf("evm: journal: %w", err)
	}
	var errs []error
	for _, rec := range open {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := w.redeliver(ctx, rec)
		switch {
		case now.Status == TxFailed:
			errs = append(errs, &RejectedError{Hash: now.Hash, Nonce: now.Nonce, Err: errors.New(now.Error)})
		case now.Status != rec.Status:
			w.log.Info("journal reconciled", slog.String("hash", rec.Hash), slog.Uint64("nonce", rec.Nonce),
				slog.String("was", string(rec.Status)), slog.String("now", string(now.Status)))
		}
	}
	return errors.Join(errs...)
}

// settle records a receipt on a journal row.
func (w *Wallet) settle(ctx context.Context, rec TxRecord, r *types.Receipt) TxRecord {
	rec.Status, rec.Error = TxMined, ""
	if r.Status != types.ReceiptStatusSuccessful {
		rec.Status, rec.Error = TxReverted, "reverted on chain"
	}
	if r.BlockNumber != nil {
		rec.Block = r.BlockNumber.Uint64()
	}
	rec.ReplacedBy = ""
	w.update(ctx, rec)
	return rec
}

// Wait polls until the transaction, or one of its replacements, is mined
// and returns its record, marked mined or reverted with its block. A
// receipt can lag the block that holds it, so "not found" is polled again,
// never taken as dropped on first sight. A reverted transaction is returned
// with an error; so is one whose nonce another transaction, not in the
// journal, took. A hash the journal does not hold is waited for on chain
// only. Wait returns when ctx is done.
func (w *Wallet) Wait(ctx context.Context, hash string) (TxRecord, error) {
	defer w.sending.Delete(strings.ToLower(hash)) // an awaited send's row (see SendAwaited)
	h := common.HexToHash(hash)
	first, ok, err := w.j.ByHash(ctx, w.jchain, hash)
	if err != nil {
		return TxRecord{}, fmt.Errorf("evm: journal: %w", err)
	}
	if !ok || first.Chain != w.jchain || !strings.EqualFold(first.From, w.addr.Hex()) {
		return w.waitForeign(ctx, h)
	}
	usedPolls, polls := 0, 0
	for {
		cands := w.family(ctx, first)
		anyLive := false
		for _, c := range cands {
			if c.Status == TxFailed {
				continue
			}
			anyLive = true
			r, err := w.c.Receipt(ctx, common.HexToHash(c.Hash))
			if errors.Is(err, ethereum.NotFound) {
				continue
			}
			if err != nil {
				return c, err
			}
			won := w.settle(ctx, c, r)
			for _, o := range cands {
				if o.Hash != won.Hash && !o.Status.Final() {
					o.Status, o.ReplacedBy = TxReplaced, won.Hash
					w.update(ctx, o)
				}
			}
			if won.Status == TxReverted {
				return won, fmt.Errorf("evm: transaction %s reverted in block %d", won.Hash, won.Block)
			}
			return won, nil
		}
		if !anyLive {
			last := cands[len(cands)-1]
			return last, fmt.Errorf("evm: transaction %s failed: %s", last.Hash, last.Error)
		}
		// Every few polls without a receipt, make sure the node still has
		// the newest live transaction: one it dropped, or never got (its
		// sender died before broadcasting), would otherwise never be mined.
		if polls++; polls%redeliverEvery == 0 {
			for i := len(cands) - 1; i >= 0; i-- {
				if !cands[i].Status.Final() {
					w.redeliverRecording(ctx, cands[i], false)
					break
				}
			}
		}
		// The nonce used on chain with none of ours mined: after a grace
		// for receipt lag, some other transaction took it.
		if n, err := w.c.Nonce(ctx, w.addr); err == nil && n > first.Nonce {
			if usedPolls++; usedPolls > 30 {
				for _, o := range cands {
					if !o.Status.Final() {
						o.Status, o.Error = TxFailed, fmt.Sprintf("nonce %d was used by a transaction not in the journal", o.Nonce)
						w.update(ctx, o)
					}
				}
				return first, fmt.Errorf("evm: transaction %s was dropped: its nonce %d was used by a transaction not in the journal", first.Hash, first.Nonce)
			}
		}
		select {
		case <-ctx.Done():
			return first, ctx.Err()
		case <-time.After(w.poll):
		}
	}
}

// redeliverEvery is how many receipt polls Wait makes before it checks
// that the node still has the transaction it waits for.
const redeliverEvery = 3

// family returns rec and every transaction reached by ReplacedBy links,
// fresh from the journal, oldest first.
func (w *Wallet) family(ctx context.Context, rec TxRecord) []TxRecord {
	if cur, ok, err := w.j.ByHash(ctx, w.jchain, rec.Hash); err == nil && ok {
		rec = cur
	}
	out := []TxRecord{rec}
	seen := map[string]bool{strings.ToLower(rec.Hash): true}
	for rec.ReplacedBy != "" && !seen[strings.ToLower(rec.ReplacedBy)] && len(out) < 64 {
		next, ok, err := w.j.ByHash(ctx, w.jchain, rec.ReplacedBy)
		if err != nil || !ok {
			break
		}
		seen[strings.ToLower(next.Hash)] = true
		out = append(out, next)
		rec = next
	}
	return out
}

// waitForeign waits for a transaction the journal does not hold.
func (w *Wallet) waitForeign(ctx context.Context, h common.Hash) (TxRecord, error) {
	for {
		r, err := w.c.Receipt(ctx, h)
		if err == nil {
			rec := TxRecord{Hash: h.Hex(), Chain: w.jchain, Status: TxMined}
			if r.BlockNumber != nil {
				rec.Block = r.BlockNumber.Uint64()
			}
			if r.Status != types.ReceiptStatusSuccessful {
				rec.Status = TxReverted
				return rec, fmt.Errorf("evm: transaction %s reverted in block %d", rec.Hash, rec.Block)
			}
			return rec, nil
		}
		if !errors.Is(err, ethereum.NotFound) {
			return TxRecord{}, err
		}
		select {
		case <-ctx.Done():
			return TxRecord{}, ctx.Err()
		case <-time.After(w.poll):
		}
	}
}

// replaceFeeFactor bounds Replace's fee cap, without WithMaxFeePerGas, at
// this many times the current base fee plus tip.
const replaceFeeFactor = 10

// journaled decodes a journal row's signed bytes for Replace and checks that
// they are what the row says and this wallet's own: a transaction for the
// wallet's chain, signed by its key, with the row's hash and nonce. A row
// that fails this is refused, so Replace never re-signs (with this wallet's
// key) a call it did not itself sign under an approval.
func (w *Wallet) journaled(old TxRecord) (*types.Transaction, error) {
	var otx types.Transaction
	if err := otx.UnmarshalBinary(old.Raw); err != nil {
		return nil, fmt.Errorf("evm: journaled transaction %s does not decode: %w; refusing to replace it", old.Hash, err)
	}
	chainID := w.c.ChainID()
	if otx.ChainId() == nil || otx.ChainId().Cmp(chainID) != 0 {
		return nil, fmt.Errorf("evm: journaled transaction %s is for chain %v, this wallet is on chain %s; refusing to replace it", old.Hash, otx.ChainId(), chainID)
	}
	from, err := types.Sender(types.LatestSignerForChainID(chainID), &otx)
	if err != nil {
		return nil, fmt.Errorf("evm: journaled transaction %s has no valid signature (%v); refusing to replace it", old.Hash, err)
	}
	if from != w.addr {
		return nil, fmt.Errorf("evm: journaled transaction %s is signed by %s, not this wallet (%s); refusing to replace it", old.Hash, from.Hex(), w.addr.Hex())
	}
	if otx.Hash() != common.HexToHash(old.Hash) || !strings.EqualFold(otx.Hash().Hex(), old.Hash) {
		return nil, fmt.Errorf("evm: journaled bytes of transaction %s hash to %s; refusing to replace it", old.Hash, otx.Hash().Hex())
	}
	if otx.Nonce() != old.Nonce {
		return nil, fmt.Errorf("evm: journaled transaction %s has nonce %d, its row says %d; refusing to replace it", old.Hash, otx.Nonce(), old.Nonce)
	}
	if otx.To() == nil {
		return nil, fmt.Errorf("evm: journaled transaction %s creates a contract; not replaceable here", old.Hash)
	}
	return &otx, nil
}

// bump raises a fee by the 12.5% a replacement must add (geth's pool asks
// for 10%, others for 12.5%), rounding up, and by at least 1 wei.
func bump(v *big.Int) *big.Int {
	b := new(big.Int).Mul(v, big.NewInt(1125))
	b.Add(b, big.NewInt(999))
	b.Div(b, big.NewInt(1000))
	if b.Cmp(v) <= 0 {
		b.Add(v, big.NewInt(1))
	}
	return b
}

// Replace re-signs a stuck transaction — the same call (to, value, data, gas
// limit) at the same nonce — with tip and fee cap raised by at least 12.5%
// (or to the current market fees if higher), journals the new record, and
// marks the old one replaced. It returns the new record.
//
// It needs no new Approval, and that is safe: the approved call is copied
// byte for byte from the journaled transaction the approval authorised;
// only the fee fields change. Both transactions have the same nonce, so the
// chain executes at most one of them: a stuck transaction is replaced,
// never duplicated.
//
// The journaled bytes are checked before anything is signed: they must
// decode to a transaction signed by this wallet's key for this wallet's
// chain, whose hash is the one the row records; a row that is unsigned,
// signed by another key or for another chain, or whose bytes do not match
// its hash is refused.
//
// The fee cap is bounded by WithMaxFeePerGas when set, and otherwise by a
// default of 10 × (current base fee + tip), so repeated Replace calls cannot
// raise fees without bound; a replacement that would need more is refused.
func (w *Wallet) Replace(ctx context.Context, hash string) (TxRecord, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old, ok, err := w.j.ByHash(ctx, w.jchain, hash)
	if err != nil {
		return TxRecord{}, fmt.Errorf("evm: journal: %w", err)
	}
	if !ok {
		return TxRecord{}, fmt.Errorf("evm: transaction %s is not in the journal; only this wallet's transactions can be replaced", hash)
	}
	if old.Chain != w.jchain || !strings.EqualFold(old.From, w.addr.Hex()) {
		return TxRecord{}, fmt.Errorf("evm: transaction %s was sent by %s on chain %s, not by this wallet", hash, old.From, old.Chain)
	}
	if old.Status.Final() {
		return old, fmt.Errorf("evm: transaction %s is %s; only a signed or sent transaction can be replaced", hash, old.Status)
	}
	otx, err := w.journaled(old)
	if err != nil {
		return TxRecord{}, err
	}
	if r, err := w.c.Receipt(ctx, common.HexToHash(old.Hash)); err == nil {
		old = w.settle(ctx, old, r)
		return old, fmt.Errorf("evm: transaction %s is already mined in block %d", hash, old.Block)
	} else if !errors.Is(err, ethereum.NotFound) {
		return TxRecord{}, err
	}
	base, tip, feeCap, err := w.fees(ctx)
	if err != nil {
		return TxRecord{}, err
	}
	limit, limitName := w.maxFee, "this wallet's cap of %s wei"
	if limit == nil {
		limit = new(big.Int).Mul(new(big.Int).Add(base, tip), big.NewInt(replaceFeeFactor))
		limitName = "the default replacement cap of %s wei (10 × (base fee + tip); WithMaxFeePerGas sets another)"
	}
	minTip, minFee := bump(otx.GasTipCap()), bump(otx.GasFeeCap())
	if tip.Cmp(minTip) < 0 {
		tip = minTip
	}
	if feeCap.Cmp(minFee) < 0 {
		feeCap = minFee
	}
	if feeCap.Cmp(tip) < 0 {
		feeCap = new(big.Int).Set(tip)
	}
	if feeCap.Cmp(limit) > 0 {
		if limit.Cmp(minFee) < 0 || limit.Cmp(minTip) < 0 {
			return TxRecord{}, fmt.Errorf("evm: replacing %s needs a fee cap of at least %s wei, above "+limitName, hash, minFee, limit)
		}
		feeCap = new(big.Int).Set(limit)
		if tip.Cmp(feeCap) > 0 {
			tip = new(big.Int).Set(feeCap)
		}
	}
	call := policies.Call{To: otx.To().Hex(), Value: otx.Value(), Data: otx.Data()}
	tx, raw, err := w.sign(ctx, call, otx.Nonce(), otx.Gas(), tip, feeCap)
	if err != nil {
		return TxRecord{}, err
	}
	// The idempotency key stays on the original row (the journal keeps it
	// unique); the link from old to new is what ByKey callers follow.
	rec := w.record(tx, raw, sendRef{approvalID: old.ApprovalID, action: old.Action})
	if err := w.j.Insert(ctx, rec); err != nil {
		return TxRecord{}, fmt.Errorf("evm: journal the replacement: %w; nothing was sent", err)
	}
	// Link before broadcasting: after a crash here both rows are open and
	// linked, Resume rebroadcasts both, and the pool keeps one.
	old.ReplacedBy = rec.Hash
	w.update(ctx, old)
	out, serr := w.broadcast(ctx, raw)
	switch out {
	case accepted:
		rec.Status = TxSent
		w.update(ctx, rec)
		old.Status = TxReplaced
		w.update(ctx, old)
		w.log.Info("transaction replaced", slog.String("old", old.Hash), slog.String("new", rec.Hash), slog.Uint64("nonce", rec.Nonce))
		return rec, nil
	case uncertain: // left signed: the next send or Resume rebroadcasts it
		return rec, &UncertainError{Record: rec, Err: serr}
	default:
		rec.Status, rec.Error = TxFailed, serr.Error()
		w.update(ctx, rec)
		old.ReplacedBy = ""
		w.update(ctx, old)
		return TxRecord{}, &RejectedError{Hash: rec.Hash, Nonce: rec.Nonce, Err: serr}
	}
}
