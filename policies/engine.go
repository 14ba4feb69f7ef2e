package policies

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"
)

// window is the span of the daily limits: a rolling 24 hours, not a calendar
// day, so a limit cannot be spent twice across midnight.
const window = 24 * time.Hour

// Engine decides intents against one policy, charging spends to a Ledger.
// It is safe for concurrent use; the ledger serialises competing commits.
type Engine struct {
	p      *Policy
	ledger Ledger
	prices PriceSource
	now    func() time.Time
	log    *slog.Logger
	scope  string
	obs    Observer

	tokens    map[tokenKey]*engToken // the policy's assets with their buckets
	usdBucket string
}

// engToken is an asset with what the engine needs at decision time, computed
// once so a decision formats no bucket names.
type engToken struct {
	*tokenSpec
	bucket    string // scope/chain/address: the policy governs all its wallets together
	perTxRule string
	dailyRule string
	maxRule   string
	lastPrice atomic.Pointer[priceMemo]
}

// Option configures an Engine.
type Option func(*Engine)

// WithPrices sets the source of USD prices. Without one, a policy that has
// USD limits or an ask threshold denies every intent that moves value: the
// engine fails closed.
func WithPrices(s PriceSource) Option { return func(e *Engine) { e.prices = s } }

// WithClock sets the clock (for deadlines, daily windows and rules' now).
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// WithLogger sets the logger decisions are logged to; the default discards.
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

// Observer hears every decision Decide and Confirm make, for metrics: the
// outcome ("approve", "deny", "ask", or "error" when no decision could be
// made), the rules behind a denial or an ask, and how long it took. It is
// called on the deciding goroutine and must not block.
type Observer interface {
	Decided(outcome string, rules []string, took time.Duration)
}

// WithObserver sets the Observer of decisions.
func WithObserver(o Observer) Option { return func(e *Engine) { e.obs = o } }

// WithScope names the ledger buckets' namespace (default "default"). Engines
// with different scopes over one ledger keep separate spend counters, e.g.
// one per agent; engines with the same scope share them.
func WithScope(s string) Option { return func(e *Engine) { e.scope = s } }

// NewEngine returns an engine deciding by p and counting spends in l.
func NewEngine(p *Policy, l Ledger, opts ...Option) *Engine {
	e := &Engine{
		p:      p,
		ledger: l,
		now:    time.Now,
		log:    slog.New(slog.DiscardHandler),
		scope:  "default",
	}
	for _, o := range opts {
		o(e)
	}
	e.usdBucket = e.scope + "/usd"
	e.tokens = make(map[tokenKey]*engToken, len(p.byKey))
	for k, t := range p.byKey {
		addr := k.addr
		if addr == "" {
			addr = "native"
		}
		e.tokens[k] = &engToken{
			tokenSpec: t,
			bucket:    e.scope + "/" + k.chain + "/" + addr,
			perTxRule: "limits.per_tx." + t.symbol,
			dailyRule: "limits.daily." + t.symbol,
			maxRule:   "approvals.max." + t.symbol,
		}
	}
	return e
}

// Policy returns the policy the engine decides by.
func (e *Engine) Policy() *Policy { return e.p }

// Decide is the one gate: it turns an intent into an Approval, or refuses
// with a *Denied error carrying every failing reason, or a *Ask error when a
// person must confirm first (see Confirm). The fixed checks run first, then
// the policy's rules, then the ledger commits the spends against the daily
// limits in one transaction. Every decision, denials and asks too, is
// recorded in the ledger. A reused idempotency key returns an error wrapping
// the ledger's *DuplicateError.
func (e *Engine) Decide(ctx context.Context, in Intent) (Approval, error) {
	if e.obs == nil {
		return e.decide(ctx, in, nil)
	}
	start := time.Now()
	ap, err := e.decide(ctx, in, nil)
	e.observe(start, err)
	return ap, err
}

// observe tells the Observer what a decision came to.
func (e *Engine) observe(start time.Time, err error) {
	took := time.Since(start)
	var rules []string
	outcome := string(DecisionApprove)
	var (
		d *Denied
		a *Ask
	)
	switch {
	case err == nil:
	case errors.As(err, &d):
		outcome = string(DecisionDeny)
		for _, r := range d.Reasons {
			rules = append(rules, r.Rule)
		}
	case errors.As(err, &a):
		outcome = string(DecisionAsk)
		for _, r := range a.Reasons {
			rules = append(rules, r.Rule)
		}
	default:
		outcome = "error"
	}
	e.obs.Decided(outcome, rules, took)
}

// Confirm approves an intent a person confirmed after Decide asked. The
// intent is checked again (prices and limits may have moved), without the
// ask threshold. An Ask is confirmed once: Confirm consumes it whatever the
// outcome, and a second Confirm of it (or of a copy) returns ErrAskUsed, so
// one confirmation never yields two approvals. To try again after a
// denial, Decide again and ask the person again.
func (e *Engine) Confirm(ctx context.Context, ask *Ask) (Approval, error) {
	if ask == nil || ask.intent == nil || ask.used == nil {
		return Approval{}, errors.New("policies: Confirm needs the *Ask that Decide returned")
	}
	if !ask.used.CompareAndSwap(false, true) {
		return Approval{}, ErrAskUsed
	}
	if e.obs == nil {
		return e.decide(ctx, ask.intent, ask)
	}
	start := time.Now()
	ap, err := e.decide(ctx, ask.intent, ask)
	e.observe(start, err)
	return ap, err
}

// Evaluate makes the same decision as Decide without acting on it: it reads
// the ledger's spends but charges nothing and records nothing. It backs
// --dry-run and `mandate policy eval`.
func (e *Engine) Evaluate(ctx context.Context, in Intent) (Report, error) {
	_, digest, err := encode(in)
	if err != nil {
		return Report{}, err
	}
	c, err := e.check(ctx, in, e.now(), false)
	if err != nil {
		return Report{}, err
	}
	if err := c.windowReasons(ctx); err != nil {
		return Report{}, err
	}
	r := Report{Digest: hex.EncodeToString(digest[:]), Prices: c.prices, Spends: c.spendList()}
	switch {
	case len(c.reasons) > 0:
		r.Decision, r.Reasons = DecisionDeny, c.reasons
	case len(c.asks) > 0:
		r.Decision, r.Reasons = DecisionAsk, c.asks
	default:
		r.Decision = DecisionApprove
	}
	return r, nil
}

func encode(in Intent) ([]byte, [32]byte, error) {
	if _, ok := deref(in); !ok {
		return nil, [32]byte{}, errors.New("policies: nil intent")
	}
	raw, err := Marshal(in)
	if err != nil {
		return nil, [32]byte{}, err
	}
	return raw, sha256.Sum256(raw), nil
}

func (e *Engine) decide(ctx context.Context, in Intent, confirmed *Ask) (Approval, error) {
	if err := ctx.Err(); err != nil {
		return Approval{}, err
	}
	// Judge and approve a snapshot: the caller's *big.Int, *Call and
	// slices could change after the decision (or during it); the snapshot
	// cannot, and it is what the approval hands out copies of.
	snap, err := snapshot(in)
	if err != nil {
		return Approval{}, err
	}
	if snap != nil {
		in = snap
	}
	raw, digest, err := encode(in)
	if err != nil {
		return Approval{}, err
	}
	now := e.now()
	c, err := e.check(ctx, in, now, confirmed != nil)
	if err != nil {
		return Approval{}, err
	}
	head := in.Head()
	entry := Entry{
		Wallet: head.From,
		Chain:  head.Chain,
		Kind:   in.Kind(),
		Digest: hex.EncodeToString(digest[:]),
		Intent: raw,
		Prices: c.prices,
		At:     now,
	}
	if len(c.reasons) > 0 || len(c.asks) > 0 || deferred(ctx) {
		// The daily limits are the ledger's to enforce, but a denial should
		// name them too when they are also exceeded, and a person should not
		// be asked to confirm what the limits will refuse anyway. A deferred
		// approval is checked against them now as well, so what is over
		// them is refused before anything is simulated or locked; its
		// Commit checks them again.
		if err := c.windowReasons(ctx); err != nil {
			return Approval{}, err
		}
	}
	if len(c.reasons) > 0 {
		return Approval{}, e.deny(ctx, entry, c.reasons)
	}
	if len(c.asks) > 0 {
		entry.Decision = DecisionAsk
		entry.Reasons = reasonStrings(c.asks)
		if err := e.ledger.Record(ctx, entry); err != nil {
			return Approval{}, fmt.Errorf("policies: record ask: %w", err)
		}
		e.logDecision(ctx, entry)
		return Approval{}, &Ask{Reasons: c.asks, intent: in, used: new(atomic.Bool)}
	}

	id := newApprovalID()
	entry.ApprovalID = id
	entry.Key = head.Key
	entry.Decision = DecisionApprove
	entry.Spends = c.spendList()
	if confirmed != nil {
		entry.Reasons = make([]string, len(confirmed.Reasons))
		for i, r := range confirmed.Reasons {
			entry.Reasons[i] = "confirmed by a person: " + r.String()
		}
	}
	ledger := e.ledger
	g := &grant{id: id, digest: digest, in: in}
	g.release = func(ctx context.Context, reason string) error { return ledger.Release(ctx, id, reason) }
	if !deferred(ctx) {
		if err := e.commit(ctx, c, entry, false); err != nil {
			return Approval{}, err
		}
		return Approval{g: g}, nil
	}
	// The closure captures its own copy: capturing entry would move it to
	// the heap on every path, an allocation per decision committed at once.
	pending := entry
	g.commit = func(ctx context.Context, supersedes string, priorSent bool) error {
		en := pending
		en.Supersedes, en.SupersededSent = supersedes, priorSent
		return e.commit(ctx, c, en, true)
	}
	g.release = func(ctx context.Context, reason string) error {
		err := ledger.Release(ctx, id, reason)
		if errors.Is(err, ErrUnknownApproval) {
			return nil // never committed, or rolled back with its transaction: nothing is charged
		}
		return err
	}
	return Approval{g: g}, nil
}

// commit charges an approval's entry to the ledger, checking the limits
// there. A limit that no longer fits is recorded as a denial and returned
// as a *Denied; a key another approval took, as an error wrapping the
// ledger's *DuplicateError (recorded too). An entry the ledger already
// holds — a deferred approval committed again — is not an error. A
// deferred approval's key conflict is not recorded as a denial: the signer
// resolves it (the key's earlier transaction answers, or this approval
// supersedes an attempt that signed nothing).
func (e *Engine) commit(ctx context.Context, c *check, entry Entry, deferred bool) error {
	err := e.ledger.Commit(ctx, entry, c.limits)
	if err == nil {
		e.logDecision(ctx, entry)
		return nil
	}
	if errors.Is(err, ErrApprovalCommitted) {
		return nil
	}
	dup, isDup := errors.AsType[*DuplicateError](err)
	if isDup && dup.ApprovalID == entry.ApprovalID {
		return nil // committed before under its key
	}
	entry.ApprovalID, entry.Key, entry.Spends, entry.Supersedes, entry.SupersededSent = "", "", nil, "", false
	if le, ok := errors.AsType[*LimitError](err); ok {
		c.reasons = c.reasons[:0]
		if err := c.windowReasons(ctx); err != nil {
			return err
		}
		if len(c.reasons) == 0 { // the window moved between commit and read
			c.reasons = append(c.reasons, c.limitReason(le.Limit, le.Spent, le.Amount))
		}
		return e.deny(ctx, entry, c.reasons)
	}
	if isDup && deferred {
		return fmt.Errorf("policies: %w", err)
	}
	if isDup {
		entry.Decision = DecisionDeny
		entry.Reasons = []string{Reason{Rule: "idempotency", Text: dup.Error()}.String()}
		if rerr := e.ledger.Record(ctx, entry); rerr != nil {
			return fmt.Errorf("policies: record duplicate: %w (after %w)", rerr, dup)
		}
		e.logDecision(ctx, entry)
		return fmt.Errorf("policies: %w", err)
	}
	return fmt.Errorf("policies: commit approval: %w", err)
}

// deferKey marks a context under which approvals are committed later.
type deferKey struct{}

// DeferCommit returns a context under which Decide and Confirm decide an
// intent fully — every check, every limit against the ledger's spends so
// far, denials and asks recorded as usual — but leave an approval's charge
// to Approval.Commit. A signer that journals what it signs calls Commit in
// the journal's own database transaction, so that a crash can never leave
// a charge without a journal row (a spend counted for a transaction that
// never existed, and its idempotency key used up) or a row without its
// charge. Commit checks the limits again: two deferred approvals that only
// one limit fits cannot both commit.
func DeferCommit(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferKey{}, true)
}

func deferred(ctx context.Context) bool { v, _ := ctx.Value(deferKey{}).(bool); return v }

// deny records a denial and returns it as a *Denied error.
func (e *Engine) deny(ctx context.Context, entry Entry, reasons []Reason) error {
	entry.Decision = DecisionDeny
	entry.Reasons = reasonStrings(reasons)
	if err := e.ledger.Record(ctx, entry); err != nil {
		return fmt.Errorf("policies: record denial: %w", err)
	}
	e.logDecision(ctx, entry)
	return &Denied{Reasons: reasons}
}

func (e *Engine) logDecision(ctx context.Context, entry Entry) {
	if !e.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	e.log.LogAttrs(ctx, slog.LevelInfo, "policy decision",
		slog.String("decision", string(entry.Decision)),
		slog.String("kind", string(entry.Kind)),
		slog.String("chain", entry.Chain),
		slog.String("wallet", entry.Wallet),
		slog.String("digest", entry.Digest),
		slog.String("approval", entry.ApprovalID),
		slog.Any("reasons", entry.Reasons),
	)
}

// newApprovalID returns 128 random bits in hex: unguessable, so an approval
// id learned from a log grants nothing.
func newApprovalID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}
