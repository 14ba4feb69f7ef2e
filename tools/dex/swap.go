package dex

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// Swap is dex_swap's answer: the quote it acted on, the gate's outcome, and
// once mined what arrived.
type Swap struct {
	Quote
	Outcome  tools.Outcome `json:"outcome"`
	Deadline int64         `json:"deadline"`
	// Received is what reached the wallet (token units, exact), read from
	// the receipt's logs; empty until mined.
	Received     string `json:"received,omitempty"`
	ReceivedBase string `json:"received_base,omitempty"`
	// Shortfall is Quoted − Received in base units when positive: a price
	// that moved between quote and block, or a token that takes a fee on
	// transfer. It is reported, never hidden.
	Shortfall string `json:"shortfall_base,omitempty"`
}

// bookRun marks a dex_swap call made by the order book for one of its runs.
type bookRun struct{}

type swapArgs struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Amount      string `json:"amount"`
	SlippageBps *Bps   `json:"slippage_bps"`
	Key         string `json:"idempotency_key"`
}

// Bps is a whole number of basis points, written as a JSON number (30) or
// string ("30"): the schema says string, and models send both.
type Bps uint32

// UnmarshalJSON accepts 30 or "30", nothing fractional, negative or above
// 10000.
func (b *Bps) UnmarshalJSON(raw []byte) error {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	if err != nil || v > 10_000 {
		return fmt.Errorf("slippage_bps %s is not a whole number of basis points from 0 to 10000 (50 = 0.5%%)", raw)
	}
	*b = Bps(v)
	return nil
}

// deadline is now plus the default, or the policy's bound if shorter.
func (k *kit) deadline(now time.Time) int64 {
	d := DefaultDeadline
	if k.cfg.bounds != nil {
		if _, max, ok := k.cfg.bounds.SwapBounds(); ok && max < d {
			d = max
		}
	}
	return now.Add(d).Unix()
}

func (k *kit) swapTool(ctx context.Context, a swapArgs) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "dex_swap"
	// Keys with the reserved prefix are the order book's own runs; from
	// anyone else (a model's arguments) they are refused.
	if own, _ := ctx.Value(bookRun{}).(bool); !own || !strings.HasPrefix(a.Key, tools.ReservedKeyPrefix) {
		if err := tools.CheckKey(name, a.Key); err != nil {
			return tools.Result{}, err
		}
	}
	var asked *uint32
	if a.SlippageBps != nil {
		v := uint32(*a.SlippageBps)
		asked = &v
	}
	q, err := k.quote(ctx, name, quoteArgs{From: a.From, To: a.To, Amount: a.Amount}, k.slippage(asked))
	if err != nil {
		return tools.Result{}, err
	}
	me := k.w.Address()
	if err := k.enough(ctx, q); err != nil {
		return tools.Result{}, err
	}
	params := uniswap.SwapParams{Recipient: me, MinOut: q.minOut, Deadline: k.deadline(time.Now()), NativeIn: q.From.Native(), NativeOut: q.To.Native()}
	in := policies.Swap{
		Header:  policies.Header{Chain: k.w.Chain(), From: me.Hex(), Key: a.Key},
		Venue:   q.venue,
		TokenIn: q.From, AmountIn: q.in, TokenOut: q.To,
		Quoted: q.quoted, MinOut: q.minOut, Recipient: me.Hex(),
		SlippageBps: q.SlippageBps, Deadline: params.Deadline,
	}
	if q.minOut.Sign() == 0 {
		// A slippage of 100% accepts any price; no router call is built
		// for it, but the gate still judges it, so the person and the
		// model hear the policy's reasons rather than a tool's refusal.
		// Evaluate, not Decide: nothing will be sent, so nothing may be
		// charged or use up the key.
		rep, err := k.x.Gate.Evaluate(ctx, in)
		if err != nil {
			return tools.Result{}, err
		}
		if rep.Decision == policies.DecisionDeny {
			return tools.Result{}, &policies.Denied{Reasons: rep.Reasons}
		}
		return tools.Result{}, tools.Argf(name, "a slippage of %s accepts any price (a floor of 0); refusing to build it", percent(q.SlippageBps))
	}
	call, err := k.cfg.router.SwapCall(q.route, params)
	if err != nil {
		return tools.Result{}, err
	}
	in.Tx = &call
	var approveCall *policies.Call
	if !q.From.Native() {
		have, err := k.w.Client().Allowance(ctx, common.HexToAddress(q.From.Address), me, k.cfg.router.Address)
		if err != nil {
			return tools.Result{}, err
		}
		if have.Cmp(q.in) < 0 {
			ap, err := k.w.ApproveIntent(ctx, q.From, k.cfg.router.Address, q.in)
			if err != nil {
				return tools.Result{}, err
			}
			in.Approval, approveCall = &ap, ap.Tx
		}
	}
	res := Swap{Quote: *q, Deadline: params.Deadline}
	sim := func(ctx context.Context) (uint64, error) { return k.simulate(ctx, q, params, approveCall, call) }
	out, err := k.x.Run(ctx, in, sim)
	res.Outcome = out
	result := func(text string) tools.Result { return tools.Result{Text: text, Data: res, Outcome: &res.Outcome} }
	var rev *evm.RevertError
	if errors.As(err, &rev) && rev.Reason == "Transaction too old" {
		return result(""), fmt.Errorf("the swap's deadline %s passed before it could be sent; nothing was swapped; quote again (%w)",
			time.Unix(params.Deadline, 0).UTC().Format(time.RFC3339), err)
	}
	if err != nil {
		return result(""), err
	}
	if out.Tx == nil || out.Tx.Status != tools.TxMined {
		text := fmt.Sprintf("Swap of %s %s for at least %s %s (quoted %s): %s.", q.AmountIn, q.From.Symbol, q.MinOut, q.To.Symbol, q.Quoted, out.Decision)
		if out.Report != nil {
			text = fmt.Sprintf("Dry run: swapping %s %s for at least %s %s (quoted %s, %s slippage) via %s; the policy would %s it; simulated gas %d; nothing was signed.",
				q.AmountIn, q.From.Symbol, q.MinOut, q.To.Symbol, q.Quoted, percent(q.SlippageBps), q.path(), out.Report.Decision, out.Gas)
		}
		if out.Tx != nil {
			text = fmt.Sprintf("Swap of %s %s for at least %s %s (quoted %s) sent as %s; not mined yet.", q.AmountIn, q.From.Symbol, q.MinOut, q.To.Symbol, q.Quoted, out.Tx.Hash)
		}
		return result(text), nil
	}
	rcpt, err := k.w.Client().Receipt(ctx, common.HexToHash(out.Tx.Hash))
	if err != nil {
		return result(""), fmt.Errorf("swap %s was mined; reading its receipt: %w", out.Tx.Hash, err)
	}
	got := k.cfg.router.Received(rcpt.Logs, tokenAddr(q.To), me)
	res.Received, res.ReceivedBase = policies.DecimalUnits(got, q.To.Decimals), got.String()
	res.Outcome.Received = &tools.Amount{Token: q.To.Symbol, Value: got, Decimals: q.To.Decimals}
	versus := "exactly as quoted"
	if d := new(big.Int).Sub(q.quoted, got); d.Sign() > 0 {
		res.Shortfall = d.String()
		versus = fmt.Sprintf("%s %s less than quoted", policies.DecimalUnits(d, q.To.Decimals), q.To.Symbol)
	} else if d.Sign() < 0 {
		versus = fmt.Sprintf("%s %s more than quoted", policies.DecimalUnits(d.Neg(d), q.To.Decimals), q.To.Symbol)
	}
	return result(
		fmt.Sprintf("Swapped %s %s for %s %s via %s: quoted %s, received %s (%s); floor was %s at %s slippage; price impact %s%%; transaction %s in block %d.",
			q.AmountIn, q.From.Symbol, res.Received, q.To.Symbol, q.path(), q.Quoted, res.Received, versus, q.MinOut, percent(q.SlippageBps), q.PriceImpact, out.Tx.Hash, out.Tx.Block)), nil
}

func tokenAddr(t policies.Token) common.Address {
	if t.Native() {
		return common.Address{}
	}
	return common.HexToAddress(t.Address)
}

// enough refuses a swap of more than the wallet holds, before anything is
// built or asked: the router's revert would not say so plainly.
func (k *kit) enough(ctx context.Context, q *Quote) error {
	var have *big.Int
	var err error
	if q.From.Native() {
		have, err = k.w.Client().Balance(ctx, k.w.Address())
	} else {
		have, err = k.w.Client().TokenBalance(ctx, common.HexToAddress(q.From.Address), k.w.Address())
	}
	if err != nil {
		return err
	}
	if have.Cmp(q.in) < 0 {
		return &evm.InsufficientBalanceError{Token: q.From, Have: have, Need: q.in}
	}
	return nil
}

// simulate runs the approval (if any) and the swap in sequence on the
// latest state and checks what would arrive. A swap that reverts is probed
// once more with a floor of one base unit, to tell a fee-on-transfer token
// or a moved price (it arrives, but less) from a swap that cannot work.
func (k *kit) simulate(ctx context.Context, q *Quote, p uniswap.SwapParams, approve *policies.Call, call policies.Call) (uint64, error) {
	c := k.w.Client()
	calls := []policies.Call{call}
	if approve != nil {
		calls = []policies.Call{*approve, call}
	}
	res, err := c.SimulateCalls(ctx, k.w.Address(), calls)
	if errors.Is(err, evm.ErrSimulateUnsupported) {
		if approve != nil {
			// Without eth_simulateV1 the swap cannot be simulated before
			// its approval is mined; the wallet simulates it then, and
			// the floor still binds on chain.
			return k.w.Simulate(ctx, *approve)
		}
		return k.w.Simulate(ctx, call)
	}
	if err != nil {
		probe := p
		probe.MinOut = big.NewInt(1)
		pc, perr := k.cfg.router.SwapCall(q.route, probe)
		if perr == nil {
			calls[len(calls)-1] = pc
			if pres, perr := c.SimulateCalls(ctx, k.w.Address(), calls); perr == nil {
				got := k.cfg.router.Received(pres[len(pres)-1].Logs, tokenAddr(q.To), k.w.Address())
				if got.Cmp(q.minOut) < 0 {
					return 0, fmt.Errorf("the swap would deliver %s %s, less than its floor %s (quoted %s): %s; nothing was signed",
						policies.DecimalUnits(got, q.To.Decimals), q.To.Symbol, q.MinOut, q.Quoted, shortfallWhy(q, got))
				}
			}
		}
		return 0, err
	}
	last := res[len(res)-1]
	if got := k.cfg.router.Received(last.Logs, tokenAddr(q.To), k.w.Address()); got.Cmp(q.minOut) < 0 {
		return 0, fmt.Errorf("the swap would deliver %s %s, less than its floor %s (quoted %s); nothing was signed", policies.DecimalUnits(got, q.To.Decimals), q.To.Symbol, q.MinOut, q.Quoted)
	}
	return last.Gas, nil
}

// shortfallWhy explains a delivery below the quote: by how much, and what
// usually causes it.
func shortfallWhy(q *Quote, got *big.Int) string {
	lost := new(big.Int).Sub(q.quoted, got)
	bps := new(big.Int).Mul(lost, big.NewInt(10_000))
	bps.Add(bps, new(big.Int).Sub(q.quoted, big.NewInt(1))) // round up
	bps.Quo(bps, q.quoted)
	return fmt.Sprintf("%s%% below the quote; %s or %s may take a fee on transfer, or the price moved; a slippage_bps of at least %s would accept it if the policy allows",
		new(big.Rat).SetFrac(new(big.Int).Mul(lost, big.NewInt(100)), q.quoted).FloatString(2), q.From.Symbol, q.To.Symbol, bps)
}
