// Package dex holds the swap tools, dex_quote and dex_swap, over Uniswap V2
// and V3 through SwapRouter02.
//
// A quote is the exact output of the best route (up to three hops, V2 and
// V3 pools mixed, net of gas) computed locally from pool state read at one
// block. A swap is that quote made binding: its floor (amountOutMinimum) is
// the quote less the slippage asked for (by default 0.5% or the policy's
// maximum, whichever is smaller), its deadline is within the policy's
// bound, its output goes to the wallet itself, and it approves exactly the
// amount it puts in. The swap and its approval pass the policy gate as one
// swap intent; after it is mined the tool reports what arrived against
// what was quoted.
//
// The wallet must be built with evm.WithSwapDecoder(router) so that it can
// check the router call against the intent before signing it.
package dex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/wallet"
)

// Bounds is what the tools need of the policy: the largest slippage and
// deadline it accepts (ok false: it allows no swaps). *policies.Policy is one.
type Bounds interface {
	SwapBounds() (maxSlippageBps uint32, maxDeadline time.Duration, ok bool)
}

// DefaultSlippageBps is the slippage a swap gets when none is asked for and
// the policy allows at least as much.
const DefaultSlippageBps = 50

// DefaultDeadline is how long a swap stays valid when the policy allows at
// least as long.
const DefaultDeadline = 10 * time.Minute

// baseSymbols are the tokens routes may pass through besides the two
// traded: the usual deep pools. Discovering among every listed token would
// ask the factories for thousands of pools on a mainnet list.
var baseSymbols = []string{"WETH", "USDC", "USDT", "DAI", "WBTC"}

// Option configures the tools.
type Option func(*config)

type config struct {
	list      *tokenlist.List
	factories uniswap.Factories
	router    uniswap.Router02
	bounds    Bounds
	approver  tools.Approver
	progress  io.Writer
	noWait    bool
	cache     *uniswap.StateCache
	maxHops   int
}

// WithTokenList resolves symbols through l (default: the built-in list).
func WithTokenList(l *tokenlist.List) Option { return func(c *config) { c.list = l } }

// WithUniswap sets where pools are found and the router swaps go through.
// Without it the tools answer that no DEX is configured for the chain.
func WithUniswap(f uniswap.Factories, r uniswap.Router02) Option {
	return func(c *config) { c.factories, c.router = f, r }
}

// WithBounds takes the default slippage and the deadline from the policy.
func WithBounds(b Bounds) Option { return func(c *config) { c.bounds = b } }

// WithApprover asks a for swaps the policy wants a person to confirm.
func WithApprover(a tools.Approver) Option { return func(c *config) { c.approver = a } }

// WithProgress reports long waits (a receipt) to w, e.g. a terminal.
func WithProgress(w io.Writer) Option { return func(c *config) { c.progress = w } }

// WithoutWaiting returns once a swap is broadcast, not mined; it is then
// reported without what it received.
func WithoutWaiting() Option { return func(c *config) { c.noWait = true } }

// WithStateCache shares pool state reads (per block) with other users.
func WithStateCache(s *uniswap.StateCache) Option { return func(c *config) { c.cache = s } }

// WithMaxHops limits routes to n pools (1 to 3).
func WithMaxHops(n int) Option { return func(c *config) { c.maxHops = n } }

// Tools returns dex_quote and dex_swap for w, gated by gate. With a nil
// wallet they can be listed but not called.
func Tools(w *evm.Wallet, gate tools.Gate, opts ...Option) []tools.Tool {
	cfg := config{list: tokenlist.Default(), maxHops: uniswap.MaxRouteHops}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.cache == nil {
		cfg.cache = uniswap.NewStateCache()
	}
	k := &kit{cfg: cfg, w: w, x: &tools.Executor{Gate: gate, Approver: cfg.approver, NoWait: cfg.noWait, Progress: cfg.progress}}
	if w != nil {
		k.x.W = wallet.Sender(w)
		k.res = wallet.NewResolver(w.Client(), cfg.list)
		k.disc = &uniswap.Discoverer{Client: w.Client(), Factories: cfg.factories, Cache: cfg.cache}
	}
	return []tools.Tool{
		tools.Func("dex_quote", "Quote a swap on Uniswap (V2 and V3, up to three hops): the exact output of the best route at the latest block, its price impact and the minimum a swap would accept. Signs nothing.",
			tools.Schema(map[string]string{
				"from":   "token to sell: symbol (e.g. ETH, USDC) or address",
				"to":     "token to buy: symbol or address",
				"amount": "amount of `from` in token units as a decimal string, e.g. \"0.5\"",
			}, "from", "to", "amount"), k.quoteTool, tools.ReadOnly()),
		tools.Func("dex_swap", "Swap an amount of one token for another on Uniswap at the best route, protected by a minimum output from the quote and the slippage (default 0.5% or the policy's maximum, whichever is smaller). Passes the owner's policy before anything is signed; reports received against quoted.",
			tools.Schema(map[string]string{
				"from":            "token to sell: symbol (e.g. ETH, USDC) or address",
				"to":              "token to buy: symbol or address",
				"amount":          "amount of `from` in token units as a decimal string, e.g. \"0.5\"",
				"slippage_bps":    "optional: largest acceptable shortfall from the quote, in basis points (50 = 0.5%)",
				"idempotency_key": "optional: a retry with the same key swaps at most once",
			}, "from", "to", "amount"), k.swapTool),
	}
}

type kit struct {
	cfg  config
	w    *evm.Wallet
	res  *wallet.Resolver
	disc *uniswap.Discoverer
	x    *tools.Executor
}

func (k *kit) ready() error {
	if k.w == nil {
		return tools.ErrNoWallet
	}
	if k.cfg.router.Address == (common.Address{}) || (k.cfg.factories.V2 == (common.Address{}) && k.cfg.factories.V3 == (common.Address{})) {
		return fmt.Errorf("no Uniswap deployment is configured for chain %s: swaps are not supported here yet", k.w.Chain())
	}
	return nil
}

// Hop is one pool of a quoted route.
type Hop struct {
	Pool      string `json:"pool"`
	Protocol  string `json:"protocol"` // uniswap-v2, uniswap-v3
	FeeBps    string `json:"fee_bps"`  // e.g. "5" for the 0.05% tier
	TokenIn   string `json:"token_in"`
	TokenOut  string `json:"token_out"`
	AmountOut string `json:"amount_out"` // base units
	fee       uint32
}

// Quote is dex_quote's answer, and the quote inside dex_swap's.
type Quote struct {
	From        policies.Token `json:"from"`
	To          policies.Token `json:"to"`
	AmountIn    string         `json:"amount_in"` // token units, exact
	Quoted      string         `json:"quoted"`    // token units, exact
	QuotedBase  string         `json:"quoted_base"`
	MinOut      string         `json:"min_out"` // at SlippageBps
	MinOutBase  string         `json:"min_out_base"`
	SlippageBps uint32         `json:"slippage_bps"`
	PriceImpact string         `json:"price_impact_percent"` // e.g. "0.12"
	Route       []Hop          `json:"route"`
	GasEstimate uint64         `json:"gas_estimate"`
	Block       uint64         `json:"block"`

	route  uniswap.Route
	in     *big.Int
	quoted *big.Int
	minOut *big.Int
	venue  string
}

type quoteArgs struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Amount string `json:"amount"`
}

func (k *kit) quoteTool(ctx context.Context, a quoteArgs) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	q, err := k.quote(ctx, "dex_quote", a, k.slippage(nil))
	if err != nil {
		return tools.Result{}, err
	}
	return tools.Result{
		Text: fmt.Sprintf("%s %s → %s %s via %s at block %d; price impact %s%%; a swap at %s slippage would accept no less than %s %s.",
			q.AmountIn, q.From.Symbol, q.Quoted, q.To.Symbol, q.path(), q.Block, q.PriceImpact, percent(q.SlippageBps), q.MinOut, q.To.Symbol),
		Data: q,
	}, nil
}

// slippage is the slippage a swap uses: the one asked for, or the default
// capped by the policy. A requested slippage is never changed: above the
// policy's maximum, the gate denies it and says why.
func (k *kit) slippage(asked *uint32) uint32 {
	if asked != nil {
		return *asked
	}
	bps := uint32(DefaultSlippageBps)
	if k.cfg.bounds != nil {
		if max, _, ok := k.cfg.bounds.SwapBounds(); ok && max < bps {
			bps = max
		}
	}
	return bps
}

// routed is the address a token has in pools: WETH for the native coin.
func (k *kit) routed(t policies.Token) common.Address {
	if t.Native() {
		return k.cfg.router.WETH
	}
	return common.HexToAddress(t.Address)
}

func (k *kit) quote(ctx context.Context, tool string, a quoteArgs, slippageBps uint32) (*Quote, error) {
	for _, f := range []struct{ name, v string }{{"from", a.From}, {"to", a.To}, {"amount", a.Amount}} {
		if err := tools.Require(tool, f.name, f.v); err != nil {
			return nil, err
		}
	}
	if slippageBps > 10_000 {
		return nil, tools.Argf(tool, "slippage_bps %d is more than 10000 (100%%)", slippageBps)
	}
	in, err := k.res.Resolve(ctx, a.From)
	if err != nil {
		return nil, tools.Argf(tool, "from: %v", err)
	}
	out, err := k.res.Resolve(ctx, a.To)
	if err != nil {
		return nil, tools.Argf(tool, "to: %v", err)
	}
	tin, tout := k.routed(in), k.routed(out)
	switch {
	case in.Native() == out.Native() && strings.EqualFold(in.Address, out.Address):
		return nil, tools.Argf(tool, "from and to are the same token (%s)", in.Symbol)
	case tin == tout:
		return nil, tools.Argf(tool, "%s to %s is wrapping, not a swap: dex_swap does not wrap or unwrap on its own yet", in.Symbol, out.Symbol)
	}
	amount, err := policies.ParseUnits(strings.TrimSpace(a.Amount), in.Decimals)
	if err != nil {
		return nil, tools.Argf(tool, "amount %q: %v", a.Amount, err)
	}
	if amount.Sign() == 0 {
		return nil, tools.Argf(tool, "amount must be greater than zero")
	}
	amountIn, overflow := uint256.FromBig(amount)
	if overflow {
		return nil, tools.Argf(tool, "amount %q is too large", a.Amount)
	}
	tokens := []common.Address{tin, tout}
	for _, s := range baseSymbols {
		if t, err := k.res.List().Lookup(k.res.Chain(), s); err == nil {
			tokens = append(tokens, common.HexToAddress(t.Address))
		}
	}
	if k.cfg.router.WETH != (common.Address{}) {
		tokens = append(tokens, k.cfg.router.WETH)
	}
	g, err := k.disc.Discover(ctx, dedupe(tokens))
	if err != nil {
		return nil, fmt.Errorf("reading the pools: %w", err)
	}
	if base, err := k.w.Client().BaseFee(ctx); err == nil {
		if tip, _, err := k.w.Fees(ctx); err == nil {
			g.GasPrice, _ = uint256.FromBig(new(big.Int).Add(base, tip))
		}
	}
	route, err := g.Best(tin, tout, amountIn, k.cfg.maxHops)
	switch {
	case errors.Is(err, uniswap.ErrNoRoute):
		return nil, tools.Argf(tool, "no Uniswap pool (or route of up to %d pools) joins %s and %s on chain %s", k.cfg.maxHops, in.Symbol, out.Symbol, k.w.Chain())
	case errors.Is(err, uniswap.ErrInsufficientLiquidity):
		return nil, tools.Argf(tool, "the pools between %s and %s do not hold enough liquidity for %s %s; try a smaller amount", in.Symbol, out.Symbol, a.Amount, in.Symbol)
	case err != nil:
		return nil, fmt.Errorf("routing %s → %s: %w", in.Symbol, out.Symbol, err)
	}
	quoted := route.AmountOut.ToBig()
	if quoted.Sign() == 0 {
		return nil, tools.Argf(tool, "%s %s is too small: the best route gives 0 %s", a.Amount, in.Symbol, out.Symbol)
	}
	minOut := floor(quoted, slippageBps)
	if minOut.Sign() == 0 && slippageBps < 10_000 {
		return nil, tools.Argf(tool, "%s %s is too small: at %s slippage the swap could give nothing", a.Amount, in.Symbol, percent(slippageBps))
	}
	q := &Quote{
		From: in, To: out, AmountIn: policies.DecimalUnits(amount, in.Decimals),
		Quoted: policies.DecimalUnits(quoted, out.Decimals), QuotedBase: quoted.String(),
		MinOut: policies.DecimalUnits(minOut, out.Decimals), MinOutBase: minOut.String(), SlippageBps: slippageBps,
		GasEstimate: route.GasEstimate, Block: g.Block,
		route: route, in: amount, quoted: quoted, minOut: minOut,
	}
	if imp, err := route.PriceImpact(g); err == nil {
		q.PriceImpact = imp.Mul(imp, big.NewRat(100, 1)).FloatString(2)
	}
	protocols := map[string]bool{}
	for _, h := range route.Hops {
		p := "uniswap-v3"
		if h.Version == uniswap.V2 {
			p = "uniswap-v2"
		}
		protocols[p] = true
		q.Route = append(q.Route, Hop{
			Pool: h.Pool.Hex(), Protocol: p, FeeBps: new(big.Rat).SetFrac64(int64(h.Fee), 100).FloatString(2),
			TokenIn: k.symbol(h.TokenIn, in, out), TokenOut: k.symbol(h.TokenOut, in, out), AmountOut: h.AmountOut.Dec(), fee: h.Fee,
		})
	}
	switch {
	case len(protocols) > 1:
		q.venue = "uniswap-v2+v3"
	case protocols["uniswap-v2"]:
		q.venue = "uniswap-v2"
	default:
		q.venue = "uniswap-v3"
	}
	return q, nil
}

// symbol names a route token for people: the traded tokens by the symbol
// they were asked by, others from the token list, else the address.
func (k *kit) symbol(a common.Address, in, out policies.Token) string {
	for _, t := range []policies.Token{in, out} {
		if k.routed(t) == a && !t.Native() {
			return t.Symbol
		}
	}
	if a == k.cfg.router.WETH {
		return "WETH"
	}
	if t, ok := k.res.List().ByAddress(k.res.Chain(), a.Hex()); ok {
		return t.Symbol
	}
	return a.Hex()
}

func (q *Quote) path() string {
	parts := make([]string, 0, len(q.Route)+1)
	parts = append(parts, q.From.Symbol)
	for i, h := range q.Route {
		sym := h.TokenOut
		if i == len(q.Route)-1 {
			sym = q.To.Symbol
		}
		parts = append(parts, fmt.Sprintf("(%s %s%%) %s", strings.TrimPrefix(h.Protocol, "uniswap-"), new(big.Rat).SetFrac64(int64(h.fee), 10_000).FloatString(2), sym))
	}
	return strings.Join(parts, " → ")
}

// floor is quoted less bps, rounded up: the floor is never looser than
// the slippage says.
func floor(quoted *big.Int, bps uint32) *big.Int {
	f := new(big.Int).Mul(quoted, big.NewInt(int64(10_000-bps)))
	f, r := f.QuoRem(f, big.NewInt(10_000), new(big.Int))
	if r.Sign() > 0 {
		f.Add(f, big.NewInt(1))
	}
	return f
}

func percent(bps uint32) string {
	return new(big.Rat).SetFrac64(int64(bps), 100).FloatString(2) + "%"
}

func dedupe(as []common.Address) []common.Address {
	seen := map[common.Address]bool{}
	out := as[:0]
	for _, a := range as {
		if a != (common.Address{}) && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}
