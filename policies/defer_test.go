package policies

import (
	"context"
	"encoding/hex"
	"errors"
	"math/big"
	"slices"
	"testing"
	"time"
)

// ethBucket is the ledger bucket of native ETH on the test header's chain.
const ethBucket = "default/1/native"

func spentETH(t *testing.T, l Ledger) *big.Int {
	t.Helper()
	s, err := l.Spent(context.Background(), ethBucket, wednesday.Add(-window))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wantSpentETH(t *testing.T, l Ledger, amount string) {
	t.Helper()
	if got, want := spentETH(t, l), units(amount, 18); got.Cmp(want) != 0 {
		t.Fatalf("ETH spent %s, want %s", got, want)
	}
}

// approvals counts the ledger's approve entries for an approval ID.
func approvals(l *MemLedger, id string) int {
	n := 0
	for _, e := range l.Entries() {
		if e.Decision == DecisionApprove && e.ApprovalID == id {
			n++
		}
	}
	return n
}

// A deferred approval is decided in full but charges nothing, and records
// no approval, until Commit; Commit twice charges once.
func TestDeferredDecideChargesOnCommit(t *testing.T) {
	eng, l := newTestEngine(t, mustPolicy(t), wednesday)
	ctx := context.Background()
	a, err := eng.Decide(DeferCommit(ctx), transfer(eth, alice, "1"))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Deferred() {
		t.Fatal("an approval decided under DeferCommit must say it is deferred")
	}
	wantSpentETH(t, l, "0")
	if n := approvals(l, a.ID()); n != 0 {
		t.Fatalf("%d approve entries before Commit, want none", n)
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wantSpentETH(t, l, "1")
	if err := a.Commit(ctx); err != nil {
		t.Fatalf("second Commit: %v", err)
	}
	wantSpentETH(t, l, "1")
	if n := approvals(l, a.ID()); n != 1 {
		t.Fatalf("%d approve entries after two Commits, want 1", n)
	}
	// A committed deferred approval releases like any other.
	if err := a.Release(ctx, "the broadcast failed"); err != nil {
		t.Fatal(err)
	}
	wantSpentETH(t, l, "0")

	// An approval decided at once is charged at once; Commit adds nothing.
	b, err := eng.Decide(ctx, transfer(eth, alice, "0.5"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Deferred() {
		t.Fatal("an approval decided without DeferCommit is not deferred")
	}
	wantSpentETH(t, l, "0.5")
	if err := b.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wantSpentETH(t, l, "0.5")
	if err := b.Supersede(ctx, a.ID(), false); err == nil {
		t.Fatal("Supersede of an approval decided at once must fail")
	}
	var zero Approval
	if err := zero.Commit(ctx); !errors.Is(err, ErrNoApproval) {
		t.Fatalf("zero Commit: %v", err)
	}
}

// Two deferred approvals that the daily limit fits only one of: both are
// decided, the first to commit is charged, the second is denied at commit
// and its denial recorded.
func TestDeferredCommitRechecksLimits(t *testing.T) {
	eng, l := newTestEngine(t, mustPolicy(t), wednesday) // daily ETH 3
	ctx := context.Background()
	for range 2 {
		if _, err := eng.Decide(ctx, transfer(eth, alice, "1")); err != nil {
			t.Fatal(err)
		}
	}
	dctx := DeferCommit(ctx)
	a, err := eng.Decide(dctx, transfer(eth, alice, "1"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := eng.Decide(dctx, transfer(eth, bob, "1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	before := len(l.Entries())
	err = b.Commit(ctx)
	if d, rules := outcome(t, err); d != DecisionDeny || !slices.Equal(rules, []string{"limits.daily.ETH"}) {
		t.Fatalf("second Commit: %s %v (%v)", d, rules, err)
	}
	wantSpentETH(t, l, "3")
	after := l.Entries()
	if len(after) != before+1 {
		t.Fatalf("%d entries recorded by the refused Commit, want 1 denial", len(after)-before)
	}
	if last := after[len(after)-1]; last.Decision != DecisionDeny || last.ApprovalID != "" || len(last.Spends) != 0 {
		t.Fatalf("recorded %+v, want a denial charging nothing", last)
	}
	if n := approvals(l, b.ID()); n != 0 {
		t.Fatalf("the denied approval has %d approve entries", n)
	}
	// Releasing the denied, never charged approval is a no-op.
	if err := b.Release(ctx, "denied at commit"); err != nil {
		t.Fatalf("Release of a never-committed approval: %v", err)
	}
	wantSpentETH(t, l, "3")
}

// DeferCommit's contract: Decide checks every limit against the ledger's
// spends so far. A deferred intent that the daily limit already refuses is
// denied when decided, as it is without DeferCommit, not handed out as an
// approval that only its Commit refuses.
func TestDeferredDecideChecksSpentLimits(t *testing.T) {
	eng, l := newTestEngine(t, mustPolicy(t), wednesday) // daily ETH 3
	ctx := context.Background()
	for range 3 {
		if _, err := eng.Decide(ctx, transfer(eth, alice, "1")); err != nil {
			t.Fatal(err)
		}
	}
	_, now := eng.Decide(ctx, transfer(eth, alice, "0.1"))
	_, deferred := eng.Decide(DeferCommit(ctx), transfer(eth, alice, "0.1"))
	if d, rules := outcome(t, now); d != DecisionDeny || !slices.Equal(rules, []string{"limits.daily.ETH"}) {
		t.Fatalf("without DeferCommit: %s %v", d, rules)
	}
	if d, rules := outcome(t, deferred); d != DecisionDeny || !slices.Equal(rules, []string{"limits.daily.ETH"}) {
		t.Fatalf("under DeferCommit a transfer over the spent daily limit is %s %v, want deny [limits.daily.ETH] as without it", d, rules)
	}
	wantSpentETH(t, l, "3")
}

// A retry under a key supersedes the earlier approval holding it: the
// earlier one's spend stops counting and the key passes to the retry, so a
// third approval under the key names the retry. Only the holder of the key
// can be superseded.
func TestDeferredSupersede(t *testing.T) {
	eng, l := newTestEngine(t, mustPolicy(t), wednesday)
	ctx := context.Background()
	dctx := DeferCommit(ctx)
	in := transfer(eth, alice, "1")
	in.Key = "order-7"
	a, err := eng.Decide(dctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := eng.Decide(dctx, in)
	if err != nil {
		t.Fatalf("a deferred decision does not take the key yet: %v", err)
	}
	before := len(l.Entries())
	err = b.Commit(ctx)
	if dup, ok := errors.AsType[*DuplicateError](err); !ok || dup.ApprovalID != a.ID() {
		t.Fatalf("Commit under a held key: %v, want *DuplicateError naming %s", err, a.ID())
	}
	if len(l.Entries()) != before {
		t.Fatal("a deferred key conflict must not be recorded: the signer resolves it")
	}
	if err := b.Supersede(ctx, "not-the-holder", false); !errors.As(err, new(*DuplicateError)) {
		t.Fatalf("Supersede naming another approval than the key's holder: %v, want *DuplicateError", err)
	}
	wantSpentETH(t, l, "1")
	if err := b.Supersede(ctx, a.ID(), false); err != nil {
		t.Fatal(err)
	}
	wantSpentETH(t, l, "1") // a's spend voided, b's charged
	if n := approvals(l, b.ID()); n != 1 {
		t.Fatalf("%d approve entries of the retry, want 1", n)
	}
	c, err := eng.Decide(dctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if dup, ok := errors.AsType[*DuplicateError](c.Commit(ctx)); !ok || dup.ApprovalID != b.ID() {
		t.Fatalf("a third approval under the key must name the retry %s, got %v", b.ID(), dup)
	}
	_, err = eng.Decide(ctx, in)
	if dup, ok := errors.AsType[*DuplicateError](err); !ok || dup.ApprovalID != b.ID() {
		t.Fatalf("Decide under the key: %v, want *DuplicateError naming %s", err, b.ID())
	}
	wantSpentETH(t, l, "1")
	// The superseded approval's release changes nothing more.
	if err := a.Release(ctx, "late"); err != nil {
		t.Fatal(err)
	}
	wantSpentETH(t, l, "1")
}

// A Supersede whose limits do not fit fails as a whole: the approval it
// names keeps its charge and its key. (Ledger.Commit records nothing when
// it fails.)
func TestSupersedeOverLimitKeepsPrior(t *testing.T) {
	eng, l := newTestEngine(t, mustPolicy(t), wednesday) // per_tx ETH 1, daily 3
	supersedeOverLimit(t, eng, l)
}

func supersedeOverLimit(t *testing.T, eng *Engine, l Ledger) {
	t.Helper()
	ctx := context.Background()
	dctx := DeferCommit(ctx)
	first := transfer(eth, alice, "0.5")
	first.Key = "order-8"
	a, err := eng.Decide(dctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// The retry under the key is decided while the limit fits it, and
	// asks for more than a's release frees once other spends filled it.
	retry := transfer(eth, alice, "1")
	retry.Key = "order-8"
	b, err := eng.Decide(dctx, retry)
	if err != nil {
		t.Fatal(err)
	}
	c, err := eng.Decide(dctx, retry) // a second retry, to look at the key afterwards
	if err != nil {
		t.Fatal(err)
	}
	for _, amt := range []string{"1", "1", "0.5"} {
		if _, err := eng.Decide(ctx, transfer(eth, bob, amt)); err != nil {
			t.Fatal(err)
		}
	}
	wantSpentETH(t, l, "3")
	err = b.Supersede(ctx, a.ID(), false)
	if d, rules := outcome(t, err); d != DecisionDeny || !slices.Equal(rules, []string{"limits.daily.ETH"}) {
		t.Fatalf("Supersede over the limit: %s %v", d, rules)
	}
	wantSpentETH(t, l, "3") // a still charged
	if dup, ok := errors.AsType[*DuplicateError](c.Commit(ctx)); !ok || dup.ApprovalID != a.ID() {
		t.Fatalf("after a failed Supersede the key must still be %s's, got %v", a.ID(), dup)
	}
}

// ActionDigest names what a swap does, not its quote: two quotes of one
// swap share it, another amount does not. For a transfer it is Digest.
func TestActionDigest(t *testing.T) {
	quote1 := usdcSwap(wednesday, "100", "100", false)
	quote2 := usdcSwap(wednesday.Add(90*time.Second), "100", "100", false) // a later deadline
	quote2.Quoted, quote2.MinOut = units("0.11", 18), units("0.1089", 18)
	quote2.Tx = &Call{To: router, Value: new(big.Int), Data: HexBytes{0x5a, 0xe4, 0x01, 0xdc, 0x01}}
	a2 := approveUSDC(router, "150")
	quote2.Approval = &a2

	d1, err := Digest(quote1)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Digest(quote2)
	if err != nil {
		t.Fatal(err)
	}
	if d1 == d2 {
		t.Fatal("the two quotes must differ in Digest for this test to mean anything")
	}
	ad := func(in Intent) string {
		t.Helper()
		s, err := ActionDigest(in)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if ad(quote1) != ad(quote2) {
		t.Fatal("two quotes of one swap must have one ActionDigest")
	}
	if ad(&quote1) != ad(quote1) {
		t.Fatal("a pointer to a swap must have the swap's ActionDigest")
	}
	other := usdcSwap(wednesday, "101", "100", false)
	if ad(other) == ad(quote1) {
		t.Fatal("a swap of another amount must have another ActionDigest")
	}
	elsewhere := quote1
	elsewhere.Recipient = alice
	if ad(elsewhere) == ad(quote1) {
		t.Fatal("a swap to another recipient must have another ActionDigest")
	}
	looser := quote1
	looser.SlippageBps = 50
	if ad(looser) == ad(quote1) {
		t.Fatal("a swap with another slippage tolerance must have another ActionDigest")
	}
	// ActionDigest must not change the swap it is given.
	if quote1.Quoted == nil || quote1.Tx == nil || quote1.Approval == nil || quote1.Deadline == 0 {
		t.Fatal("ActionDigest cleared the caller's swap")
	}
	tr := transfer(eth, alice, "1")
	dt, err := Digest(tr)
	if err != nil {
		t.Fatal(err)
	}
	if ad(tr) != hex.EncodeToString(dt[:]) {
		t.Fatal("a transfer's ActionDigest must be its Digest")
	}
	if ad(transfer(eth, alice, "2")) == ad(tr) {
		t.Fatal("transfers of different amounts must differ")
	}
}
