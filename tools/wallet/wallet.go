// Package wallet holds the wallet tools: address, balances, transfers,
// approvals, token facts and transaction status. The value-moving ones build
// their intent from chain state (decimals read on chain, balance checked),
// pass it through the policy gate, and hand the wallet only the Approval.
package wallet

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// Option configures the wallet tools.
type Option func(*config)

type config struct {
	list     *tokenlist.List
	approver tools.Approver
	noWait   bool
	progress io.Writer
}

// WithProgress reports long waits (a receipt) to w, e.g. a terminal.
func WithProgress(w io.Writer) Option { return func(c *config) { c.progress = w } }

// WithTokenList resolves symbols through l (default: the built-in list).
func WithTokenList(l *tokenlist.List) Option { return func(c *config) { c.list = l } }

// WithApprover asks a for intents the policy wants a person to confirm.
func WithApprover(a tools.Approver) Option { return func(c *config) { c.approver = a } }

// WithoutWaiting returns once a transaction is broadcast, not mined.
func WithoutWaiting() Option { return func(c *config) { c.noWait = true } }

// Tools returns the wallet tools for w, gated by gate. With a nil wallet the
// tools can be listed (names, descriptions, schemas) but not called.
func Tools(w *evm.Wallet, gate tools.Gate, opts ...Option) []tools.Tool {
	cfg := config{list: tokenlist.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	k := &kit{w: w, x: &tools.Executor{Gate: gate, Approver: cfg.approver, NoWait: cfg.noWait, Progress: cfg.progress}}
	if w != nil {
		k.x.W = Sender(w)
		k.res = NewResolver(w.Client(), cfg.list)
	}
	return []tools.Tool{
		tools.Func("wallet_address", "The address of this agent's wallet and the chain it is on.",
			tools.Schema(nil), k.address, tools.ReadOnly()),
		tools.Func("wallet_balance", "Balance of the wallet in one token (symbol or address), or in ETH and every listed token when no token is given.",
			tools.Schema(map[string]string{"token": "token symbol (e.g. USDC, ETH) or address; omit for all"}), k.balance, tools.ReadOnly()),
		tools.Func("wallet_transfer", "Send an amount of a token (or ETH) to an address. Passes the owner's policy before anything is signed.",
			tools.Schema(map[string]string{
				"to":              "recipient address (0x…, checksummed or lower case)",
				"token":           "token symbol (e.g. USDC, ETH) or address",
				"amount":          "amount in token units as a decimal string, e.g. \"1.5\"",
				"idempotency_key": "optional: a retry with the same key sends at most once",
			}, "to", "token", "amount"), k.transfer),
		tools.Func("token_approve", "Allow a spender to move an amount of a token from the wallet. Passes the owner's policy before anything is signed.",
			tools.Schema(map[string]string{
				"token":   "token symbol or address",
				"spender": "spender address (0x…)",
				"amount":  "allowance in token units as a decimal string, or \"unlimited\"",
			}, "token", "spender", "amount"), k.approve),
		tools.Func("token_info", "Name, symbol, decimals and total supply of a token, read on chain, and whether the token list knows it.",
			tools.Schema(map[string]string{"token": "token symbol or address"}, "token"), k.info, tools.ReadOnly()),
		tools.Func("tx_status", "Status of a transaction by hash: pending, mined or reverted, with its block.",
			tools.Schema(map[string]string{"hash": "transaction hash (0x + 64 hex digits)"}, "hash"), k.status, tools.ReadOnly()),
	}
}

type kit struct {
	w   *evm.Wallet
	res *Resolver
	x   *tools.Executor
}

type noArgs struct{}

// ready refuses calls on tools built without a wallet (for listing only).
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
	addr := k.w.Address().Hex()
	return tools.Result{
		Text: fmt.Sprintf("Wallet %s on chain %s.", addr, k.w.Chain()),
		Data: map[string]any{"address": addr, "chain": k.w.Chain()},
	}, nil
}

// Balance is one line of wallet_balance.
type Balance struct {
	Token    string `json:"token"`
	Address  string `json:"address,omitempty"`
	Amount   string `json:"amount"`   // token units, exact
	Base     string `json:"base"`     // base units
	Decimals uint8  `json:"decimals"` //
	value    *big.Int
}

func (k *kit) balanceOf(ctx context.Context, t policies.Token) (Balance, error) {
	var v *big.Int
	var err error
	if t.Native() {
		v, err = k.w.Client().Balance(ctx, k.w.Address())
	} else {
		v, err = k.w.Client().TokenBalance(ctx, common.HexToAddress(t.Address), k.w.Address())
	}
	if err != nil {
		return Balance{}, err
	}
	return Balance{Token: t.Symbol, Address: t.Address, Amount: policies.DecimalUnits(v, t.Decimals), Base: v.String(), Decimals: t.Decimals, value: v}, nil
}

func (k *kit) balance(ctx context.Context, a struct {
	Token string `json:"token"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	var toks []policies.Token
	if strings.TrimSpace(a.Token) != "" {
		t, err := k.res.Resolve(ctx, a.Token)
		if err != nil {
			return tools.Result{}, tools.Argf("wallet_balance", "%v", err)
		}
		toks = append(toks, t)
	} else {
		toks = append(toks, Native)
		for _, lt := range k.res.list.Tokens {
			if lt.ChainID == k.res.chain {
				toks = append(toks, policies.Token{Symbol: lt.Symbol, Address: lt.Address, Decimals: lt.Decimals})
			}
		}
	}
	var lines []string
	var out []Balance
	for _, t := range toks {
		b, err := k.balanceOf(ctx, t)
		if err != nil {
			return tools.Result{}, err
		}
		if a.Token == "" && !t.Native() && b.Base == "0" {
			continue
		}
		out = append(out, b)
		lines = append(lines, policies.FormatUnits(b.value, b.Decimals)+" "+b.Token)
	}
	return tools.Result{
		Text: fmt.Sprintf("Balance of %s: %s.", k.w.Address().Hex(), strings.Join(lines, ", ")),
		Data: map[string]any{"address": k.w.Address().Hex(), "balances": out},
	}, nil
}

// maxUint256 is the conventional unlimited allowance.
var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// amountArg parses a token amount typed by a person or a model.
func amountArg(tool, s string, t policies.Token) (*big.Int, error) {
	v, err := policies.ParseUnits(strings.TrimSpace(s), t.Decimals)
	if err != nil {
		return nil, tools.Argf(tool, "amount %q: %v", s, err)
	}
	if v.Sign() == 0 {
		return nil, tools.Argf(tool, "amount must be greater than zero")
	}
	return v, nil
}

func addressArg(tool, name, s string) (common.Address, error) {
	a, err := tokenlist.ParseAddress(strings.TrimSpace(s))
	if err != nil {
		return common.Address{}, tools.Argf(tool, "%s: %v", name, err)
	}
	return a, nil
}

func (k *kit) transfer(ctx context.Context, a struct {
	To     string `json:"to"`
	Token  string `json:"token"`
	Amount string `json:"amount"`
	Key    string `json:"idempotency_key"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "wallet_transfer"
	if err := tools.Require(name, "to", a.To, "token", a.Token, "amount", a.Amount); err != nil {
		return tools.Result{}, err
	}
	if err := tools.CheckKey(name, a.Key); err != nil {
		return tools.Result{}, err
	}
	to, err := addressArg(name, "to", a.To)
	if err != nil {
		return tools.Result{}, err
	}
	tok, err := k.res.Resolve(ctx, a.Token)
	if err != nil {
		return tools.Result{}, tools.Argf(name, "%v", err)
	}
	amt, err := amountArg(name, a.Amount, tok)
	if err != nil {
		return tools.Result{}, err
	}
	in, err := k.w.TransferIntent(ctx, to, tok, amt)
	if err != nil {
		return tools.Result{}, err
	}
	in.Key = a.Key
	out, err := k.x.Execute(ctx, in, *in.Tx)
	what := fmt.Sprintf("%s %s to %s", policies.FormatUnits(amt, tok.Decimals), tok.Symbol, to.Hex())
	return report(out, what, err)
}

func (k *kit) approve(ctx context.Context, a struct {
	Token   string `json:"token"`
	Spender string `json:"spender"`
	Amount  string `json:"amount"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "token_approve"
	if err := tools.Require(name, "token", a.Token, "spender", a.Spender, "amount", a.Amount); err != nil {
		return tools.Result{}, err
	}
	spender, err := addressArg(name, "spender", a.Spender)
	if err != nil {
		return tools.Result{}, err
	}
	tok, err := k.res.Resolve(ctx, a.Token)
	if err != nil {
		return tools.Result{}, tools.Argf(name, "%v", err)
	}
	if tok.Native() {
		return tools.Result{}, tools.Argf(name, "ETH has no allowances; approve an ERC-20 token")
	}
	var amt *big.Int
	if strings.EqualFold(strings.TrimSpace(a.Amount), "unlimited") {
		amt = maxUint256 // asked for by name, so the policy sees exactly what it is
	} else if amt, err = policies.ParseUnits(strings.TrimSpace(a.Amount), tok.Decimals); err != nil {
		return tools.Result{}, tools.Argf(name, "amount %q: %v", a.Amount, err)
	}
	in, err := k.w.ApproveIntent(ctx, tok, spender, amt)
	if err != nil {
		return tools.Result{}, err
	}
	out, err := k.x.Execute(ctx, in, *in.Tx)
	shown := policies.FormatUnits(amt, tok.Decimals)
	if amt == maxUint256 {
		shown = "unlimited"
	}
	what := fmt.Sprintf("approval of %s %s for %s", shown, tok.Symbol, spender.Hex())
	return report(out, what, err)
}

// report renders an execution for a person and the model.
func report(out tools.Outcome, what string, err error) (tools.Result, error) {
	if err != nil {
		return tools.Result{Data: out, Outcome: &out}, err
	}
	var text string
	switch {
	case out.Report != nil:
		text = fmt.Sprintf("Dry run of %s: the policy would %s it (gas %d).", what, out.Report.Decision, out.Gas)
		for _, r := range out.Report.Reasons {
			text += " " + r.String() + "."
		}
	case out.Duplicate:
		text = fmt.Sprintf("Already sent %s under this idempotency key, in transaction %s (status %s); nothing was sent again.", what, out.Tx.Hash, out.Tx.Status)
	case out.Tx != nil && out.Tx.Status == tools.TxMined:
		text = fmt.Sprintf("Sent %s in transaction %s (block %d).", what, out.Tx.Hash, out.Tx.Block)
	case out.Tx != nil:
		text = fmt.Sprintf("Broadcast %s in transaction %s; status %s.", what, out.Tx.Hash, out.Tx.Status)
	}
	return tools.Result{Text: text, Data: out, Outcome: &out}, nil
}
