package solana_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"math/big"
	"sync/atomic"
	"testing"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/solana"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// countingDecoder is Decode, counting its calls: the signing path must
// read the transaction again itself.
type countingDecoder struct{ n atomic.Int32 }

func (c *countingDecoder) decode(ctx context.Context, tx *sol.Transaction, chain string, look solana.Lookup) (*solana.Decoded, error) {
	c.n.Add(1)
	return solana.Decode(ctx, tx, chain, look)
}

// solTx builds an unsigned SOL transfer from the wallet on a fresh blockhash.
func (e *env) solTx(t *testing.T, to sol.PublicKey, lamports int64) (*sol.Transaction, solana.Blockhash) {
	t.Helper()
	bh, err := e.c.LatestBlockhash(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := solana.BuildSOLTransfer(e.w.Address(), to, big.NewInt(lamports), solana.ComputeBudget{UnitLimit: 10_000}, bh.Hash)
	if err != nil {
		t.Fatal(err)
	}
	return tx, bh
}

func (e *env) open0(t *testing.T) int {
	t.Helper()
	rows, err := e.j.Open(context.Background(), e.w.JournalChain(), e.w.Address().String())
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

// A transaction built elsewhere is decoded with the decoder it was
// prepared with, simulated, approved, decoded again when signed, sent and
// confirmed.
func TestPrepareDecodedSends(t *testing.T) {
	st := memtest.SQLite(t)
	e := newEnv(t, st.Store.Journal(), st.Store.Ledger())
	ctx := context.Background()
	to := newRecipient()
	tx, bh := e.solTx(t, to, 2_000_000)
	var dec countingDecoder
	p, err := e.w.PrepareDecoded(ctx, tx, dec.decode, "pd-1", bh.LastValidBlockHeight)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Intents) != 1 || p.Units == 0 || p.Blockhash.Hash != bh.Hash || p.Blockhash.LastValidBlockHeight < bh.LastValidBlockHeight {
		t.Fatalf("prepared %+v", p)
	}
	want := e.w.TransferIntent(to, solana.SOL, big.NewInt(2_000_000), "pd-1")
	if a, _ := policies.Digest(p.Main); a != mustDigest(t, want) {
		t.Fatalf("main %+v, want %+v", p.Main, want)
	}
	aps, err := e.decide(t, p)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := e.w.Send(ctx, p, aps)
	if err != nil {
		t.Fatal(err)
	}
	if dec.n.Load() != 2 {
		t.Fatalf("the decoder ran %d times, want 2 (prepare, sign)", dec.n.Load())
	}
	if rec, err = e.w.Confirm(ctx, rec.Hash); err != nil || rec.Status != evm.TxMined {
		t.Fatalf("confirm: %v %+v", err, rec)
	}
	if got := lamports(t, e.c, to); got != 2_000_000 {
		t.Fatalf("recipient has %d lamports", got)
	}
}

func mustDigest(t *testing.T, in policies.Intent) [32]byte {
	t.Helper()
	d, err := policies.Digest(in)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// What is signed is what the decoder reads from the bytes being signed,
// not what was approved: a transaction changed after its approval, or a
// decoder that reads it differently when signing, signs nothing and
// journals nothing.
func TestPrepareDecodedRedecodesWhenSigning(t *testing.T) {
	st := memtest.SQLite(t)
	e := newEnv(t, st.Store.Journal(), st.Store.Ledger())
	ctx := context.Background()
	to := newRecipient()

	tx, bh := e.solTx(t, to, 1_000_000)
	p, err := e.w.PrepareDecoded(ctx, tx, solana.Decode, "", bh.LastValidBlockHeight)
	if err != nil {
		t.Fatal(err)
	}
	aps, err := e.decide(t, p)
	if err != nil {
		t.Fatal(err)
	}
	p.Tx, _ = e.solTx(t, newRecipient(), 1_000_000) // the same amount, elsewhere
	if _, err := e.w.Send(ctx, p, aps); !errors.Is(err, solana.ErrNotApproved) {
		t.Fatalf("a transaction changed after approval: %v", err)
	}

	// A decoder that says one thing when prepared and another when signing.
	var calls atomic.Int32
	lying := func(ctx context.Context, tx *sol.Transaction, chain string, look solana.Lookup) (*solana.Decoded, error) {
		d, err := solana.Decode(ctx, tx, chain, look)
		if err == nil && calls.Add(1) > 1 {
			tr := d.Intents[0].(policies.Transfer)
			tr.Amount = big.NewInt(1)
			d.Intents[0] = tr
		}
		return d, err
	}
	tx, bh = e.solTx(t, to, 1_000_000)
	if p, err = e.w.PrepareDecoded(ctx, tx, lying, "", bh.LastValidBlockHeight); err != nil {
		t.Fatal(err)
	}
	if aps, err = e.decide(t, p); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.w.Sign(ctx, p, aps); !errors.Is(err, solana.ErrNotApproved) {
		t.Fatalf("a decoder reading otherwise at signing: %v", err)
	}
	if n := e.open0(t); n != 0 {
		t.Fatalf("%d journal rows after refusals", n)
	}
	if got := lamports(t, e.c, to); got != 0 {
		t.Fatalf("recipient got %d lamports", got)
	}
}

// Sign journals a signed transaction without broadcasting it, signed by
// the wallet's key over the message; a retry under its key returns it.
func TestSignWithoutBroadcast(t *testing.T) {
	st := memtest.SQLite(t)
	e := newEnv(t, st.Store.Journal(), st.Store.Ledger())
	ctx := context.Background()
	to := newRecipient()
	tx, bh := e.solTx(t, to, 1_000_000)
	p, err := e.w.PrepareDecoded(ctx, tx, solana.Decode, "s-1", bh.LastValidBlockHeight, solana.WithoutSimulation())
	if err != nil {
		t.Fatal(err)
	}
	if p.Units != 0 {
		t.Fatalf("simulated %d units without simulation", p.Units)
	}
	aps, err := e.decide(t, p)
	if err != nil {
		t.Fatal(err)
	}
	rec, fresh, err := e.w.Sign(ctx, p, aps)
	if err != nil || !fresh || rec.Status != evm.TxSigned {
		t.Fatalf("sign: %v fresh=%v %+v", err, fresh, rec)
	}
	signed, err := sol.TransactionFromBytes(rec.Raw)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := signed.Message.MarshalBinary()
	if !ed25519.Verify(ed25519.PublicKey(e.w.Address().Bytes()), msg, signed.Signatures[0][:]) {
		t.Fatal("the signature does not verify")
	}
	if got := lamports(t, e.c, to); got != 0 {
		t.Fatalf("Sign broadcast: the recipient has %d lamports", got)
	}
	if aps, err = e.decide(t, p); err != nil {
		t.Fatal(err)
	}
	again, fresh, err := e.w.Sign(ctx, p, aps)
	if err != nil || fresh || again.Hash != rec.Hash {
		t.Fatalf("retry under the key: %v fresh=%v %s, want %s", err, fresh, again.Hash, rec.Hash)
	}
}

func TestPrepareDecodedRefuses(t *testing.T) {
	st := memtest.SQLite(t)
	e := newEnv(t, st.Store.Journal(), st.Store.Ledger())
	ctx := context.Background()
	tx, bh := e.solTx(t, newRecipient(), 1_000_000)
	if _, err := e.w.PrepareDecoded(ctx, tx, nil, "", bh.LastValidBlockHeight); err == nil {
		t.Error("no decoder: no error")
	}
	if _, err := e.w.PrepareDecoded(ctx, tx, solana.Decode, "", 0); err == nil {
		t.Error("no last valid height: no error")
	}
	other := newRecipient()
	foreign, err := solana.BuildSOLTransfer(other, newRecipient(), big.NewInt(1), solana.ComputeBudget{}, bh.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.w.PrepareDecoded(ctx, foreign, solana.Decode, "", bh.LastValidBlockHeight); !errors.Is(err, solana.ErrForeignSigner) {
		t.Errorf("another payer: %v", err)
	}
	// The journal retries under a key once the chain passes the last valid
	// height: one a builder gives too low is raised to what a blockhash
	// made now could have, one already passed or far ahead is refused.
	h, err := e.c.BlockHeight(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := e.w.PrepareDecoded(ctx, tx, solana.Decode, "", h+1); err != nil || p.Blockhash.LastValidBlockHeight < h+150 {
		t.Errorf("a low last valid height: %v, kept %+v", err, p)
	}
	if _, err := e.w.PrepareDecoded(ctx, tx, solana.Decode, "", h); !errors.Is(err, solana.ErrExpired) {
		t.Errorf("a passed last valid height: %v", err)
	}
	if _, err := e.w.PrepareDecoded(ctx, tx, solana.Decode, "", h+100_000); err == nil {
		t.Error("a last valid height far ahead: no error")
	}
	nothing := func(context.Context, *sol.Transaction, string, solana.Lookup) (*solana.Decoded, error) {
		return &solana.Decoded{}, nil
	}
	if _, err := e.w.PrepareDecoded(ctx, tx, nothing, "", bh.LastValidBlockHeight); !errors.Is(err, solana.ErrNotApproved) {
		t.Errorf("no intents: %v", err)
	}
}
