package soltools

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/solana"
	"github.com/mandatehq/mandate/chains/solana/jupiter"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// WithJupiter gives sol_quote and sol_swap a Jupiter Swap API client.
// opts go to jupiter.Verify and the signer's jupiter.Decoder after the
// tools' own (the wallet's cluster, its RPC's lookup tables), so a caller
// can give recorded tables or an agreed platform fee.
func WithJupiter(c *jupiter.Client, opts ...jupiter.Option) Option {
	return func(cfg *config) { cfg.jup, cfg.jupOpts = c, opts }
}

// WithSwapSignOnly makes sol_swap stop once the verified, approved swap is
// signed and journaled: it is neither simulated nor broadcast. For a
// cluster without the Jupiter program (the local runtime) and for tests;
// the journaled row is still sent by the wallet's Confirm or Reconcile
// while its blockhash is valid.
func WithSwapSignOnly() Option { return func(c *config) { c.signOnly = true } }

// Swap defaults: Jupiter's usual slippage, lowered to the policy's bound;
// the priority fee Jupiter may add, kept under the wallet's default cap of
// 0.1 lamport per compute unit for any route of 100,000 units or more.
const (
	defaultSlippageBps  = 50
	maxPriorityLamports = 10_000
)

// ErrNoJupiter is the error of sol_quote and sol_swap without a Jupiter API.
var ErrNoJupiter = errors.New("no Jupiter API configured")

func (k *kit) jupiterReady(tool string) error {
	if err := k.ready(); err != nil {
		return err
	}
	if k.cfg.jup != nil {
		return nil
	}
	if k.w.Cluster() == "solana-local" {
		return fmt.Errorf("%s: %w: the local Solana runtime has no Jupiter program, so swaps cannot run on it; transfers can (sol_transfer)", tool, ErrNoJupiter)
	}
	return fmt.Errorf("%s: %w; set MANDATE_JUPITER_URL to a Jupiter Swap API", tool, ErrNoJupiter)
}

// slippage is the default slippage, Jupiter's usual lowered to the
// policy's swaps.max_slippage_bps, and that bound (ok false without one).
// A larger slippage asked for is not lowered quietly: the policy denies it.
func (k *kit) slippage() (def, bound uint32, ok bool) {
	def = defaultSlippageBps
	if pg, isPolicy := k.gate.(interface{ Policy() *policies.Policy }); isPolicy && pg.Policy() != nil {
		if bound, _, ok = pg.Policy().SwapBounds(); ok {
			def = min(def, bound)
		}
	}
	return def, bound, ok
}

// Bps is a slippage in basis points: 30 or "30", 0 to 10000.
type Bps uint32

func (b *Bps) UnmarshalJSON(raw []byte) error {
	s := strings.TrimSpace(strings.Trim(strings.TrimSpace(string(raw)), `"`))
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || v > 10_000 {
		return fmt.Errorf("slippage_bps %s is not a whole number of basis points from 0 to 10000 (50 = 0.5%%)", raw)
	}
	*b = Bps(v)
	return nil
}

// swapArgs are sol_quote's and sol_swap's arguments.
type swapArgs struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Amount      string `json:"amount"`
	SlippageBps *Bps   `json:"slippage_bps"`
	Key         string `json:"idempotency_key"`
}

// swapReq is a swap asked for, its tokens resolved.
type swapReq struct {
	in, out  token
	amount   *big.Int
	slippage uint16
}

func mintOf(t token) sol.PublicKey {
	if t.Native() {
		return sol.WrappedSol
	}
	return t.mint.Address
}

func (k *kit) swapRequest(ctx context.Context, tool string, a swapArgs) (swapReq, error) {
	if err := tools.Require(tool, "from", a.From, "to", a.To, "amount", a.Amount); err != nil {
		return swapReq{}, err
	}
	var r swapReq
	var err error
	if r.in, err = k.resolve(ctx, tool, a.From); err != nil {
		return swapReq{}, err
	}
	if r.out, err = k.resolve(ctx, tool, a.To); err != nil {
		return swapReq{}, err
	}
	if mintOf(r.in).Equals(mintOf(r.out)) {
		return swapReq{}, tools.Argf(tool, "from and to are the same token (%s)", r.in.name())
	}
	if r.amount, err = amountArg(tool, a.Amount, r.in); err != nil {
		return swapReq{}, err
	}
	def, _, _ := k.slippage()
	r.slippage = uint16(def)
	if a.SlippageBps != nil {
		r.slippage = uint16(*a.SlippageBps)
	}
	return r, nil
}

func (k *kit) quote(ctx context.Context, r swapReq) (*jupiter.Quote, error) {
	return k.cfg.jup.Quote(ctx, jupiter.QuoteRequest{InputMint: mintOf(r.in), OutputMint: mintOf(r.out), Amount: r.amount,
		SlippageBps: r.slippage, RestrictIntermediateTokens: true})
}

// Quote is sol_quote's answer, amounts in token units and base units.
type Quote struct {
	From           string   `json:"from"`
	To             string   `json:"to"`
	AmountIn       string   `json:"amount_in"`
	ExpectedOut    string   `json:"expected_out"`
	MinimumOut     string   `json:"minimum_out"`
	AmountInBase   string   `json:"amount_in_base"`
	ExpectedBase   string   `json:"expected_out_base"`
	MinimumBase    string   `json:"minimum_out_base"`
	SlippageBps    uint16   `json:"slippage_bps"`
	PriceImpactPct string   `json:"price_impact_pct,omitempty"`
	Route          []string `json:"route,omitempty"`
}

func quoteOf(r swapReq, q *jupiter.Quote) Quote {
	out := Quote{From: r.in.name(), To: r.out.name(),
		AmountIn: policies.DecimalUnits(q.InAmount, r.in.Decimals), ExpectedOut: policies.DecimalUnits(q.OutAmount, r.out.Decimals),
		MinimumOut: policies.DecimalUnits(q.OtherAmountThreshold, r.out.Decimals), AmountInBase: q.InAmount.String(),
		ExpectedBase: q.OutAmount.String(), MinimumBase: q.OtherAmountThreshold.String(), SlippageBps: q.SlippageBps, PriceImpactPct: q.PriceImpactPct}
	for _, s := range q.RoutePlan {
		out.Route = append(out.Route, s.Label)
	}
	return out
}

func (q Quote) text() string {
	return fmt.Sprintf("%s %s for about %s %s, at least %s %s (slippage %d bps)", q.AmountIn, q.From, q.ExpectedOut, q.To, q.MinimumOut, q.To, q.SlippageBps)
}

func (k *kit) quoteTool(ctx context.Context, a swapArgs) (tools.Result, error) {
	const name = "sol_quote"
	if err := k.jupiterReady(name); err != nil {
		return tools.Result{}, err
	}
	r, err := k.swapRequest(ctx, name, a)
	if err != nil {
		return tools.Result{}, err
	}
	q, err := k.quote(ctx, r)
	if err != nil {
		return tools.Result{}, err
	}
	qo := quoteOf(r, q)
	text := "Jupiter quotes " + qo.text()
	if len(qo.Route) > 0 {
		text += " via " + strings.Join(qo.Route, ", ")
	}
	text += ". Nothing was signed."
	if _, bound, ok := k.slippage(); ok && uint32(r.slippage) > bound {
		text += fmt.Sprintf(" The policy allows at most %d bps of slippage (swaps.max_slippage_bps): sol_swap would be denied.", bound)
	}
	return tools.Result{Text: text, Data: qo}, nil
}

// swapIntent is the swap asked for as the Jupiter decoder writes it,
// without what a quote decides (policies.ActionDigest leaves those out):
// a retry under a key must repeat it, and the verified transaction must do it.
func (k *kit) swapIntent(r swapReq, key string) policies.Swap {
	tok := func(t token) policies.Token {
		if t.Native() {
			return solana.SOL
		}
		return policies.Token{Address: t.Address, Decimals: t.Decimals}
	}
	return policies.Swap{Header: policies.Header{Chain: k.w.Cluster(), From: k.w.Address().String(), Key: key}, Venue: jupiter.Venue,
		TokenIn: tok(r.in), AmountIn: new(big.Int).Set(r.amount), TokenOut: tok(r.out), Recipient: k.w.Address().String(), SlippageBps: uint32(r.slippage)}
}

func (k *kit) swap(ctx context.Context, a swapArgs) (tools.Result, error) {
	const name = "sol_swap"
	if err := k.jupiterReady(name); err != nil {
		return tools.Result{}, err
	}
	if err := tools.CheckKey(name, a.Key); err != nil {
		return tools.Result{}, err
	}
	r, err := k.swapRequest(ctx, name, a)
	if err != nil {
		return tools.Result{}, err
	}
	var qo *Quote
	out, err := k.runSwap(ctx, r, a.Key, &qo)
	what := fmt.Sprintf("%s %s to %s", policies.FormatUnits(r.amount, r.in.Decimals), r.in.name(), r.out.name())
	if qo != nil {
		what = qo.text()
	}
	res, err := report(out, "a swap of "+what, err)
	if err == nil && k.cfg.signOnly && out.Tx != nil && !out.Duplicate {
		res.Text = fmt.Sprintf("Signed and journaled a swap of %s in transaction %s; not broadcast (sign-only).", what, out.Tx.Hash)
	}
	return res, err
}

// runSwap carries one swap through the key check, Jupiter's quote and
// transaction, Verify, the gate and the wallet, which signs only what the
// Jupiter decoder reads from the transaction's own bytes.
func (k *kit) runSwap(ctx context.Context, r swapReq, key string, qo **Quote) (tools.Outcome, error) {
	ask := k.swapIntent(r, key)
	raw, err := policies.Marshal(ask)
	if err != nil {
		return tools.Outcome{}, err
	}
	out := tools.Outcome{Intent: raw}
	action, err := policies.ActionDigest(ask)
	if err != nil {
		return out, err
	}
	if key != "" && !tools.DryRun(ctx) {
		rec, ok, err := k.w.ByKey(ctx, key)
		if ok || err != nil {
			if ok && rec.Action != "" && rec.Action != action {
				return out, differentAction(key, rec.Hash)
			}
			return k.duplicateWait(ctx, out, rec, err, !k.cfg.noWait && !k.cfg.signOnly)
		}
	}
	q, err := k.quote(ctx, r)
	if err != nil {
		return out, err
	}
	got := quoteOf(r, q)
	*qo = &got
	resp, err := k.cfg.jup.Swap(ctx, q, jupiter.SwapRequest{UserPublicKey: k.w.Address(), WrapAndUnwrapSol: true, DynamicComputeUnitLimit: true,
		Priority: &jupiter.PriorityFee{Level: "medium", MaxLamports: maxPriorityLamports}})
	if err != nil {
		return out, err
	}
	opts := append([]jupiter.Option{jupiter.WithChain(k.w.Cluster()), jupiter.WithTables(jupiter.RPCTables{Client: k.w.Client().RPC()})}, k.cfg.jupOpts...)
	in, err := jupiter.Verify(ctx, q, resp.Transaction, k.w.Address(), k.w.Lookup(), opts...)
	if err != nil {
		return out, err // nothing was signed
	}
	if raw, err = policies.Marshal(in); err == nil {
		out.Intent = raw
	}
	dec, err := jupiter.NewDecoder(in, k.cfg.jupOpts...)
	if err != nil {
		return out, err
	}
	var popts []solana.PrepareOption
	if k.cfg.signOnly {
		popts = append(popts, solana.WithoutSimulation())
	}
	p, err := k.w.PrepareDecoded(ctx, resp.Transaction, dec.Decode, key, resp.LastValidBlockHeight, popts...)
	if _, sim := errors.AsType[*solana.SimulationError](err); sim && k.w.Cluster() == "solana-local" {
		return out, fmt.Errorf("%w (the local Solana runtime has no Jupiter program, so a Jupiter swap cannot run on it)", err)
	}
	if err != nil {
		return out, err
	}
	if len(p.Intents) != 1 || p.Action != action {
		return out, fmt.Errorf("%w: the swap transaction does not do what was asked (%s of %s into %s at %d bps)",
			jupiter.ErrRefused, policies.FormatUnits(r.amount, r.in.Decimals), r.in.name(), r.out.name(), r.slippage)
	}
	out.Gas = p.Units
	if tools.DryRun(ctx) {
		return k.evaluate(ctx, out, p)
	}
	x := tools.Executor{Gate: k.gate, Approver: k.approver}
	ap, o, err := x.Decide(policies.DeferCommit(ctx), p.Main)
	out.Reasons = append(out.Reasons, o.Reasons...)
	if err != nil {
		out.Decision = policies.DecisionDeny
		return out, err
	}
	out.Decision = policies.DecisionApprove
	aps := []policies.Approval{ap}
	if k.cfg.signOnly {
		rec, fresh, err := k.w.Sign(ctx, p, aps)
		return k.sent(ctx, out, rec, err, !fresh && err == nil, false)
	}
	rec, err := k.send(ctx, p, aps)
	return k.sent(ctx, out, rec, err, false, !k.cfg.noWait)
}

// sent reports what the wallet did with an approved transaction, waiting
// for it to land when wait.
func (k *kit) sent(ctx context.Context, out tools.Outcome, rec evm.TxRecord, err error, duplicate, wait bool) (tools.Outcome, error) {
	if rec.Hash != "" {
		tx := TxOf(rec)
		out.Tx = &tx
	}
	out.Duplicate = duplicate
	if d, denied := errors.AsType[*policies.Denied](err); denied {
		out.Decision, out.Reasons = policies.DecisionDeny, reasonTexts(d.Reasons)
	}
	if errors.Is(err, solana.ErrKeyReused) {
		return out, tools.Argf("idempotency_key", "%v", err)
	}
	if err != nil || !wait || duplicate {
		return out, err
	}
	return k.confirm(ctx, out, rec.Hash)
}
