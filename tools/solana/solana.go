// Package soltools holds the Solana wallet tools: sol_address, sol_balance,
// sol_transfer, sol_token_info, and with a Jupiter API (WithJupiter)
// sol_quote and sol_swap. sol_transfer builds its transaction from
// chain state, simulates it, asks the policy gate about every intent it
// decodes to (the rent of a recipient's new token account is one), and
// hands the wallet only the approvals.
//
// The runtime offers them when Solana is configured:
//
//	w, err := solana.NewWallet(ctx, client, signer, store.Journal())
//	set := soltools.New(w, engine, approver, soltools.WithMints(dep.Mints),
//		soltools.WithJupiter(jupiter.NewClient(jupiter.WithBaseURL(url))))
//
// sol_swap takes Jupiter's quote and transaction, checks the transaction
// against the quote (jupiter.Verify), asks the gate about the swap, and has
// the wallet sign it only after decoding it again with the Jupiter decoder.
//
// Tokens are "SOL", a symbol the policy's tokens map gives a mint for on
// the wallet's cluster (or WithMints adds), or a base58 mint.
package soltools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strings"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/solana"
	"github.com/mandatehq/mandate/chains/solana/jupiter"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// Option configures the tools.
type Option func(*config)

type config struct {
	mints    map[string]sol.PublicKey
	noWait   bool
	progress io.Writer
	jup      *jupiter.Client
	jupOpts  []jupiter.Option
	signOnly bool
}

// WithMints names mints by symbol (a devnet's USDC) besides those the
// policy defines; the policy's entry wins for a symbol in both.
func WithMints(m map[string]sol.PublicKey) Option {
	return func(c *config) {
		for k, v := range m {
			c.mints[strings.ToUpper(k)] = v
		}
	}
}

// WithoutWaiting returns once a transaction is broadcast, not landed.
func WithoutWaiting() Option { return func(c *config) { c.noWait = true } }

// WithProgress reports long waits (a transaction landing) to w.
func WithProgress(w io.Writer) Option { return func(c *config) { c.progress = w } }

// New returns the Solana tools of w, gated by gate (a *policies.Engine;
// its policy's Solana tokens become symbols the tools know). approver is
// asked when the policy wants a person to confirm (nil: such intents are
// refused, unless the call's context carries one, tools.WithApprover).
// With a nil wallet the tools can be listed but not called.
func New(w *solana.Wallet, gate tools.Gate, approver tools.Approver, opts ...Option) []tools.Tool {
	cfg := config{mints: map[string]sol.PublicKey{}}
	for _, o := range opts {
		o(&cfg)
	}
	if gate == nil {
		gate = tools.DenyAll{}
	}
	k := &kit{w: w, gate: gate, approver: approver, cfg: cfg, symbols: map[string]policies.Token{}}
	if w != nil {
		k.learnSymbols()
	}
	return []tools.Tool{
		tools.Func("sol_address", "The address of this agent's Solana wallet and the cluster it is on.",
			tools.Schema(nil), k.address, tools.ReadOnly()),
		tools.Func("sol_balance", "Balance of the Solana wallet in one token (SOL, a symbol such as USDC, or a base58 mint), or in SOL and every token it holds when no token is given.",
			tools.Schema(map[string]string{"token": "SOL, a token symbol (e.g. USDC) or a base58 mint; omit for all"}), k.balance, tools.ReadOnly()),
		tools.Func("sol_transfer", "Send an amount of SOL or an SPL token to a Solana address, creating the recipient's token account when it has none (its rent is charged as SOL). Passes the owner's policy before anything is signed.",
			tools.Schema(map[string]string{
				"to":              "recipient's Solana address (base58)",
				"token":           "SOL, a token symbol (e.g. USDC) or a base58 mint",
				"amount":          "amount in token units as a decimal string, e.g. \"1.5\"",
				"idempotency_key": "optional: a retry with the same key sends at most once",
			}, "to", "token", "amount"), k.transfer),
		tools.Func("sol_token_info", "A Solana token's mint, program (Token or Token-2022), decimals, supply, authorities and extensions, read on chain, and whether the wallet can transfer it.",
			tools.Schema(map[string]string{"token": "a token symbol (e.g. USDC) or a base58 mint"}, "token"), k.info, tools.ReadOnly()),
		tools.Func("sol_quote", "A Jupiter quote for swapping an amount of one Solana token into another: the expected and the minimum output. Signs nothing.",
			tools.Schema(map[string]string{
				"from":         "token to sell: SOL, a token symbol (e.g. USDC) or a base58 mint",
				"to":           "token to buy: SOL, a token symbol or a base58 mint",
				"amount":       "amount of from in token units as a decimal string, e.g. \"1.5\"",
				"slippage_bps": "optional: slippage tolerance in basis points (default and bound from the policy)",
			}, "from", "to", "amount"), k.quoteTool, tools.ReadOnly()),
		tools.Func("sol_swap", "Swap an amount of one Solana token into another through Jupiter. The transaction Jupiter builds is checked against its quote and passes the owner's policy before anything is signed.",
			tools.Schema(map[string]string{
				"from":            "token to sell: SOL, a token symbol (e.g. USDC) or a base58 mint",
				"to":              "token to buy: SOL, a token symbol or a base58 mint",
				"amount":          "amount of from in token units as a decimal string, e.g. \"1.5\"",
				"slippage_bps":    "optional: slippage tolerance in basis points (default and bound from the policy)",
				"idempotency_key": "optional: a retry with the same key swaps at most once",
			}, "from", "to", "amount"), k.swap),
	}
}

type kit struct {
	w        *solana.Wallet
	gate     tools.Gate
	approver tools.Approver
	cfg      config
	symbols  map[string]policies.Token // upper-case symbol -> token with decimals (policy's)
}

type noArgs struct{}

// learnSymbols takes the policy's tokens on the wallet's cluster.
func (k *kit) learnSymbols() {
	pg, ok := k.gate.(interface{ Policy() *policies.Policy })
	if !ok || pg.Policy() == nil {
		return
	}
	for _, t := range pg.Policy().Tokens() {
		if t.Chain == k.w.Cluster() {
			k.symbols[strings.ToUpper(t.Symbol)] = t.Token
		}
	}
}

func (k *kit) ready() error {
	if k.w == nil {
		return tools.ErrNoWallet
	}
	return nil
}

func (k *kit) address(ctx context.Context, _ noArgs) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	addr := k.w.Address().String()
	return tools.Result{
		Text: fmt.Sprintf("Solana wallet %s on %s.", addr, k.w.Cluster()),
		Data: map[string]any{"address": addr, "chain": k.w.Cluster()},
	}, nil
}

// token is a resolved token argument.
type token struct {
	policies.Token // Address empty for SOL
	mint           solana.Mint
}

func (t token) name() string {
	if t.Symbol != "" {
		return t.Symbol
	}
	return t.Address
}

// resolve reads a token argument: SOL, a known symbol, or a base58 mint,
// whose decimals are read on chain (a symbol's must agree with them).
func (k *kit) resolve(ctx context.Context, tool, s string) (token, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "SOL") {
		return token{Token: solana.SOL}, nil
	}
	var addr sol.PublicKey
	symbol := ""
	if t, ok := k.symbols[strings.ToUpper(s)]; ok {
		addr, symbol = sol.MustPublicKeyFromBase58(t.Address), t.Symbol
	} else if m, ok := k.cfg.mints[strings.ToUpper(s)]; ok {
		addr, symbol = m, strings.ToUpper(s)
	} else if a, err := sol.PublicKeyFromBase58(s); err == nil {
		addr = a
		symbol = k.symbolOf(a)
	} else {
		return token{}, tools.Argf(tool, "token %q is not SOL, a symbol the policy defines (%s), nor a base58 mint address", s, k.knownSymbols())
	}
	m, err := k.w.Lookup().Mint(ctx, addr)
	if errors.Is(err, solana.ErrAccountNotFound) || errors.Is(err, solana.ErrNotMint) {
		return token{}, tools.Argf(tool, "token %q: %v; give a token mint", s, err)
	}
	if err != nil {
		return token{}, err
	}
	if t, ok := k.symbols[strings.ToUpper(symbol)]; ok && t.Decimals != m.Decimals {
		return token{}, fmt.Errorf("the policy gives %s %d decimals, its mint %s has %d on chain; fix the policy's tokens entry", symbol, t.Decimals, addr, m.Decimals)
	}
	return token{Token: policies.Token{Symbol: symbol, Address: addr.String(), Decimals: m.Decimals}, mint: m}, nil
}

func (k *kit) symbolOf(mint sol.PublicKey) string {
	for _, t := range k.symbols {
		if t.Address == mint.String() {
			return t.Symbol
		}
	}
	for s, m := range k.cfg.mints {
		if m.Equals(mint) {
			return s
		}
	}
	return ""
}

func (k *kit) knownSymbols() string {
	set := map[string]bool{"SOL": true}
	for s := range k.symbols {
		set[s] = true
	}
	for s := range k.cfg.mints {
		set[s] = true
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// Balance is one line of sol_balance.
type Balance struct {
	Token    string `json:"token"`
	Mint     string `json:"mint,omitempty"`
	Amount   string `json:"amount"` // token units, exact
	Base     string `json:"base"`   // base units
	Decimals uint8  `json:"decimals"`
}

func balanceOf(name, mint string, v *big.Int, decimals uint8) Balance {
	return Balance{Token: name, Mint: mint, Amount: policies.DecimalUnits(v, decimals), Base: v.String(), Decimals: decimals}
}

func (k *kit) balance(ctx context.Context, a struct {
	Token string `json:"token"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	c := k.w.Client()
	var out []Balance
	if strings.TrimSpace(a.Token) != "" {
		t, err := k.resolve(ctx, "sol_balance", a.Token)
		if err != nil {
			return tools.Result{}, err
		}
		var v *big.Int
		if t.Native() {
			v, err = c.Balance(ctx, k.w.Address())
		} else {
			v, err = c.TokenBalance(ctx, k.w.Address(), t.mint)
		}
		if err != nil {
			return tools.Result{}, err
		}
		out = append(out, balanceOf(t.name(), t.Address, v, t.Decimals))
	} else {
		v, err := c.Balance(ctx, k.w.Address())
		if err != nil {
			return tools.Result{}, err
		}
		out = append(out, balanceOf("SOL", "", v, solana.SOL.Decimals))
		held, err := c.TokenAccounts(ctx, k.w.Address())
		if err != nil {
			return tools.Result{}, err
		}
		for _, h := range held {
			if h.Amount.Sign() == 0 {
				continue
			}
			m, err := k.w.Lookup().Mint(ctx, h.Account.Mint)
			if err != nil {
				return tools.Result{}, err
			}
			name := k.symbolOf(h.Account.Mint)
			if name == "" {
				name = h.Account.Mint.String()
			}
			out = append(out, balanceOf(name, h.Account.Mint.String(), h.Amount, m.Decimals))
		}
	}
	lines := make([]string, len(out))
	for i, b := range out {
		lines[i] = b.Amount + " " + b.Token
	}
	return tools.Result{
		Text: fmt.Sprintf("Balance of %s: %s.", k.w.Address(), strings.Join(lines, ", ")),
		Data: map[string]any{"address": k.w.Address().String(), "chain": k.w.Cluster(), "balances": out},
	}, nil
}

// TxOf is a journaled Solana transaction as tools report it: Hash is the
// signature, Nonce the blockhash's last valid block height, Block the slot.
func TxOf(r evm.TxRecord) tools.Tx {
	return tools.Tx{Hash: r.Hash, Nonce: r.Nonce, Status: string(r.Status), Block: r.Block, Error: r.Error,
		Final: r.Status.Final(), Action: r.Action}
}
