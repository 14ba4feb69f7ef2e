package solana

import (
	"context"
	"errors"
	"fmt"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/policies"
)

// TxDecoder reads a transaction into the intents the policy decides, as
// Decode does. A transaction built by someone else for a program Decode
// only sees as a call (a Jupiter swap) is read by that program's decoder
// (jupiter.Decoder.Decode); the signing path still decodes it itself, from
// the bytes it signs, with the decoder it was prepared with.
type TxDecoder func(ctx context.Context, tx *sol.Transaction, chain string, look Lookup) (*Decoded, error)

// PrepareOption configures PrepareDecoded.
type PrepareOption func(*prepareConfig)

type prepareConfig struct{ simulate bool }

// WithoutSimulation skips the simulation: for a transaction that cannot run
// on the wallet's cluster (a Jupiter swap on the local runtime, which has no
// Jupiter program) and is signed without being sent (Wallet.Sign). Units
// stay zero.
func WithoutSimulation() PrepareOption { return func(c *prepareConfig) { c.simulate = false } }

// ErrForeignSigner is PrepareDecoded's error for a transaction that needs a
// signature besides the wallet's, or is paid by someone else.
var ErrForeignSigner = errors.New("solana: the transaction is not the wallet's alone to sign")

// PrepareDecoded prepares a transaction someone else built (a Jupiter
// swap) for Send: it decodes tx with decode, checks that the wallet pays
// for it and is its only signer and that its fees are under the cap,
// simulates it, and keys its intents with key as PrepareTransfer does.
// The blockhash is tx's own, valid until block height lastValid (the
// builder's lastValidBlockHeight): the journal needs it to tell an expired
// transaction from one that may still land.
//
// Main is the transaction's last intent (a swap's one intent), Action its
// ActionDigest. Send signs the transaction only with one approval per
// intent, decoding it again with decode.
func (w *Wallet) PrepareDecoded(ctx context.Context, tx *sol.Transaction, decode TxDecoder, key string, lastValid uint64, opts ...PrepareOption) (*Prepared, error) {
	cfg := prepareConfig{simulate: true}
	for _, o := range opts {
		o(&cfg)
	}
	switch {
	case tx == nil:
		return nil, errors.New("solana: no transaction to prepare")
	case decode == nil:
		return nil, errors.New("solana: no decoder for the transaction; use Decode or the program's own")
	case lastValid == 0:
		return nil, errors.New("solana: the transaction's last valid block height is unknown; take it from its builder (lastValidBlockHeight)")
	}
	m := &tx.Message
	if len(m.AccountKeys) == 0 || !m.AccountKeys[0].Equals(w.addr) {
		return nil, fmt.Errorf("%w: its fee payer is not the wallet %s", ErrForeignSigner, w.addr)
	}
	if m.Header.NumRequiredSignatures != 1 {
		return nil, fmt.Errorf("%w: it needs %d signatures", ErrForeignSigner, m.Header.NumRequiredSignatures)
	}
	d, err := decode(ctx, tx, w.cluster, w.look)
	if err != nil {
		return nil, err
	}
	if d == nil || len(d.Intents) == 0 {
		return nil, fmt.Errorf("%w: it moves nothing a policy decides, so no approval covers it", ErrNotApproved)
	}
	if err := d.Fees.Check(w.cap); err != nil {
		return nil, err
	}
	valid, err := w.lastValid(ctx, lastValid)
	if err != nil {
		return nil, err
	}
	p := &Prepared{Tx: tx, Fees: d.Fees, Blockhash: Blockhash{Hash: m.RecentBlockhash, LastValidBlockHeight: valid}, Key: key, decode: decode}
	if cfg.simulate {
		sim, err := w.c.Simulate(ctx, tx)
		if err != nil {
			return nil, err
		}
		p.Units = sim.Units
	}
	p.Keys = intentKeys(key, len(d.Intents))
	for i, in := range d.Intents {
		if key != "" {
			if in, err = withKey(in, p.Keys[i]); err != nil {
				return nil, err
			}
		}
		p.Intents = append(p.Intents, in)
	}
	p.Main = p.Intents[len(p.Intents)-1]
	if p.Action, err = policies.ActionDigest(p.Main); err != nil {
		return nil, err
	}
	return p, nil
}

// Blockhash ages: a blockhash is valid for maxAge blocks after the one it
// was made at, and a builder's node may be ahead of the wallet's by a few.
const (
	maxAge   = 150
	nodeSkew = 150
)

// lastValid checks a builder's last valid block height against the
// wallet's node and returns the one the journal keeps. The journal retries
// under a key once the height passes it, so a height below the truth (a
// builder's mistake or lie) could sign a second transaction while the
// first may still land: the height kept is never below the latest a
// blockhash made now could have. A height already passed, or far beyond
// any recent blockhash's, is refused.
func (w *Wallet) lastValid(ctx context.Context, given uint64) (uint64, error) {
	h, err := w.c.BlockHeight(ctx)
	if err != nil {
		return 0, err
	}
	switch {
	case given <= h:
		return 0, fmt.Errorf("%w: its blockhash was valid until block height %d, and the chain is at %d; ask for a fresh transaction", ErrExpired, given, h)
	case given > h+maxAge+nodeSkew:
		return 0, fmt.Errorf("solana: the transaction's last valid block height %d is beyond any recent blockhash's (the chain is at %d); refusing a builder's answer that does not fit the chain", given, h)
	}
	return max(given, h+maxAge), nil
}
