package evm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/mandatehq/mandate/policies"
)

// Wallet acts for one account on one chain. It builds intents from typed
// arguments and chain state (TransferIntent, ApproveIntent), simulates
// calls, and signs exactly one kind of thing: the call of an intent the
// policy engine approved, through Send. There is no other way to get a
// signature out of it.
//
// A Wallet is safe for concurrent use. Its nonces are reserved through its
// journal: under the journal's lock on the wallet's nonces (see NonceLocker;
// with memory.Store's journal that is the database's lock, shared by every
// process on it) a send takes the lowest nonce no open transaction holds,
// signs and journals its transaction, and only then, with the lock released,
// broadcasts it. Concurrent sends, in one process or many, get distinct
// nonces with no gap left behind.
type Wallet struct {
	c      *Client
	s      Signer
	addr   common.Address
	chain  string // chain id in decimal, as intents name it
	jchain string // the journal's name of the chain: Client.ChainKey
	j      Journal
	log    *slog.Logger
	dec    []DecodeOption
	swaps  []SwapDecoder
	floor  *big.Int // minimum tip
	maxFee *big.Int // highest fee cap signed, nil for none
	margin uint64   // gas limit = estimate * (100+margin)/100
	poll   time.Duration
	// lockWait bounds a nonce reservation: waiting for the journal's
	// nonce lock, then reading the pending nonce, signing and journaling.
	lockWait time.Duration

	// mu serialises Replace and Resume within the process.
	mu sync.Mutex
	// local is the nonce lock when the journal is not a NonceLocker.
	local senderLocks
	// sending holds the (lower-case) hashes this wallet has journaled and
	// is broadcasting right now: flushUnsent leaves them to their sender.
	sending sync.Map
}

// DefaultNonceLockTimeout is how long a send waits for its nonce
// reservation unless WithNonceLockTimeout says otherwise.
const DefaultNonceLockTimeout = 15 * time.Second

// WalletOption configures NewWallet.
type WalletOption func(*Wallet)

// WithJournal sets where transactions are recorded before broadcast
// (memory.Store's journal in an application). The default is a
// NewMemJournal, which does not survive the process.
func WithJournal(j Journal) WalletOption { return func(w *Wallet) { w.j = j } }

// WithLogger sets the logger. Logs carry addresses, hashes, nonces and
// statuses; never keys, raw transactions or signatures.
func WithLogger(l *slog.Logger) WalletOption { return func(w *Wallet) { w.log = l } }

// WithTipFloor sets the smallest priority fee the wallet offers (default 1
// gwei). Nodes that report a tip of 1 wei on quiet chains would otherwise
// produce transactions no builder includes.
func WithTipFloor(tip *big.Int) WalletOption {
	return func(w *Wallet) {
		if tip != nil && tip.Sign() >= 0 {
			w.floor = new(big.Int).Set(tip)
		}
	}
}

// WithMaxFeePerGas caps the fee per gas the wallet signs. The usual fee cap
// (2 × base fee + tip) is lowered to it; a transaction may then wait until
// the base fee falls, or be bumped with Replace by a wallet with a higher cap.
// It also bounds Replace, which without it caps a replacement's fee at
// 10 × (current base fee + tip).
func WithMaxFeePerGas(max *big.Int) WalletOption {
	return func(w *Wallet) {
		if max != nil && max.Sign() > 0 {
			w.maxFee = new(big.Int).Set(max)
		}
	}
}

// WithGasMargin sets the gas limit margin over the estimate in percent
// (default 20): state can change between estimate and inclusion.
func WithGasMargin(percent uint64) WalletOption { return func(w *Wallet) { w.margin = percent } }

// WithPollInterval sets how often Wait asks for a receipt (default 1s).
func WithPollInterval(d time.Duration) WalletOption {
	return func(w *Wallet) {
		if d > 0 {
			w.poll = d
		}
	}
}

// WithNonceLockTimeout bounds how long a send may take to reserve its nonce
// (default DefaultNonceLockTimeout): to be granted the journal's lock on the
// wallet's nonces — which, on a shared database, another process may hold —
// and, holding it, to read the pending nonce and journal the signed
// transaction. A send that runs out of time fails with an error wrapping
// ErrNonceLockTimeout, having signed nothing and used no nonce.
func WithNonceLockTimeout(d time.Duration) WalletOption {
	return func(w *Wallet) {
		if d > 0 {
			w.lockWait = d
		}
	}
}

// WithDecodeOptions passes options to the DecodeCall that Send uses to
// check an intent's call (e.g. Permit2At for a devnet's Permit2).
func WithDecodeOptions(opts ...DecodeOption) WalletOption {
	return func(w *Wallet) { w.dec = append(w.dec, opts...) }
}

// NewWallet returns a wallet for s's account on c's chain.
func NewWallet(c *Client, s Signer, opts ...WalletOption) (*Wallet, error) {
	if c == nil {
		return nil, errors.New("evm: NewWallet: nil client")
	}
	if s == nil {
		return nil, errors.New("evm: NewWallet: nil signer")
	}
	w := &Wallet{
		c:      c,
		s:      s,
		addr:   s.Address(),
		chain:  c.Chain(),
		jchain: c.ChainKey(),
		floor:  big.NewInt(params.GWei),
		margin: 20,
		poll:   time.Second,

		lockWait: DefaultNonceLockTimeout,
	}
	for _, o := range opts {
		o(w)
	}
	if w.j == nil {
		w.j = NewMemJournal()
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.log = w.log.With(slog.String("wallet", w.addr.Hex()), slog.String("chain", w.chain))
	return w, nil
}

// Address returns the wallet's account.
func (w *Wallet) Address() common.Address { return w.addr }

// Chain returns the wallet's chain id in decimal, as policies.Header has it.
func (w *Wallet) Chain() string { return w.chain }

// Client returns the wallet's RPC client.
func (w *Wallet) Client() *Client { return w.c }

// Journal returns the wallet's journal.
func (w *Wallet) Journal() Journal { return w.j }

// String describes the wallet without anything secret.
func (w *Wallet) String() string {
	return fmt.Sprintf("evm.Wallet(%s on chain %s)", w.addr.Hex(), w.chain)
}

// GoString is String: a Wallet holds a Signer, whose key %#v must not reach.
func (w *Wallet) GoString() string { return w.String() }

// Format prints String for every verb.
func (w *Wallet) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(w.String())) }

// LogValue logs address and chain.
func (w *Wallet) LogValue() slog.Value {
	return slog.GroupValue(slog.String("address", w.addr.Hex()), slog.String("chain", w.chain))
}

func (w *Wallet) header() policies.Header {
	return policies.Header{Chain: w.chain, From: w.addr.Hex()}
}

// --- intent builders ----------------------------------------------------

// InsufficientBalanceError says the wallet does not hold what an action
// needs. For a native transfer Need includes the most the gas can cost (Gas).
type InsufficientBalanceError struct {
	Token policies.Token
	Have  *big.Int
	Need  *big.Int
	Gas   *big.Int // the part of Need that is gas; nil when none
}

func (e *InsufficientBalanceError) Error() string {
	sym := e.Token.Symbol
	if sym == "" {
		sym = e.Token.Address
	}
	msg := fmt.Sprintf("insufficient %s balance: have %s, need %s", sym,
		formatUnits(e.Have, e.Token.Decimals), formatUnits(e.Need, e.Token.Decimals))
	if e.Gas != nil && e.Gas.Sign() > 0 {
		msg += fmt.Sprintf(" (including up to %s for gas)", formatUnits(e.Gas, e.Token.Decimals))
	}
	return msg
}

// formatUnits writes base units as an exact decimal in token units.
func formatUnits(v *big.Int, decimals uint8) string {
	if v == nil {
		return "0"
	}
	neg := v.Sign() < 0
	s := new(big.Int).Abs(v).String()
	if d := int(decimals); d > 0 {
		if len(s) <= d {
			s = strings.Repeat("0", d-len(s)+1) + s
		}
		s = s[:len(s)-d] + "." + s[len(s)-d:]
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if neg {
		s = "-" + s
	}
	return s
}

func nativeOf(t policies.Token) policies.Token {
	if t.Native() && t.Symbol != "" {
		return t
	}
	return policies.Token{Symbol: "ETH", Decimals: 18}
}

// TransferIntent builds the intent to send amount base units of tok (the
// native coin when tok.Address is empty) to `to`. It checks the balance
// first, including the most the gas can cost in the native coin, and
// returns an *InsufficientBalanceError before anything is decided or signed.
// The caller may set the result's Key (idempotency) before deciding it.
func (w *Wallet) TransferIntent(ctx context.Context, to common.Address, tok policies.Token, amount *big.Int) (policies.Transfer, error) {
	if amount == nil || amount.Sign() <= 0 {
		return policies.Transfer{}, errors.New("evm: transfer amount must be positive")
	}
	if amount.Cmp(maxUint256) > 0 {
		return policies.Transfer{}, fmt.Errorf("evm: transfer amount %s does not fit uint256", amount)
	}
	if to == (common.Address{}) {
		return policies.Transfer{}, errors.New("evm: refusing to transfer to the zero address: what is sent there is lost")
	}
	var (
		call policies.Call
		have *big.Int
		err  error
	)
	if tok.Native() {
		tok = nativeOf(tok)
		call = policies.Call{To: to.Hex(), Value: new(big.Int).Set(amount)}
		if have, err = w.c.Balance(ctx, w.addr); err != nil {
			return policies.Transfer{}, err
		}
	} else {
		ta, perr := parseAddress("token", tok.Address)
		if perr != nil {
			return policies.Transfer{}, perr
		}
		tok.Address = ta.Hex()
		data, _ := EncodeTransfer(to, amount)
		call = policies.Call{To: ta.Hex(), Value: new(big.Int), Data: data}
		if have, err = w.c.TokenBalance(ctx, ta, w.addr); err != nil {
			return policies.Transfer{}, err
		}
	}
	if have.Cmp(amount) < 0 {
		return policies.Transfer{}, &InsufficientBalanceError{Token: tok, Have: have, Need: new(big.Int).Set(amount)}
	}
	// Gas is paid in the native coin whatever is sent.
	gas, err := w.Simulate(ctx, call)
	if err != nil {
		return policies.Transfer{}, err
	}
	_, feeCap, err := w.Fees(ctx)
	if err != nil {
		return policies.Transfer{}, err
	}
	fee := new(big.Int).Mul(new(big.Int).SetUint64(w.gasLimit(gas)), feeCap)
	need, native, eth := new(big.Int).Set(fee), nativeOf(policies.Token{}), have
	if tok.Native() {
		need.Add(need, amount)
		native = tok
	} else if eth, err = w.c.Balance(ctx, w.addr); err != nil {
		return policies.Transfer{}, err
	}
	if eth.Cmp(need) < 0 {
		return policies.Transfer{}, &InsufficientBalanceError{Token: native, Have: eth, Need: need, Gas: fee}
	}
	return policies.Transfer{Header: w.header(), To: to.Hex(), Token: tok, Amount: new(big.Int).Set(amount), Tx: &call}, nil
}

// ApproveIntent builds the intent to set spender's allowance of the ERC-20
// tok to amount (zero revokes). Amounts at or above 2^255 are Unlimited.
func (w *Wallet) ApproveIntent(ctx context.Context, tok policies.Token, spender common.Address, amount *big.Int) (policies.Approve, error) {
	if tok.Native() {
		return policies.Approve{}, errors.New("evm: the native coin has no allowance to approve")
	}
	ta, err := parseAddress("token", tok.Address)
	if err != nil {
		return policies.Approve{}, err
	}
	if spender == (common.Address{}) {
		return policies.Approve{}, errors.New("evm: refusing to approve the zero address")
	}
	data, err := EncodeApprove(spender, amount)
	if err != nil {
		return policies.Approve{}, err
	}
	tok.Address = ta.Hex()
	call := policies.Call{To: ta.Hex(), Value: new(big.Int), Data: data}
	return policies.Approve{Header: w.header(), Method: policies.MethodApprove, Token: tok, Spender: spender.Hex(),
		Amount: new(big.Int).Set(amount), Unlimited: amount.Cmp(unlimitedThreshold) >= 0, Tx: &call}, nil
}

// --- simulation and fees --------------------------------------------------

// Simulate runs call from the wallet (eth_call, then eth_estimateGas) and
// returns the gas estimate. A revert is a *RevertError with its reason.
func (w *Wallet) Simulate(ctx context.Context, call policies.Call) (uint64, error) {
	if _, err := w.c.Call(ctx, w.addr, call); err != nil {
		return 0, fmt.Errorf("evm: simulate call to %s: %w", call.To, err)
	}
	gas, err := w.c.EstimateGas(ctx, w.addr, call)
	if err != nil {
		return 0, fmt.Errorf("evm: estimate gas of call to %s: %w", call.To, err)
	}
	return gas, nil
}

// Fees returns the EIP-1559 fees the wallet would sign now: tip =
// max(eth_maxPriorityFeePerGas, the tip floor), fee cap = 2 × base fee +
// tip (room for the base fee to rise 12.5% per block for six blocks), then
// lowered to WithMaxFeePerGas if set.
func (w *Wallet) Fees(ctx context.Context) (tip, feeCap *big.Int, err error) {
	_, tip, feeCap, err = w.fees(ctx)
	return tip, feeCap, err
}

// fees is Fees, also returning the base fee.
func (w *Wallet) fees(ctx context.Context) (base, tip, feeCap *big.Int, err error) {
	base, err = w.c.BaseFee(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	tip, err = w.c.SuggestTip(ctx)
	if err != nil {
		var rerr rpc.Error
		if !errors.As(err, &rerr) || rerr.ErrorCode() != -32601 { // method not found: use the floor
			return nil, nil, nil, err
		}
		tip = new(big.Int)
	}
	if tip.Cmp(w.floor) < 0 {
		tip = new(big.Int).Set(w.floor)
	}
	feeCap = new(big.Int).Add(new(big.Int).Lsh(base, 1), tip)
	if w.maxFee != nil && feeCap.Cmp(w.maxFee) > 0 {
		feeCap = new(big.Int).Set(w.maxFee)
		if tip.Cmp(feeCap) > 0 {
			tip = new(big.Int).Set(feeCap)
		}
	}
	return base, tip, feeCap, nil
}

func (w *Wallet) gasLimit(estimate uint64) uint64 {
	extra := (estimate*w.margin + 99) / 100
	return estimate + extra
}
