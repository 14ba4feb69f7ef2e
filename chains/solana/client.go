package solana

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"
)

// Client is the few Solana RPC methods the wallet uses, typed, over
// solana-go's rpc client. Every failure is one line naming the method: a
// node's error answer (an *RPCError the caller can branch on), no answer,
// or an answer that is not what the method returns (ErrBadAnswer).
type Client struct {
	rpc *rpc.Client

	mu      sync.Mutex
	genesis sol.Hash
}

// RPCError is a node's error answer to a method.
type RPCError struct {
	Method  string
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("solana: the RPC refused %s (code %d): %s", e.Method, e.Code, oneLine(e.Message))
}

// ErrBadAnswer is wrapped by the error of an answer that is not what the
// method returns: a server that is not a Solana RPC, a proxy's error page.
var ErrBadAnswer = errors.New("the answer is not a Solana JSON-RPC result")

// NewClient returns a client of the JSON-RPC endpoint at rawURL.
func NewClient(rawURL string) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(rawURL))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("solana: the RPC URL is not an http(s) URL; set MANDATE_SOLANA_RPC_URL to one such as http://127.0.0.1:8899")
	}
	return &Client{rpc: rpc.New(u.String())}, nil
}

// NewClientFrom wraps an existing solana-go client.
func NewClientFrom(c *rpc.Client) *Client { return &Client{rpc: c} }

// RPC is the underlying solana-go client, for methods this type lacks.
func (c *Client) RPC() *rpc.Client { return c.rpc }

// rpcErr turns an rpc client error into one line naming the method.
func rpcErr(method string, err error) error {
	if err == nil {
		return nil
	}
	if re, ok := errors.AsType[*jsonrpc.RPCError](err); ok {
		return &RPCError{Method: method, Code: re.Code, Message: re.Message}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("solana: RPC %s: %w", method, err)
	}
	msg := urlRe.ReplaceAllString(oneLine(err.Error()), "the RPC URL")
	if strings.Contains(msg, "json") || strings.Contains(msg, "invalid character") || strings.Contains(msg, "unexpected end") {
		return fmt.Errorf("solana: RPC %s: %w (%s); check that MANDATE_SOLANA_RPC_URL is a Solana JSON-RPC endpoint", method, ErrBadAnswer, msg)
	}
	return &rpcFailure{msg: fmt.Sprintf("solana: RPC %s failed: %s", method, msg), err: err}
}

// rpcFailure keeps the cause for errors.Is (a network error, a timeout)
// while printing the one line without the URL.
type rpcFailure struct {
	msg string
	err error
}

func (e *rpcFailure) Error() string { return e.msg }
func (e *rpcFailure) Unwrap() error { return e.err }

// urlRe finds URLs in solana-go's errors: an RPC URL may carry an API key.
var urlRe = regexp.MustCompile(`https?://\S+`)

// badAnswer is the error of a result that decoded but says nothing usable.
func badAnswer(method, what string) error {
	return fmt.Errorf("solana: RPC %s: %w (%s); check that MANDATE_SOLANA_RPC_URL is a Solana JSON-RPC endpoint", method, ErrBadAnswer, what)
}

// oneLine keeps an error text on one line and short: solana-go prints
// RPC errors as multi-line dumps.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// Genesis returns the cluster's genesis hash, read once (a failed read is
// tried again next time: a node that was down may answer).
func (c *Client) Genesis(ctx context.Context) (sol.Hash, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.genesis.IsZero() {
		return c.genesis, nil
	}
	h, err := c.rpc.GetGenesisHash(ctx)
	if err != nil {
		return sol.Hash{}, rpcErr("getGenesisHash", err)
	}
	if h.IsZero() {
		return sol.Hash{}, badAnswer("getGenesisHash", "an empty hash")
	}
	c.genesis = h
	return h, nil
}

// ChainKey is the chain's name in the journal: "solana/<genesis hash>", so
// rows of a devnet restarted over the same database are not mixed up.
func (c *Client) ChainKey(ctx context.Context) (string, error) {
	g, err := c.Genesis(ctx)
	if err != nil {
		return "", err
	}
	return "solana/" + g.String(), nil
}

// Genesis hashes of the public clusters.
var (
	genesisMainnet = "5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d"
	genesisDevnet  = "EtWTRABZaYq6iMfeYKouRu166VU2xqa1wcaWoxPkrZBG"
)

// Cluster names the cluster as policies and intents do: solana-mainnet,
// solana-devnet, or solana-local for any other genesis.
func (c *Client) Cluster(ctx context.Context) (string, error) {
	g, err := c.Genesis(ctx)
	if err != nil {
		return "", err
	}
	switch g.String() {
	case genesisMainnet:
		return "solana-mainnet", nil
	case genesisDevnet:
		return "solana-devnet", nil
	}
	return "solana-local", nil
}

// Balance returns the lamports of addr (zero for an account that does not exist).
func (c *Client) Balance(ctx context.Context, addr sol.PublicKey) (*big.Int, error) {
	r, err := c.rpc.GetBalance(ctx, addr, rpc.CommitmentConfirmed)
	if err != nil {
		return nil, rpcErr("getBalance", err)
	}
	if r == nil {
		return nil, badAnswer("getBalance", "no value")
	}
	return new(big.Int).SetUint64(r.Value), nil
}

// TokenHolding is one token account of an owner.
type TokenHolding struct {
	Account TokenAccount
	Amount  *big.Int // base units
}

// TokenAccounts lists owner's token accounts under both token programs.
func (c *Client) TokenAccounts(ctx context.Context, owner sol.PublicKey) ([]TokenHolding, error) {
	var out []TokenHolding
	for _, prog := range []sol.PublicKey{sol.TokenProgramID, sol.Token2022ProgramID} {
		r, err := c.rpc.GetTokenAccountsByOwner(ctx, owner, &rpc.GetTokenAccountsConfig{ProgramId: prog.ToPointer()},
			&rpc.GetTokenAccountsOpts{Commitment: rpc.CommitmentConfirmed, Encoding: sol.EncodingBase64})
		if err != nil {
			return nil, rpcErr("getTokenAccountsByOwner", err)
		}
		if r == nil {
			return nil, badAnswer("getTokenAccountsByOwner", "no value")
		}
		for _, a := range r.Value {
			if a == nil || a.Account.Data == nil {
				return nil, badAnswer("getTokenAccountsByOwner", "an account without data")
			}
			h, err := holding(a.Pubkey, a.Account.Owner, a.Account.Data.GetBinary())
			if err != nil {
				return nil, badAnswer("getTokenAccountsByOwner", err.Error())
			}
			out = append(out, h)
		}
	}
	return out, nil
}

// holding reads a token account and its amount.
func holding(addr, program sol.PublicKey, data []byte) (TokenHolding, error) {
	ta, err := ParseTokenAccount(addr, program, data)
	if err != nil {
		return TokenHolding{}, err
	}
	return TokenHolding{Account: ta, Amount: new(big.Int).SetUint64(binary.LittleEndian.Uint64(data[64:72]))}, nil
}

// TokenBalance returns what owner holds of mint in its associated token
// account (zero when it has none).
func (c *Client) TokenBalance(ctx context.Context, owner sol.PublicKey, m Mint) (*big.Int, error) {
	addr, err := ataAddress(owner, m.Address, m.Program)
	if err != nil {
		return nil, fmt.Errorf("solana: token account of %s: %w", owner, err)
	}
	acct, err := c.account(ctx, addr)
	if errors.Is(err, ErrAccountNotFound) {
		return new(big.Int), nil
	}
	if err != nil {
		return nil, err
	}
	h, err := holding(addr, acct.Owner, acct.Data.GetBinary())
	if err != nil {
		return nil, err
	}
	return h.Amount, nil
}

// account reads an account in base64; ErrAccountNotFound when it does not exist.
func (c *Client) account(ctx context.Context, addr sol.PublicKey) (*rpc.Account, error) {
	r, err := c.rpc.GetAccountInfoWithOpts(ctx, addr, &rpc.GetAccountInfoOpts{Encoding: sol.EncodingBase64, Commitment: rpc.CommitmentConfirmed})
	if errors.Is(err, rpc.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrAccountNotFound, addr)
	}
	if err != nil {
		return nil, rpcErr("getAccountInfo", err)
	}
	if r.Value.Data == nil {
		return nil, badAnswer("getAccountInfo", "an account without data")
	}
	return r.Value, nil
}

// TokenAccount implements Lookup over getAccountInfo.
func (c *Client) TokenAccount(ctx context.Context, addr sol.PublicKey) (TokenAccount, error) {
	a, err := c.account(ctx, addr)
	if err != nil {
		return TokenAccount{}, err
	}
	return ParseTokenAccount(addr, a.Owner, a.Data.GetBinary())
}

// Mint implements Lookup over getAccountInfo.
func (c *Client) Mint(ctx context.Context, addr sol.PublicKey) (Mint, error) {
	a, err := c.account(ctx, addr)
	if err != nil {
		return Mint{}, err
	}
	return ParseMint(addr, a.Owner, a.Data.GetBinary())
}

// Blockhash is a recent blockhash and the last block height at which a
// transaction carrying it can land: past it, that transaction never will.
type Blockhash struct {
	Hash                 sol.Hash
	LastValidBlockHeight uint64
}

// LatestBlockhash returns the newest blockhash.
func (c *Client) LatestBlockhash(ctx context.Context) (Blockhash, error) {
	r, err := c.rpc.GetLatestBlockhash(ctx, rpc.CommitmentConfirmed)
	if err != nil {
		return Blockhash{}, rpcErr("getLatestBlockhash", err)
	}
	if r == nil || r.Value == nil || r.Value.Blockhash.IsZero() {
		return Blockhash{}, badAnswer("getLatestBlockhash", "no blockhash")
	}
	return Blockhash{Hash: r.Value.Blockhash, LastValidBlockHeight: r.Value.LastValidBlockHeight}, nil
}

// BlockHeight returns the current block height.
func (c *Client) BlockHeight(ctx context.Context) (uint64, error) {
	h, err := c.rpc.GetBlockHeight(ctx, rpc.CommitmentConfirmed)
	if err != nil {
		return 0, rpcErr("getBlockHeight", err)
	}
	return h, nil
}

// PrioritizationFees returns the priority fees (micro-lamports per compute
// unit) paid in recent blocks by transactions writing to accounts.
func (c *Client) PrioritizationFees(ctx context.Context, accounts []sol.PublicKey) ([]uint64, error) {
	r, err := c.rpc.GetRecentPrioritizationFees(ctx, accounts)
	if err != nil {
		return nil, rpcErr("getRecentPrioritizationFees", err)
	}
	out := make([]uint64, len(r))
	for i, f := range r {
		out[i] = f.PrioritizationFee
	}
	return out, nil
}

// Simulation is what a simulated transaction did.
type Simulation struct {
	Units uint64   // compute units consumed
	Logs  []string // the programs' logs
}

// SimulationError is a simulation that failed: the transaction would fail
// on chain. Logs say where.
type SimulationError struct {
	Err  string
	Logs []string
}

func (e *SimulationError) Error() string {
	msg := "solana: the transaction fails in simulation: " + e.Err
	if l := causeLog(e.Logs); l != "" {
		msg += " (" + oneLine(l) + ")"
	}
	if strings.Contains(e.Err, "InsufficientFundsForRent") {
		msg += "; an account must keep at least its rent-exempt minimum (890880 lamports for a plain account): send a new account at least 0.00089088 SOL"
	}
	return msg + "; nothing was signed"
}

// causeLog picks the program log that says why a transaction failed: a
// program's own words ("insufficient lamports") before the runtime's
// "custom program error: 0x1".
func causeLog(logs []string) string {
	for _, want := range []string{"insufficient", "Error", "failed"} {
		for i := len(logs) - 1; i >= 0; i-- {
			if strings.Contains(logs[i], want) {
				return logs[i]
			}
		}
	}
	return ""
}

// errText renders a transaction error as the node sent it (JSON).
func errText(v any) string {
	if b, err := json.Marshal(v); err == nil {
		return oneLine(string(b))
	}
	return oneLine(fmt.Sprint(v))
}

// Simulate runs tx on the latest state without signatures checked.
func (c *Client) Simulate(ctx context.Context, tx *sol.Transaction) (Simulation, error) {
	cp := *tx
	if n := int(tx.Message.Header.NumRequiredSignatures); len(cp.Signatures) != n {
		cp.Signatures = make([]sol.Signature, n) // the wire format needs one per signer
	}
	raw, err := cp.MarshalBinary()
	if err != nil {
		return Simulation{}, fmt.Errorf("solana: encode transaction: %w", err)
	}
	r, err := c.rpc.SimulateRawTransactionWithOpts(ctx, raw, &rpc.SimulateTransactionOpts{Commitment: rpc.CommitmentConfirmed})
	if err != nil {
		return Simulation{}, rpcErr("simulateTransaction", err)
	}
	if r == nil || r.Value == nil {
		return Simulation{}, badAnswer("simulateTransaction", "no value")
	}
	if r.Value.Err != nil {
		return Simulation{}, &SimulationError{Err: errText(r.Value.Err), Logs: slices.Clone(r.Value.Logs)}
	}
	s := Simulation{Logs: r.Value.Logs}
	if r.Value.UnitsConsumed != nil {
		s.Units = *r.Value.UnitsConsumed
	}
	return s, nil
}

// SendRaw broadcasts a signed transaction with the node's preflight
// checks, so a refusal is definite: an *RPCError.
func (c *Client) SendRaw(ctx context.Context, raw []byte) (sol.Signature, error) {
	tx, err := sol.TransactionFromBytes(raw)
	if err != nil {
		return sol.Signature{}, fmt.Errorf("solana: the signed transaction does not decode: %w", err)
	}
	sig, err := c.rpc.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{PreflightCommitment: rpc.CommitmentConfirmed})
	if err != nil {
		return sol.Signature{}, rpcErr("sendTransaction", err)
	}
	return sig, nil
}

// Status is where a signature stands on chain.
type Status struct {
	Slot uint64
	Err  string // the transaction's error when it failed on chain
}

// SignatureStatus returns sig's status, or nil when the node does not know
// it (not landed, or not yet).
func (c *Client) SignatureStatus(ctx context.Context, sig sol.Signature) (*Status, error) {
	r, err := c.rpc.GetSignatureStatuses(ctx, true, sig)
	if errors.Is(err, rpc.ErrNotFound) {
		return nil, badAnswer("getSignatureStatuses", "no value")
	}
	if err != nil {
		return nil, rpcErr("getSignatureStatuses", err)
	}
	if len(r.Value) != 1 {
		return nil, badAnswer("getSignatureStatuses", fmt.Sprintf("%d statuses for one signature", len(r.Value)))
	}
	v := r.Value[0]
	if v == nil {
		return nil, nil
	}
	st := &Status{Slot: v.Slot}
	if v.Err != nil {
		st.Err = errText(v.Err)
	}
	return st, nil
}
