// Package cosigner is the policy that holds a key on a Safe multisig: it
// reviews each proposed Safe transaction, decodes every call inside it,
// and signs only what the owner's policy allows; everything else it
// refuses with reasons and never signs.
//
// A Reviewer makes the decision; Handler serves it over HTTP (POST
// /v1/review); Watcher confirms approved transactions on a Safe
// Transaction Service. All three give the same answer for the same
// transaction, and a transaction is signed at most once: a second review
// returns the first decision and its signature.
package cosigner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/policies"
)

// Decisions.
const (
	Approve = "approve"
	Reject  = "reject"
	Retry   = "retry" // the service could not decide in time or a dependency failed; ask again
)

// Decision is a review's answer, in the shape the CLI and the HTTP service
// print (the design's "Co-signer" contract).
type Decision struct {
	Decision   string            `json:"decision"`
	SafeTxHash string            `json:"safeTxHash"`
	Reasons    []string          `json:"reasons"`
	Intents    []json.RawMessage `json:"intents"`
	// Signature is the co-signer's EOA signature of SafeTxHash, set when it
	// approved and holds a key.
	Signature string    `json:"signature,omitempty"`
	Safe      string    `json:"safe"`
	ChainID   string    `json:"chainId"`
	Nonce     uint64    `json:"nonce"`
	At        time.Time `json:"at"`
}

// Store keeps reviews, so the same transaction gets the same answer and at
// most one signature, across restarts and replicas. ReviewStore keeps it in
// the database.
type Store interface {
	// Get returns the recorded review of safeTxHash on chain, if any.
	Get(ctx context.Context, chain, safeTxHash string) (Decision, bool, error)
	// Put records a review. An approval, once recorded, is never replaced.
	Put(ctx context.Context, d Decision) error
}

// Atomic is a Store that can record a review in the same database
// transaction as the ledger's charge of its approval (when the ledger is in
// the same database): Atomically runs fn so that both commit together or
// not at all. With it a decision costs one durable commit instead of two,
// and no approval is ever charged without its review, or recorded without
// its charge.
type Atomic interface {
	Atomically(ctx context.Context, fn func(ctx context.Context) error) error
}

// MemStore is a Store in memory.
type MemStore struct {
	mu sync.Mutex
	m  map[string]Decision
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore { return &MemStore{m: map[string]Decision{}} }

func memKey(chain, h string) string { return chain + "/" + strings.ToLower(h) }

// Get implements Store.
func (s *MemStore) Get(_ context.Context, chain, h string) (Decision, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.m[memKey(chain, h)]
	return d, ok, nil
}

// Put implements Store.
func (s *MemStore) Put(_ context.Context, d Decision) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey(d.ChainID, d.SafeTxHash)
	if prev, ok := s.m[k]; ok && prev.Decision == Approve {
		return nil
	}
	s.m[k] = d
	return nil
}

// Gate is the policy engine as the reviewer uses it.
type Gate interface {
	Decide(ctx context.Context, in policies.Intent) (policies.Approval, error)
	Evaluate(ctx context.Context, in policies.Intent) (policies.Report, error)
}

// NonceReader reads a Safe's current nonce on chain.
type NonceReader func(ctx context.Context, safe common.Address) (uint64, error)

// Reviewer decides Safe transactions for one chain.
type Reviewer struct {
	chainID *big.Int
	gate    Gate
	safes   map[common.Address]safe.Version
	signer  evm.Signer
	store   Store
	nonces  NonceReader
	dec     safe.Decoder
	window  uint64 // how far past the Safe's nonce a transaction may be signed
	legacy  bool   // serve Safes whose hashes do not include the chain id
	log     *slog.Logger
	mu      sync.Mutex
	locks   map[string]*hashLock // per safeTxHash: one review at a time
}

// Option configures a Reviewer.
type Option func(*Reviewer)

// WithSafe lets the reviewer decide transactions of the Safe at addr,
// hashing them for its version.
func WithSafe(addr common.Address, v safe.Version) Option {
	return func(r *Reviewer) { r.safes[addr] = v }
}

// WithSigner makes the reviewer sign what it approves with s, an owner's
// key. Without one it only decides (and commits nothing to the ledger).
func WithSigner(s evm.Signer) Option { return func(r *Reviewer) { r.signer = s } }

// WithStore keeps reviews in s (default: in memory).
func WithStore(s Store) Option { return func(r *Reviewer) { r.store = s } }

// WithNonces refuses transactions whose nonce the Safe has already used.
func WithNonces(n NonceReader) Option { return func(r *Reviewer) { r.nonces = n } }

// WithNonceWindow lets the reviewer sign transactions up to n nonces past
// the Safe's current one (default 0: only the next transaction to execute).
// Each signature is charged to the daily limits when it is made, but it
// never expires; a window bounds how many days of allowance signatures a
// proposer holding the other owners' keys could collect and execute at
// once. A transaction further ahead is not judged yet (ErrNonceAhead).
func WithNonceWindow(n uint64) Option { return func(r *Reviewer) { r.window = n } }

// WithLegacySafes serves Safes older than 1.3.0, whose transaction hash
// has no chain id: a signature of one is valid for the same Safe address
// on every chain, where this reviewer's policy and ledger never see it.
// Refused unless asked for.
func WithLegacySafes() Option { return func(r *Reviewer) { r.legacy = true } }

// ErrNonceAhead says a transaction's nonce is further past the Safe's than
// the nonce window allows: it is not judged (nor recorded) yet; review it
// again when its turn comes.
var ErrNonceAhead = errors.New("cosigner: the transaction's nonce is ahead of the Safe's")

// WithTokens names tokens in decoded calls.
func WithTokens(t evm.TokenLookup) Option { return func(r *Reviewer) { r.dec.Tokens = t } }

// WithBatches sets the MultiSend contracts whose batches are decoded
// (default: the canonical deployments).
func WithBatches(addrs ...common.Address) Option {
	return func(r *Reviewer) { r.dec.Batches = append(r.dec.Batches, addrs...) }
}

// WithLogger logs decisions to l.
func WithLogger(l *slog.Logger) Option { return func(r *Reviewer) { r.log = l } }

// New returns a reviewer for chainID judging with gate.
func New(chainID *big.Int, gate Gate, opts ...Option) *Reviewer {
	r := &Reviewer{chainID: new(big.Int).Set(chainID), gate: gate, safes: map[common.Address]safe.Version{},
		store: NewMemStore(), log: slog.New(slog.DiscardHandler), locks: map[string]*hashLock{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// InputError says the request itself is malformed (not a transaction the
// reviewer can judge): the CLI exits 2, the HTTP service answers 400.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// RetryError says a dependency (the chain, the database) failed: the
// transaction was not judged; ask again.
type RetryError struct{ Err error }

func (e *RetryError) Error() string { return "retry: " + e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// hashLock serialises reviews of one transaction; it is dropped from the
// map when nobody holds or waits for it, so the map does not grow with
// every transaction ever reviewed.
type hashLock struct {
	sync.Mutex
	users int
}

func (r *Reviewer) lock(h string) func() {
	r.mu.Lock()
	l, ok := r.locks[h]
	if !ok {
		l = &hashLock{}
		r.locks[h] = l
	}
	l.users++
	r.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		r.mu.Lock()
		if l.users--; l.users == 0 {
			delete(r.locks, h)
		}
		r.mu.Unlock()
	}
}

// Review decides st, a transaction of the Safe at addr in the Transaction
// Service's shape. It recomputes the hash from the fields (a supplied
// safeTxHash that differs is a rejection), refuses a nonce the Safe has
// used, decodes every call into intents, and asks the policy. With a
// signer, an approval is signed and recorded; a transaction reviewed
// before gets its recorded approval back, never a second signature.
func (r *Reviewer) Review(ctx context.Context, addr common.Address, st safe.ServiceTx) (Decision, error) {
	if r.signer != nil && r.nonces == nil {
		// Without the Safe's nonce the nonce window cannot hold, and a
		// proposer could collect signatures for nonces far ahead.
		return Decision{}, &InputError{errors.New("cosigner: a reviewer that signs needs the Safe's nonce (WithNonces) to bound how far ahead it signs")}
	}
	v, ok := r.safes[addr]
	if !ok {
		return Decision{}, &InputError{fmt.Errorf("Safe %s is not one this co-signer serves; configure it (--safe)", addr.Hex())}
	}
	if !v.ChainBound() && !r.legacy {
		return Decision{}, &InputError{fmt.Errorf("Safe %s is version %s, whose transaction hash has no chain id: a signature would be valid on every chain; the co-signer serves it only when configured for legacy Safes", addr.Hex(), v)}
	}
	d := Decision{Safe: addr.Hex(), ChainID: r.chainID.String(), Reasons: []string{}, Intents: []json.RawMessage{}, At: time.Now().UTC()}
	supplied := st.SafeTxHash
	st.SafeTxHash = ""
	tx, err := st.Tx(r.chainID, addr, v)
	if err != nil {
		return Decision{}, &InputError{err}
	}
	h, err := tx.Hash(v)
	if err != nil {
		return Decision{}, &InputError{err}
	}
	d.SafeTxHash, d.Nonce = h.Hex(), safeNonce(tx.Nonce)
	if supplied != "" && !strings.EqualFold(supplied, h.Hex()) {
		// Refused, but not recorded: the record is keyed by the fields'
		// hash, and a request with a bogus hash must not stand as the
		// answer for the real transaction with those fields.
		d.Decision = Reject
		d.Reasons = []string{fmt.Sprintf("the supplied safeTxHash %s is not the hash of the transaction's fields, %s (Safe %s, chain %s): refusing to sign a hash that does not say what it claims", supplied, h.Hex(), v, r.chainID)}
		return d, nil
	}
	defer r.lock(d.ChainID + h.Hex())()
	if prev, ok, err := r.store.Get(ctx, d.ChainID, d.SafeTxHash); err != nil {
		return Decision{}, &RetryError{err}
	} else if ok && prev.Decision == Approve {
		return prev, nil
	}
	if r.nonces != nil {
		cur, err := r.nonces(ctx, addr)
		if err != nil {
			return Decision{}, &RetryError{fmt.Errorf("reading the Safe's nonce: %w", err)}
		}
		if tx.Nonce.Cmp(new(big.Int).SetUint64(cur)) < 0 {
			return r.reject(ctx, d, fmt.Sprintf("nonce %s was already used: the Safe is at nonce %d", tx.Nonce, cur))
		}
		if tx.Nonce.Cmp(new(big.Int).SetUint64(cur+r.window)) > 0 {
			return Decision{}, &RetryError{fmt.Errorf("%w: nonce %s, the Safe is at %d and signatures are made at most %d ahead; it is reviewed when its turn comes", ErrNonceAhead, tx.Nonce, cur, r.window)}
		}
	}
	dec := r.dec
	dec.Version = v
	in, err := dec.Decode(tx)
	if err != nil {
		return r.reject(ctx, d, "the transaction cannot be decoded exactly, so what it does cannot be checked: "+err.Error())
	}
	in.Key = h.Hex()
	raw, err := policies.Marshal(in)
	if err != nil {
		return Decision{}, err
	}
	d.Intents = []json.RawMessage{raw}
	if r.signer == nil {
		rep, err := r.gate.Evaluate(ctx, in)
		if err != nil {
			return Decision{}, &RetryError{err}
		}
		d.Decision, d.Reasons = Reject, reasonTexts(rep.Reasons)
		if rep.Decision == policies.DecisionApprove {
			d.Decision = Approve
		}
		if rep.Decision == policies.DecisionAsk {
			d.Reasons = append(d.Reasons, "the policy wants a person to confirm this, and the co-signer cannot ask one")
		}
		return r.record(ctx, d)
	}
	atomic, _ := r.store.(Atomic)
	dctx := ctx
	if atomic != nil {
		dctx = policies.DeferCommit(ctx) // charged below, in the review's transaction
	}
	ap, err := r.gate.Decide(dctx, in)
	var denied *policies.Denied
	var ask *policies.Ask
	var dup *policies.DuplicateError
	switch {
	case errors.As(err, &denied):
		d.Decision, d.Reasons = Reject, reasonTexts(denied.Reasons)
		return r.record(ctx, d)
	case errors.As(err, &ask):
		d.Decision = Reject
		d.Reasons = append(reasonTexts(ask.Reasons), "the policy wants a person to confirm this, and the co-signer cannot ask one")
		return r.record(ctx, d)
	case errors.As(err, &dup):
		// Approved before, but the review was not recorded (the process
		// stopped in between): the approval was spent, so no second
		// signature; an owner can re-request after checking the audit.
		return Decision{}, &RetryError{fmt.Errorf("transaction %s was approved before (approval %s) but its review was not recorded; its signature will not be made twice", h.Hex(), dup.ApprovalID)}
	case err != nil:
		return Decision{}, &RetryError{err}
	}
	sig, err := evm.SignSafeTx(ctx, r.signer, ap, safe.Hasher(v))
	if err != nil {
		_ = ap.Release(context.WithoutCancel(ctx), "signing failed: "+err.Error())
		return Decision{}, err
	}
	d.Decision, d.Signature = Approve, hexutil.Encode(sig)
	if atomic == nil || !ap.Deferred() {
		return r.record(ctx, d)
	}
	return r.commitApproved(ctx, atomic, ap, d)
}

// commitApproved charges ap and records its review in one transaction. The
// signature exists only in memory until then: if the charge is refused (a
// limit filled while this one was signed) the review records the refusal
// and the signature is dropped, never returned.
func (r *Reviewer) commitApproved(ctx context.Context, atomic Atomic, ap policies.Approval, d Decision) (Decision, error) {
	err := atomic.Atomically(context.WithoutCancel(ctx), func(ctx context.Context) error {
		if err := ap.Commit(ctx); err != nil {
			return err
		}
		return r.store.Put(ctx, d)
	})
	var denied *policies.Denied
	var dup *policies.DuplicateError
	switch {
	case err == nil:
		r.log.Info("safe transaction reviewed", slog.String("safe", d.Safe), slog.String("safeTxHash", d.SafeTxHash),
			slog.String("decision", d.Decision), slog.Int("reasons", len(d.Reasons)))
		return d, nil
	case errors.As(err, &denied):
		d.Decision, d.Signature, d.Reasons = Reject, "", reasonTexts(denied.Reasons)
		return r.record(ctx, d)
	case errors.As(err, &dup):
		return Decision{}, &RetryError{fmt.Errorf("transaction %s was approved before (approval %s) but its review was not recorded; its signature will not be made twice", d.SafeTxHash, dup.ApprovalID)}
	}
	return Decision{}, &RetryError{fmt.Errorf("recording the review: %w", err)}
}

func safeNonce(n *big.Int) uint64 {
	if n == nil || !n.IsUint64() {
		return 0
	}
	return n.Uint64()
}

func reasonTexts(rs []policies.Reason) []string {
	out := make([]string, len(rs))
	for i, x := range rs {
		out[i] = x.String()
	}
	return out
}

func (r *Reviewer) reject(ctx context.Context, d Decision, why string) (Decision, error) {
	d.Decision, d.Reasons = Reject, []string{why}
	return r.record(ctx, d)
}

func (r *Reviewer) record(ctx context.Context, d Decision) (Decision, error) {
	if err := r.store.Put(context.WithoutCancel(ctx), d); err != nil {
		if d.Decision == Approve {
			return Decision{}, &RetryError{fmt.Errorf("recording the review: %w", err)}
		}
		r.log.Error("review not recorded", slog.String("safeTxHash", d.SafeTxHash), slog.String("error", err.Error()))
	}
	r.log.Info("safe transaction reviewed", slog.String("safe", d.Safe), slog.String("safeTxHash", d.SafeTxHash),
		slog.String("decision", d.Decision), slog.Int("reasons", len(d.Reasons)))
	return d, nil
}
