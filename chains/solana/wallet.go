package solana

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strconv"
	"sync"
	"time"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/policies"
)

// Wallet sends what the policy approved from one Solana account: it
// builds transfers, prices and simulates them, signs them only through
// signApproved, journals each signed transaction before it leaves, and
// follows it until it lands or its blockhash expires.
//
// It journals in the EVM journal (evm.Journal; memory.Store.Journal() over
// SQLite or PostgreSQL) with Solana meanings: Chain is "solana/<genesis>",
// From the base58 address, Hash the base58 signature, Nonce the
// blockhash's last valid block height (so a row says when it can no longer
// land) and Raw the signed transaction.
type Wallet struct {
	c        *Client
	s        Signer
	j        evm.Journal
	addr     sol.PublicKey
	from     string
	cluster  string
	jchain   string
	look     Lookup
	cap      FeeCap
	pct      int
	poll     time.Duration
	lockWait time.Duration
	log      *slog.Logger
	local    sync.Mutex // the lock on sends when the journal is not a NonceLocker
}

// WalletOption configures NewWallet.
type WalletOption func(*Wallet)

// WithCluster names the cluster as the policy does (solana-mainnet,
// solana-devnet, solana-local); by default it is told from the genesis hash.
func WithCluster(name string) WalletOption { return func(w *Wallet) { w.cluster = name } }

// WithPriorityFee sets the percentile of recent prioritization fees the
// wallet pays (default 75) and the most it pays per compute unit in
// micro-lamports (default DefaultMaxUnitPrice; 0 pays no priority fee): a
// fee market that spikes is followed only up to the cap.
func WithPriorityFee(percentile int, maxUnitPrice uint64) WalletOption {
	return func(w *Wallet) { w.pct, w.cap.MaxUnitPrice = percentile, maxUnitPrice }
}

// WithMaxFee bounds a transaction's total fee in lamports (default
// DefaultMaxFeeLamports); the signer refuses one above it.
func WithMaxFee(lamports *big.Int) WalletOption {
	return func(w *Wallet) {
		if lamports != nil {
			w.cap.MaxLamports = new(big.Int).Set(lamports)
		}
	}
}

// WithLogger logs to l (addresses, signatures and statuses; never keys or
// signed bytes).
func WithLogger(l *slog.Logger) WalletOption { return func(w *Wallet) { w.log = l } }

// WithLookup reads token accounts and mints through l rather than the
// RPC, for building, decoding and signing alike: a recorded state, or one
// that adds accounts the cluster lacks (the local runtime has no native
// mint account).
func WithLookup(l Lookup) WalletOption {
	return func(w *Wallet) {
		if l != nil {
			w.look = l
		}
	}
}

// WithPollInterval sets how often Confirm asks for a signature's status.
func WithPollInterval(d time.Duration) WalletOption { return func(w *Wallet) { w.poll = d } }

// Fee defaults: 0.1 lamport per compute unit, 0.001 SOL a transaction.
const (
	DefaultMaxUnitPrice   = 100_000
	DefaultMaxFeeLamports = 1_000_000
)

// NewWallet opens the wallet of s on c's cluster, journaling in j, and
// reconciles the journal with the chain (Reconcile): a transaction a
// previous process signed but may not have sent is sent again while its
// blockhash is valid, and marked expired once it is not.
func NewWallet(ctx context.Context, c *Client, s Signer, j evm.Journal, opts ...WalletOption) (*Wallet, error) {
	switch {
	case c == nil:
		return nil, errors.New("solana: a wallet needs an RPC client; set MANDATE_SOLANA_RPC_URL")
	case s == nil:
		return nil, errors.New("solana: a wallet needs a signer; set MANDATE_SOLANA_KEY or open the keystore")
	case j == nil:
		return nil, errors.New("solana: a wallet needs a journal (memory.Store.Journal()) so a retry never pays twice")
	}
	w := &Wallet{c: c, s: s, j: j, addr: s.Address(), from: s.Address().String(), look: c,
		cap: FeeCap{MaxUnitPrice: DefaultMaxUnitPrice, MaxLamports: big.NewInt(DefaultMaxFeeLamports)},
		pct: 75, poll: 400 * time.Millisecond, lockWait: 30 * time.Second, log: slog.Default()}
	for _, o := range opts {
		o(w)
	}
	if w.pct < 0 || w.pct > 100 {
		return nil, fmt.Errorf("solana: priority fee percentile %d is not between 0 and 100", w.pct)
	}
	var err error
	if w.jchain, err = c.ChainKey(ctx); err != nil {
		return nil, err
	}
	if w.cluster == "" {
		if w.cluster, err = c.Cluster(ctx); err != nil {
			return nil, err
		}
	}
	w.log = w.log.With(slog.String("chain", w.cluster), slog.String("wallet", w.from))
	if err := w.Reconcile(ctx); err != nil {
		w.log.Warn("journal reconciliation incomplete", slog.String("error", err.Error()))
	}
	return w, nil
}

// Address is the wallet's account.
func (w *Wallet) Address() sol.PublicKey { return w.addr }

// Cluster is the cluster's name as policies and intents spell it.
func (w *Wallet) Cluster() string { return w.cluster }

// JournalChain is the chain's name in the journal: "solana/<genesis>".
func (w *Wallet) JournalChain() string { return w.jchain }

// Client is the wallet's RPC client.
func (w *Wallet) Client() *Client { return w.c }

// Lookup is how the wallet reads token accounts and mints (over RPC).
func (w *Wallet) Lookup() Lookup { return w.look }

// Prepared is a transaction built and simulated for one transfer (or built
// elsewhere and read by its decoder: PrepareDecoded), not yet
// signed: what the policy must approve (Intents, one approval each, in
// order) and what it costs.
type Prepared struct {
	Tx *sol.Transaction
	// Intents are the transaction's own instructions decoded, each with
	// its idempotency key: the rent of a recipient's new token account
	// (key+"/rent"), then the transfer (key).
	Intents []policies.Intent
	Keys    []string
	Key     string
	// Main is the transfer asked for; Action its ActionDigest, what a
	// retry under Key must repeat.
	Main      policies.Intent
	Action    string
	Fees      Fees
	Blockhash Blockhash
	Units     uint64 // compute units the simulation consumed
	// decode reads Tx when signing; nil: Decode. PrepareDecoded sets it.
	decode TxDecoder
}

// TransferIntent is the intent a transfer of amount of tok to to decodes
// to, as the decoder writes it (a token by its mint alone). tok is SOL when
// its Address is empty.
func (w *Wallet) TransferIntent(to sol.PublicKey, tok policies.Token, amount *big.Int, key string) policies.Transfer {
	t := SOL
	if !tok.Native() {
		t = policies.Token{Address: tok.Address, Decimals: tok.Decimals}
	}
	return policies.Transfer{Header: policies.Header{Chain: w.cluster, From: w.from, Key: key}, To: to.String(), Token: t, Amount: new(big.Int).Set(amount)}
}

// ErrOffCurve is the error of a recipient that is not on the ed25519
// curve: a program-derived address no key signs for, where what is sent
// can be locked for good.
var ErrOffCurve = errors.New("solana: the recipient is not a wallet address (it is off the ed25519 curve, a program-derived address)")

// ErrNotWallet is the error of a recipient that is a token account, a
// mint or a program: what is sent there is lost or locked, a classic
// mistake (giving one's USDC account instead of one's wallet address).
var ErrNotWallet = errors.New("solana: the recipient is not a wallet address")

// checkRecipient refuses a recipient that is a token account, a mint or a
// program. An account that does not exist yet is a new wallet.
func (w *Wallet) checkRecipient(ctx context.Context, to sol.PublicKey) error {
	if !to.IsOnCurve() {
		return fmt.Errorf("%w: %s; send to the owner's wallet address instead", ErrOffCurve, to)
	}
	a, err := w.c.account(ctx, to)
	switch {
	case errors.Is(err, ErrAccountNotFound):
		return nil
	case err != nil:
		return err
	case isTokenProgram(a.Owner):
		return fmt.Errorf("%w: %s is a token account or mint of program %s; give the owner's wallet address", ErrNotWallet, to, a.Owner)
	case a.Executable:
		return fmt.Errorf("%w: %s is a program; give a wallet address", ErrNotWallet, to)
	}
	return nil
}

// PrepareTransfer builds a transfer of amount base units of tok (SOL when
// its Address is empty, else a mint of the Token or Token-2022 program) to
// to, creating to's associated token account when it has none, with a
// priority fee from recent fees (capped), and simulates it: a transfer
// that would fail is an error here, before any decision or signature.
func (w *Wallet) PrepareTransfer(ctx context.Context, to sol.PublicKey, tok policies.Token, amount *big.Int, key string) (*Prepared, error) {
	if _, err := u64(amount, "amount"); err != nil {
		return nil, err
	}
	if amount.Sign() == 0 {
		return nil, errors.New("solana: amount is zero; give an amount greater than zero")
	}
	if err := w.checkRecipient(ctx, to); err != nil {
		return nil, err
	}
	var mint sol.PublicKey
	if !tok.Native() {
		var err error
		if mint, err = sol.PublicKeyFromBase58(tok.Address); err != nil {
			return nil, fmt.Errorf("solana: token mint %q is not a base58 address", tok.Address)
		}
		m, err := w.look.Mint(ctx, mint)
		if err != nil {
			return nil, fmt.Errorf("solana: token %s: %w", mint, err)
		}
		if m.Decimals != tok.Decimals {
			return nil, fmt.Errorf("solana: mint %s has %d decimals on chain, the token was given %d; fix the token's entry in the policy", mint, m.Decimals, tok.Decimals)
		}
	}
	bh, err := w.c.LatestBlockhash(ctx)
	if err != nil {
		return nil, err
	}
	price, err := w.priorityFee(ctx, []sol.PublicKey{w.addr, to})
	if err != nil {
		return nil, err
	}
	build := func(b ComputeBudget) (*sol.Transaction, error) {
		if tok.Native() {
			return BuildSOLTransfer(w.addr, to, amount, b, bh.Hash)
		}
		return BuildTokenTransfer(ctx, w.look, w.addr, to, mint, amount, b, bh.Hash)
	}
	tx, err := build(ComputeBudget{UnitPrice: price})
	if err != nil {
		return nil, err
	}
	sim, err := w.c.Simulate(ctx, tx)
	if err != nil {
		return nil, err
	}
	// The limit the simulation needed with a margin: the priority fee is
	// paid on the limit, not on what is used.
	limit := uint32(min(sim.Units+sim.Units/5+1_000, maxUnits))
	if tx, err = build(ComputeBudget{UnitLimit: limit, UnitPrice: price}); err != nil {
		return nil, err
	}
	d, err := Decode(ctx, tx, w.cluster, w.look)
	if err != nil {
		return nil, err
	}
	if err := d.Fees.Check(w.cap); err != nil {
		return nil, err
	}
	p := &Prepared{Tx: tx, Fees: d.Fees, Blockhash: bh, Units: sim.Units, Key: key}
	p.Keys = intentKeys(key, len(d.Intents))
	for i, in := range d.Intents {
		if key != "" {
			if in, err = withKey(in, p.Keys[i]); err != nil {
				return nil, err
			}
		}
		p.Intents = append(p.Intents, in)
	}
	want := w.TransferIntent(to, tok, amount, key)
	if len(p.Intents) == 0 || !sameIntent(p.Intents[len(p.Intents)-1], want) {
		return nil, fmt.Errorf("%w: the built transaction does not decode to the transfer asked for", ErrNotApproved)
	}
	p.Main = p.Intents[len(p.Intents)-1]
	if p.Action, err = policies.ActionDigest(p.Main); err != nil {
		return nil, err
	}
	return p, nil
}

// intentKeys gives each of n intents its idempotency key: the last, the
// transfer asked for, gets key; those before it (the rent of a new token
// account) get a key derived from it with "/", which keys given to tools
// may not contain (tools.CheckKey), so the ledger's keys never collide.
func intentKeys(key string, n int) []string {
	if key == "" || n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		switch {
		case i == n-1:
			out[i] = key
		case n == 2:
			out[i] = key + "/rent"
		default:
			out[i] = key + "/" + strconv.Itoa(i)
		}
	}
	return out
}

func sameIntent(a, b policies.Intent) bool {
	x, err1 := policies.Digest(a)
	y, err2 := policies.Digest(b)
	return err1 == nil && err2 == nil && x == y
}

// priorityFee is the wallet's percentile of recent prioritization fees on
// accounts, capped.
func (w *Wallet) priorityFee(ctx context.Context, accounts []sol.PublicKey) (uint64, error) {
	fees, err := w.c.PrioritizationFees(ctx, accounts)
	if err != nil {
		return 0, err
	}
	if len(fees) == 0 {
		return 0, nil
	}
	slices.Sort(fees)
	return min(fees[(len(fees)-1)*w.pct/100], w.cap.MaxUnitPrice), nil
}
