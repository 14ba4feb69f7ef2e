// Package multisig holds the Safe tools: safe_propose, which builds a Safe
// transaction, passes it through the owner's policy like anything else that
// signs, and proposes it (with this wallet's signature as an owner) on the
// Safe Transaction Service; and safe_review, which explains why the
// co-signer's policy would sign a pending transaction or not.
package multisig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// Option configures the tools.
type Option func(*config)

type config struct {
	svc      *safe.Service
	list     *tokenlist.List
	batches  []common.Address
	approver tools.Approver
}

// WithService proposes to and reads from this Safe Transaction Service.
// Without one the tools say that none is configured.
func WithService(s *safe.Service) Option { return func(c *config) { c.svc = s } }

// WithTokenList names tokens in decoded calls.
func WithTokenList(l *tokenlist.List) Option { return func(c *config) { c.list = l } }

// WithBatches adds MultiSend contracts whose batches are decoded.
func WithBatches(a ...common.Address) Option {
	return func(c *config) { c.batches = append(c.batches, a...) }
}

// WithApprover asks a for proposals the policy wants a person to confirm.
func WithApprover(a tools.Approver) Option { return func(c *config) { c.approver = a } }

// Tools returns safe_propose and safe_review for w (an owner of the Safes
// it proposes to), gated by gate.
func Tools(w *evm.Wallet, gate tools.Gate, signer evm.Signer, opts ...Option) []tools.Tool {
	cfg := config{list: tokenlist.Default()}
	for _, o := range opts {
		o(&cfg)
	}
	k := &kit{cfg: cfg, w: w, gate: gate, signer: signer, x: &tools.Executor{Gate: gate, Approver: cfg.approver}}
	return []tools.Tool{
		tools.Func("safe_propose", "Propose a Safe multisig transaction (a plain call) as one of its owners: the owner's policy judges it first, then it is signed and posted to the Safe Transaction Service for the other owners.",
			tools.Schema(map[string]string{
				"safe":  "the Safe's address",
				"to":    "the address the Safe calls or pays",
				"value": "ETH the Safe sends, in ETH as a decimal string, e.g. \"0.5\"",
				"data":  "optional: calldata as 0x-prefixed hex",
			}, "safe", "to", "value"), k.propose),
		tools.Func("safe_review", "Explain whether the policy would sign a pending Safe transaction, and why: every call inside it decoded and checked.",
			tools.Schema(map[string]string{
				"safe":         "the Safe's address",
				"safe_tx_hash": "the transaction's safeTxHash (0x + 64 hex digits)",
			}, "safe", "safe_tx_hash"), k.review, tools.ReadOnly()),
	}
}

// Errors for tools built without what they need; a front end adds how to
// configure it.
var (
	ErrNoWallet  = tools.ErrNoWallet
	ErrNoService = errors.New("multisig: no Safe Transaction Service is configured")
)

type kit struct {
	cfg    config
	w      *evm.Wallet
	gate   tools.Gate
	x      *tools.Executor // decides proposals (the signature is the Safe's, not a transaction)
	signer evm.Signer
}

func (k *kit) ready() error {
	if k.w == nil || k.signer == nil {
		return ErrNoWallet
	}
	if k.cfg.svc == nil {
		return ErrNoService
	}
	return nil
}

func (k *kit) tokens() evm.TokenLookup {
	chain := k.w.Client().ChainID().Int64()
	return func(a string) (policies.Token, bool) {
		t, ok := k.cfg.list.ByAddress(chain, a)
		return policies.Token{Symbol: t.Symbol, Address: t.Address, Decimals: t.Decimals}, ok
	}
}

var hexData = regexp.MustCompile(`^0x([0-9a-fA-F]{2})*$`)

// Proposal is safe_propose's answer.
type Proposal struct {
	Safe       string          `json:"safe"`
	SafeTxHash string          `json:"safe_tx_hash"`
	Nonce      uint64          `json:"nonce"`
	Intent     json.RawMessage `json:"intent"`
}

func (k *kit) propose(ctx context.Context, a struct {
	Safe  string `json:"safe"`
	To    string `json:"to"`
	Value string `json:"value"`
	Data  string `json:"data"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "safe_propose"
	for _, f := range []struct{ n, v string }{{"safe", a.Safe}, {"to", a.To}, {"value", a.Value}} {
		if err := tools.Require(name, f.n, f.v); err != nil {
			return tools.Result{}, err
		}
	}
	safeAddr, err := tokenlist.ParseAddress(strings.TrimSpace(a.Safe))
	if err != nil {
		return tools.Result{}, tools.Argf(name, "safe: %v", err)
	}
	to, err := tokenlist.ParseAddress(strings.TrimSpace(a.To))
	if err != nil {
		return tools.Result{}, tools.Argf(name, "to: %v", err)
	}
	value, err := policies.ParseUnits(strings.TrimSpace(a.Value), 18)
	if err != nil {
		return tools.Result{}, tools.Argf(name, "value %q: %v", a.Value, err)
	}
	var data []byte
	if d := strings.TrimSpace(a.Data); d != "" && d != "0x" {
		if !hexData.MatchString(d) {
			return tools.Result{}, tools.Argf(name, "data must be 0x-prefixed hex with whole bytes")
		}
		data = hexutil.MustDecode(d)
	}
	c := k.w.Client()
	owners, _, err := safe.Owners(ctx, c, safeAddr)
	if err != nil {
		return tools.Result{}, tools.Argf(name, "safe %s: %v", safeAddr.Hex(), err)
	}
	isOwner := false
	for _, o := range owners {
		isOwner = isOwner || o == k.signer.Address()
	}
	if !isOwner {
		return tools.Result{}, tools.Argf(name, "this wallet (%s) is not an owner of Safe %s", k.signer.Address().Hex(), safeAddr.Hex())
	}
	v, err := safe.ReadVersion(ctx, c, safeAddr)
	if err != nil {
		return tools.Result{}, err
	}
	nonce, err := k.nextNonce(ctx, safeAddr)
	if err != nil {
		return tools.Result{}, err
	}
	zero := new(big.Int)
	tx := safe.Tx{Safe: safeAddr, ChainID: c.ChainID(), To: to, Value: value, Data: data, Operation: safe.Call,
		SafeTxGas: zero, BaseGas: zero, GasPrice: zero, Nonce: new(big.Int).SetUint64(nonce)}
	in, err := safe.Decoder{Version: v, Tokens: k.tokens(), Batches: k.cfg.batches}.Decode(tx)
	if err != nil {
		return tools.Result{}, tools.Argf(name, "%v", err)
	}
	// No idempotency key: a proposal that the service refused was released
	// and may be tried again; signing the same hash twice gives the same
	// signature.
	raw, _ := policies.Marshal(in)
	out := Proposal{Safe: safeAddr.Hex(), SafeTxHash: in.SafeTxHash, Nonce: nonce, Intent: raw}
	if tools.DryRun(ctx) {
		rep, err := k.gate.Evaluate(ctx, in)
		if err != nil {
			return tools.Result{}, err
		}
		outcome := tools.Outcome{Intent: raw, Decision: rep.Decision, Report: &rep}
		for _, r := range rep.Reasons {
			outcome.Reasons = append(outcome.Reasons, r.String())
		}
		return tools.Result{Text: fmt.Sprintf("Dry run: the policy would %s proposing %s (nonce %d); nothing was signed.", rep.Decision, in.SafeTxHash, nonce), Data: out, Outcome: &outcome}, nil
	}
	ap, outcome, err := k.x.Decide(ctx, in)
	if err != nil {
		return tools.Result{Data: out, Outcome: &outcome}, err
	}
	sig, err := evm.SignSafeTx(ctx, k.signer, ap, safe.Hasher(v))
	if err != nil {
		_ = ap.Release(context.WithoutCancel(ctx), "signing failed: "+err.Error())
		return tools.Result{Data: out, Outcome: &outcome}, err
	}
	if err := k.cfg.svc.Propose(ctx, tx, v, k.signer.Address(), sig, "mandate"); err != nil {
		// The signature went nowhere: the proposal did not happen, so its
		// spend is not charged.
		_ = ap.Release(context.WithoutCancel(ctx), "the Transaction Service refused the proposal: "+err.Error())
		return tools.Result{Data: out, Outcome: &outcome}, fmt.Errorf("the Transaction Service refused the proposal, so nothing was proposed: %w", err)
	}
	return tools.Result{
		Text:    fmt.Sprintf("Proposed Safe transaction %s (nonce %d) to Safe %s, signed by this wallet; the other owners confirm it on the Transaction Service.", in.SafeTxHash, nonce, safeAddr.Hex()),
		Data:    out,
		Outcome: &outcome,
	}, nil
}

// nextNonce is the Safe's on-chain nonce, or past the highest pending
// proposal's, so a new proposal does not collide with one in the queue.
func (k *kit) nextNonce(ctx context.Context, s common.Address) (uint64, error) {
	n, err := safe.Nonce(ctx, k.w.Client(), s)
	if err != nil {
		return 0, err
	}
	pending, err := k.cfg.svc.Pending(ctx, s, n)
	if err != nil {
		return 0, err
	}
	for _, p := range pending {
		var v uint64
		if err := json.Unmarshal([]byte(strings.Trim(string(p.Nonce), `"`)), &v); err == nil && v >= n {
			n = v + 1
		}
	}
	return n, nil
}

var hashRe = regexp.MustCompile(`^0x[0-9a-fA-F]{64}$`)

func (k *kit) review(ctx context.Context, a struct {
	Safe       string `json:"safe"`
	SafeTxHash string `json:"safe_tx_hash"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "safe_review"
	safeAddr, err := tokenlist.ParseAddress(strings.TrimSpace(a.Safe))
	if err != nil {
		return tools.Result{}, tools.Argf(name, "safe: %v", err)
	}
	if !hashRe.MatchString(strings.TrimSpace(a.SafeTxHash)) {
		return tools.Result{}, tools.Argf(name, "safe_tx_hash must be 0x and 64 hex digits")
	}
	c := k.w.Client()
	p, err := k.cfg.svc.Transaction(ctx, common.HexToHash(a.SafeTxHash))
	var se *safe.ServiceError
	if errors.As(err, &se) && se.Status == 404 {
		return tools.Result{}, tools.Argf(name, "the Transaction Service has no transaction %s", a.SafeTxHash)
	}
	if err != nil {
		return tools.Result{}, err
	}
	v, err := safe.ReadVersion(ctx, c, safeAddr)
	if err != nil {
		return tools.Result{}, err
	}
	// Judged as the co-signer would, without signing or recording: the
	// hash recomputed from the fields (the service's must match), the
	// nonce checked, every call decoded, then the policy.
	out := Review{Safe: safeAddr.Hex(), SafeTxHash: strings.ToLower(a.SafeTxHash)}
	tx, err := p.ServiceTx.Tx(c.ChainID(), safeAddr, v)
	if err != nil {
		out.Decision, out.Reasons = "reject", []string{err.Error()}
		return tools.Result{Text: fmt.Sprintf("The policy would not sign Safe transaction %s: %v.", a.SafeTxHash, err), Data: out}, nil
	}
	out.Nonce = tx.Nonce.Uint64()
	if cur, err := safe.Nonce(ctx, c, safeAddr); err != nil {
		return tools.Result{}, err
	} else if out.Nonce < cur {
		out.Decision, out.Reasons = "reject", []string{fmt.Sprintf("nonce %d was already used: the Safe is at nonce %d", out.Nonce, cur)}
	}
	if out.Decision == "" {
		in, err := safe.Decoder{Version: v, Tokens: k.tokens(), Batches: k.cfg.batches}.Decode(tx)
		if err != nil {
			out.Decision, out.Reasons = "reject", []string{"the transaction cannot be decoded exactly: " + err.Error()}
		} else {
			rep, err := k.gate.Evaluate(ctx, in)
			if err != nil {
				return tools.Result{}, err
			}
			out.Decision = string(rep.Decision)
			for _, r := range rep.Reasons {
				out.Reasons = append(out.Reasons, r.String())
			}
			out.Intent, _ = policies.Marshal(in)
		}
	}
	text := fmt.Sprintf("The policy would sign Safe transaction %s (nonce %d).", out.SafeTxHash, out.Nonce)
	if out.Decision != string(policies.DecisionApprove) {
		text = fmt.Sprintf("The policy would not sign Safe transaction %s (nonce %d): %s.", out.SafeTxHash, out.Nonce, strings.Join(out.Reasons, "; "))
	}
	return tools.Result{Text: text, Data: out}, nil
}

// Review is safe_review's answer.
type Review struct {
	Safe       string          `json:"safe"`
	SafeTxHash string          `json:"safe_tx_hash"`
	Nonce      uint64          `json:"nonce"`
	Decision   string          `json:"decision"` // approve, deny, ask, or reject when it cannot be judged
	Reasons    []string        `json:"reasons,omitempty"`
	Intent     json.RawMessage `json:"intent,omitempty"`
}
