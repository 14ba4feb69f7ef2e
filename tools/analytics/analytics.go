// Package analytics holds the read-only on-chain tools: token prices, the
// wallet's portfolio in USD, Uniswap pool statistics, a transaction in plain
// words and the wallet's token transfer history. They sign nothing and pass
// no policy; what they read from contracts (token names and symbols, event
// fields) is data written by whoever deployed those contracts, and is
// quoted as such in what they report, never followed.
//
// Prices come from a policies.PriceSource, by default Uniswap V3 TWAPs
// (uniswap.PriceSource) against the token list's USD stablecoins. Log scans
// (pool_stats, wallet_history) read a block range page by page
// (evm.Client.ScanLogs) and report their progress to a writer, the CLI's
// stderr.
package analytics

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/wallet"
)

// DefaultBlockRange is how many blocks, ending at the chain head, pool_stats
// and wallet_history scan when no range is given.
const DefaultBlockRange = 10_000

// stableSymbols are the token list's symbols the default price source
// takes as USD stablecoins.
var stableSymbols = []string{"USDC", "USDT", "DAI"}

// Option configures the tools.
type Option func(*config)

type config struct {
	list      *tokenlist.List
	prices    policies.PriceSource
	factories uniswap.Factories
	router    uniswap.Router02
	contracts map[string]common.Address
	progress  io.Writer
	page      uint64
	blocks    uint64
}

// WithTokenList resolves symbols and names tokens through l (default: the
// built-in list).
func WithTokenList(l *tokenlist.List) Option { return func(c *config) { c.list = l } }

// WithPriceSource prices tokens with p. Default: Uniswap V3 TWAPs
// (uniswap.NewPriceSource) from the factories of WithFactories, against the
// token list's USDC, USDT and DAI on the client's chain; no price source
// when either is missing. The default averages over the whole window, so
// pools with less oracle history (a devnet's) go unpriced: pass a source
// with uniswap.WithMinTWAPWindow there.
func WithPriceSource(p policies.PriceSource) Option { return func(c *config) { c.prices = p } }

// WithFactories sets where pool_stats finds pools and, by default, where
// prices come from.
func WithFactories(f uniswap.Factories) Option { return func(c *config) { c.factories = f } }

// WithRouter lets tx_explain read calls to this SwapRouter02 back into the
// swap they make.
func WithRouter(r uniswap.Router02) Option { return func(c *config) { c.router = r } }

// WithContracts names contracts tx_explain may meet (e.g. a devnet
// deployment's Contracts: "SwapRouter02", "UniswapV2Router02", ...). The
// names are the caller's, so they are shown as facts.
func WithContracts(names map[string]common.Address) Option {
	return func(c *config) {
		if c.contracts == nil {
			c.contracts = map[string]common.Address{}
		}
		for n, a := range names {
			c.contracts[n] = a
		}
	}
}

// WithProgress reports the progress of log scans to w, e.g. a terminal's
// stderr.
func WithProgress(w io.Writer) Option { return func(c *config) { c.progress = w } }

// WithPageSize sets how many blocks a log scan asks the node for at once
// (default evm.DefaultLogPage); ScanLogs halves it when the node refuses.
func WithPageSize(blocks uint64) Option { return func(c *config) { c.page = blocks } }

// WithBlockRange sets how many blocks, ending at the head, pool_stats and
// wallet_history scan by default (DefaultBlockRange).
func WithBlockRange(blocks uint64) Option { return func(c *config) { c.blocks = blocks } }

// Tools returns token_price, wallet_portfolio, pool_stats, tx_explain and
// wallet_history for the wallet at addr on c's chain. With a nil client
// the tools can be listed (names, descriptions, schemas) but not called.
func Tools(c *evm.Client, addr common.Address, opts ...Option) []tools.Tool {
	cfg := config{list: tokenlist.Default(), blocks: DefaultBlockRange}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.list == nil {
		cfg.list = &tokenlist.List{}
	}
	if cfg.blocks == 0 {
		cfg.blocks = DefaultBlockRange
	}
	k := &kit{cfg: cfg, c: c, addr: addr, metas: map[common.Address]tokenMeta{}, pools: map[common.Address]poolInfo{}}
	if c != nil {
		k.chain = c.ChainID().Int64()
		k.res = wallet.NewResolver(c, cfg.list)
		if k.cfg.prices == nil && cfg.factories.V3 != (common.Address{}) {
			if stables := k.stablecoins(); len(stables) > 0 {
				k.cfg.prices = uniswap.NewPriceSource(c, cfg.factories, stables)
			}
		}
	}
	return []tools.Tool{
		tools.Func("token_price", "USD price of a token: the time-weighted average (TWAP) from Uniswap V3 pools, with the pools and window it comes from, and the spot price of the same pools beside it.",
			tools.Schema(map[string]string{"token": "token symbol (e.g. WETH, ETH) or address"}, "token"), k.price, tools.ReadOnly()),
		tools.Func("wallet_portfolio", "The wallet's holdings (ETH and every token in the token list it holds) with their USD value and the total; tokens without a price are listed as such.",
			tools.Schema(nil), k.portfolio, tools.ReadOnly()),
		tools.Func("pool_stats", fmt.Sprintf("Every Uniswap V2 and V3 pool between two tokens: fee tier, liquidity and holdings, price, and the number and volume of swaps over the last %d blocks.", cfg.blocks),
			tools.Schema(map[string]string{
				"token_a": "token symbol or address",
				"token_b": "the other token: symbol or address",
			}, "token_a", "token_b"), k.poolStats, tools.ReadOnly()),
		tools.Func("tx_explain", "A transaction in plain words: who called what, whether it succeeded, its gas and fee, and every event it emitted (transfers, approvals, swaps).",
			tools.Schema(map[string]string{"hash": "transaction hash (0x + 64 hex digits)"}, "hash"), k.explain, tools.ReadOnly()),
		tools.Func("wallet_history", fmt.Sprintf("ERC-20 transfers into and out of the wallet over a block range, with amounts and counterparties (default: the last %d blocks).", cfg.blocks),
			tools.Schema(map[string]string{
				"from_block": fmt.Sprintf("optional: first block, a number (default: %d blocks before to_block)", cfg.blocks-1),
				"to_block":   "optional: last block, a number (default: the chain head)",
			}), k.history, tools.ReadOnly()),
	}
}

type kit struct {
	cfg   config
	c     *evm.Client
	addr  common.Address
	chain int64
	res   *wallet.Resolver

	mu    sync.Mutex
	metas map[common.Address]tokenMeta // token contracts read so far
	pools map[common.Address]poolInfo  // pools read so far
}

type noArgs struct{}

// ready refuses calls on tools built without a client (for listing only).
func (k *kit) ready() error {
	if k.c == nil {
		return tools.ErrNoChain
	}
	return nil
}

// stablecoins are the token list's USD stablecoins on the client's chain.
func (k *kit) stablecoins() []uniswap.Stablecoin {
	var out []uniswap.Stablecoin
	for _, sym := range stableSymbols {
		t, err := k.cfg.list.Lookup(k.chain, sym)
		if err != nil {
			continue // absent, or ambiguous: not a yardstick
		}
		out = append(out, uniswap.Stablecoin{Symbol: t.Symbol, Address: common.HexToAddress(t.Address), Decimals: t.Decimals})
	}
	return out
}

// tokenMeta is what the tools know of a token contract: from the token
// list (Listed: the owner's choice, a fact here), or read from the
// contract (its deployer's words, a claim).
type tokenMeta struct {
	Address  common.Address
	Symbol   string
	Decimals uint8
	Listed   bool
	Known    bool // symbol and decimals were read; false: the contract did not answer as an ERC-20
}

// label names the token in text: a listed symbol as is; a symbol read from
// an unlisted contract quoted, with its address, so it reads as a claim.
func (m tokenMeta) label() string {
	switch {
	case m.Listed:
		return m.Symbol
	case m.Known:
		return fmt.Sprintf("%q (unlisted token %s)", m.Symbol, m.Address.Hex())
	}
	return "unknown token " + m.Address.Hex()
}

// amount writes base units of the token with its label: "1.5 USDC".
func (m tokenMeta) amount(v *big.Int) string {
	if !m.Known {
		return v.String() + " base units of " + m.label()
	}
	return policies.FormatUnits(v, m.Decimals) + " " + m.label()
}

// meta returns what is known of the token at a, reading the chain once per
// token.
func (k *kit) meta(ctx context.Context, a common.Address) tokenMeta {
	k.mu.Lock()
	m, ok := k.metas[a]
	k.mu.Unlock()
	if ok {
		return m
	}
	m = tokenMeta{Address: a}
	if lt, ok := k.cfg.list.ByAddress(k.chain, a.Hex()); ok {
		m.Symbol, m.Decimals, m.Listed, m.Known = lt.Symbol, lt.Decimals, true, true
	} else if t, err := k.c.ERC20Info(ctx, a); err == nil {
		m.Symbol, m.Decimals, m.Known = t.Symbol, t.Decimals, true
	} else if ctx.Err() != nil {
		return m // do not remember a cancelled read
	}
	k.mu.Lock()
	if len(k.metas) >= maxRemembered { // a long-lived bot meets endless spam tokens
		clear(k.metas)
	}
	k.metas[a] = m
	k.mu.Unlock()
	return m
}

// maxRemembered bounds the token and pool facts a kit keeps between calls.
const maxRemembered = 10_000

// name names an address in text: the wallet, a contract the caller named,
// a listed token.
func (k *kit) name(a common.Address) string {
	if a == k.addr && a != (common.Address{}) {
		return "this wallet (" + a.Hex() + ")"
	}
	for n, c := range k.knownContracts() {
		if c == a {
			return n + " (" + a.Hex() + ")"
		}
	}
	if lt, ok := k.cfg.list.ByAddress(k.chain, a.Hex()); ok {
		return lt.Symbol + " token (" + a.Hex() + ")"
	}
	return a.Hex()
}

// knownContracts are the contracts the caller configured, by name.
func (k *kit) knownContracts() map[string]common.Address {
	m := map[string]common.Address{}
	for n, a := range k.cfg.contracts {
		m[n] = a
	}
	set := func(n string, a common.Address) {
		if _, ok := m[n]; !ok && a != (common.Address{}) {
			m[n] = a
		}
	}
	set("SwapRouter02", k.cfg.router.Address)
	set("UniswapV2Factory", k.cfg.factories.V2)
	set("UniswapV3Factory", k.cfg.factories.V3)
	return m
}

// weth is the wrapped native token, from the factories or the router.
func (k *kit) weth() common.Address {
	if k.cfg.factories.WETH != (common.Address{}) {
		return k.cfg.factories.WETH
	}
	return k.cfg.router.WETH
}

// resolve resolves a token argument, as an argument error when it fails.
func (k *kit) resolve(ctx context.Context, tool, arg, s string) (policies.Token, error) {
	t, err := k.res.Resolve(ctx, s)
	if err != nil {
		if ctx.Err() != nil {
			return policies.Token{}, err
		}
		return policies.Token{}, tools.Argf(tool, "%s: %v", arg, oneLine(err))
	}
	return t, nil
}

// progressTo reports a scan's progress to the configured writer.
func (k *kit) progressTo(tool string) func(done, total uint64) {
	if k.cfg.progress == nil {
		return nil
	}
	return func(done, total uint64) {
		fmt.Fprintf(k.cfg.progress, "%s: scanned %d of %d blocks\n", tool, done, total)
	}
}

// blockArg is an optional block number argument: a JSON number or a
// string of digits (or 0x-hex), as models write either.
type blockArg struct {
	raw string
	set bool
}

func (b *blockArg) UnmarshalJSON(p []byte) error {
	s := strings.TrimSpace(string(p))
	if s == "null" {
		*b = blockArg{}
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if uq, err := strconv.Unquote(s); err == nil {
			s = uq
		}
	}
	*b = blockArg{raw: strings.TrimSpace(s), set: strings.TrimSpace(s) != ""}
	return nil
}

// parse reads the block number.
func (b blockArg) parse(tool, name string) (uint64, error) {
	s := b.raw
	base := 10
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		s, base = s[2:], 16
	}
	n, err := strconv.ParseUint(s, base, 64)
	if err != nil || s == "" {
		return 0, tools.Argf(tool, "%s %q is not a block number: give a whole number such as 19000000", name, b.raw)
	}
	return n, nil
}

// blockRange resolves optional from/to arguments against the head: to
// defaults to the head, from to cfg.blocks before to.
func (k *kit) blockRange(tool string, from, to blockArg, head uint64) (uint64, uint64, error) {
	hi := head
	if to.set {
		v, err := to.parse(tool, "to_block")
		if err != nil {
			return 0, 0, err
		}
		if v > head {
			return 0, 0, tools.Argf(tool, "to_block %d is beyond the chain head %d; give a block up to %d, or omit it for the head", v, head, head)
		}
		hi = v
	}
	lo := uint64(0)
	if hi+1 > k.cfg.blocks {
		lo = hi + 1 - k.cfg.blocks
	}
	if from.set {
		v, err := from.parse(tool, "from_block")
		if err != nil {
			return 0, 0, err
		}
		if v > head {
			return 0, 0, tools.Argf(tool, "from_block %d is beyond the chain head %d", v, head)
		}
		if v > hi {
			return 0, 0, tools.Argf(tool, "from_block %d is after to_block %d; give from_block ≤ to_block", v, hi)
		}
		lo = v
	}
	return lo, hi, nil
}

// oneLine keeps the first line of an error: tool answers are one line.
func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// usdMicro rounds a USD amount to micro-USD (the policy engine's unit),
// half away from zero.
func usdMicro(r *big.Rat) *big.Int { return roundRat(r, 6) }

// roundRat is r × 10^dec rounded half away from zero.
func roundRat(r *big.Rat, dec int) *big.Int {
	n := new(big.Int).Mul(r.Num(), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(dec)), nil))
	d := r.Denom()
	q, m := new(big.Int).QuoRem(n, d, new(big.Int))
	if new(big.Int).Mul(m.Abs(m), big.NewInt(2)).Cmp(d) >= 0 {
		if n.Sign() < 0 {
			q.Sub(q, big.NewInt(1))
		} else {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

// usdData is a USD amount for JSON: exact to the micro-USD, plain decimal.
func usdData(r *big.Rat) string { return policies.DecimalUnits(usdMicro(r), 6) }

// usdText is a USD amount for people: cents, or six decimals under a
// dollar so small prices do not read as zero.
func usdText(r *big.Rat) string {
	if new(big.Rat).Abs(r).Cmp(big.NewRat(1, 1)) < 0 {
		return policies.FormatUnits(usdMicro(r), 6) + " USD"
	}
	s := policies.FormatUnits(roundRat(r, 2), 2)
	switch i := strings.IndexByte(s, '.'); {
	case i < 0:
		s += ".00"
	case len(s)-i == 2:
		s += "0"
	}
	return s + " USD"
}
