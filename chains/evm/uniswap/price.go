package uniswap

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/policies"
)

// Stablecoin is a USD stablecoin a PriceSource prices against: its
// address and decimals as the caller configured them (a token list, a
// policy), never as a token claims them.
type Stablecoin struct {
	Symbol   string
	Address  common.Address
	Decimals uint8
}

// ErrNoPrice says no Uniswap V3 pool with liquidity connects a token to a
// configured stablecoin, directly or through WETH.
var ErrNoPrice = errors.New("no Uniswap V3 pool with liquidity pairs it with a configured stablecoin or with WETH")

// PriceSource prices tokens in USD from Uniswap V3 pools' oracles: the
// time-weighted average price over a window (DefaultTWAPWindow), which one
// swap, or one block of swaps, cannot move far, unlike a pool's spot price.
//
// A token is priced against a configured stablecoin directly, or through
// WETH (token→WETH TWAP × WETH→stablecoin TWAP). For each leg it takes the
// pool, among every fee tier, holding the most in-range liquidity (measured
// as the virtual reserve of the leg's quote token, so pools of different
// pairs compare in the same unit); between the direct pool and the route
// through WETH it takes the deeper, a route being as deep as its shallower
// leg. Pools without liquidity or not yet initialized are skipped, and so
// is a route any of whose pools holds less oracle history at the block
// than the minimum window (WithMinTWAPWindow; by default the whole window
// asked for): the next deepest route prices the token then, and when none
// qualifies the error (ErrShortOracleHistory) names the pools and what
// they lack. A pool's oracle can be shorter than the window because the
// pool keeps few observations: a new pool keeps one, and every pool does
// until someone pays to grow it, so a swap in a new block overwrites it
// and the history starts at that swap. A TWAP over such a history is the
// price the swap pushed it to, which is what an attacker wants a limit to
// rest on. V2 pairs are not used: their price here would be a spot price,
// which a policy's USD limits must not rest on.
//
// The stablecoins themselves are pegged: each prices at exactly 1 USD with
// Source "pegged: …". They are the source's definition of USD, so pricing
// one against another would measure one peg against the other rather than
// against the dollar, and pools between stablecoins are where a thin or
// swept pool (the devnet leaves its direct USDC/DAI pools 1.5% off) would
// make a policy's "1,000 USDC" and "1,000 USD" disagree with an
// arbitrageur's timing. Configuring a coin as a stablecoin accepts its
// depeg risk.
//
// Quotes are cached per block: a second price of the same token at the
// same block costs one eth_blockNumber. A PriceSource is safe for
// concurrent use.
type PriceSource struct {
	client  *evm.Client
	f       Factories
	stables []Stablecoin
	window  uint32
	minimum uint32 // the shortest history a leg may average over, when minSet
	minSet  bool   // WithMinTWAPWindow was given (so 0 is a mistake, not the default)
	stats   *StateCache

	mu    sync.Mutex
	cache perBlock[priceKey, USDQuote]
}

type priceKey struct {
	token    common.Address
	decimals uint8
}

var _ policies.PriceSource = (*PriceSource)(nil)

// PriceOption configures a PriceSource.
type PriceOption func(*PriceSource)

// WithTWAPWindow sets the averaging window in seconds (default
// DefaultTWAPWindow). 0 is refused when pricing: it would be the spot price.
func WithTWAPWindow(seconds uint32) PriceOption { return func(s *PriceSource) { s.window = seconds } }

// WithMinTWAPWindow sets the shortest oracle history, in seconds, a pool
// may average over for a route through it to price a token (default: the
// whole TWAP window). A pool whose history is shorter but at least this
// long is averaged over what it holds, and the quote says so (Window <
// Requested, Shortened). Set it below the window only where the chain's
// pools cannot hold the whole window yet (a devnet, whose history is
// minutes old) and accept the weaker price: a price pushed for k seconds
// weighs k/seconds in the average at worst. 0 is refused when pricing: it
// would accept an average over the last block alone. A minimum above the
// window is refused too.
func WithMinTWAPWindow(seconds uint32) PriceOption {
	return func(s *PriceSource) { s.minimum, s.minSet = seconds, true }
}

// ErrShortOracleHistory says a pool's oracle holds less history than the
// minimum TWAP window (WithMinTWAPWindow) at the block read, so its
// average would weigh the last few blocks, which a swap just before can
// set, too heavily.
var ErrShortOracleHistory = errors.New("uniswap: oracle history shorter than the minimum TWAP window")

// minWindow is the shortest history a leg may average over.
func (s *PriceSource) minWindow() uint32 {
	if !s.minSet {
		return s.window
	}
	return s.minimum
}

// NewPriceSource prices tokens on c's chain from the V3 pools of f.V3 (its
// fee tiers f.V3Fees, default DefaultV3Fees), through f.WETH when a token
// has no deep pool against one of stables.
func NewPriceSource(c *evm.Client, f Factories, stables []Stablecoin, opts ...PriceOption) *PriceSource {
	s := &PriceSource{client: c, f: f, stables: append([]Stablecoin(nil), stables...), window: DefaultTWAPWindow,
		stats: NewStateCache(), cache: perBlock[priceKey, USDQuote]{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Stats counts the JSON-RPC calls and batches the source has sent.
func (s *PriceSource) Stats() StateCacheStats { return s.stats.Stats() }

// USDQuote is a token's USD price and everything it was computed from.
type USDQuote struct {
	Token     policies.Token
	Block     uint64
	USD       *big.Rat // per whole token: the TWAP (or 1, pegged)
	Spot      *big.Rat // per whole token: the same pools' prices at Block (slot0)
	Source    string
	Pegged    bool
	Legs      []PoolPrice // from the token to the stablecoin; none when pegged
	Window    uint32      // the shortest leg's TWAP window, seconds
	Requested uint32      // the window asked for
}

// clone copies the quote's prices, so a caller that changes them does not
// change the cached quote.
func (q USDQuote) clone() USDQuote {
	q.USD, q.Spot = new(big.Rat).Set(q.USD), new(big.Rat).Set(q.Spot)
	q.Legs = append([]PoolPrice(nil), q.Legs...)
	return q
}

// Price is the quote as the policy engine takes it.
func (q USDQuote) Price() policies.Price {
	return policies.Price{USD: new(big.Rat).Set(q.USD), Source: q.Source}
}

// PriceUSD is the USD price of one whole t on chain (policies.PriceSource),
// which must be the client's chain.
func (s *PriceSource) PriceUSD(ctx context.Context, chain string, t policies.Token) (policies.Price, error) {
	if chain != s.client.Chain() {
		return policies.Price{}, fmt.Errorf("uniswap: no USD price for %s on chain %s: this price source reads chain %s", priceTokenName(t), chain, s.client.Chain())
	}
	q, err := s.Quote(ctx, t)
	if err != nil {
		return policies.Price{}, err
	}
	return q.Price(), nil
}

// Quote prices t at the latest block.
func (s *PriceSource) Quote(ctx context.Context, t policies.Token) (USDQuote, error) {
	block, err := s.client.BlockNumber(ctx)
	if err != nil {
		return USDQuote{}, fmt.Errorf("uniswap: no USD price for %s: %w", priceTokenName(t), err)
	}
	return s.QuoteAt(ctx, block, t)
}

// QuoteAt prices t at block. The native coin (t.Native()) is priced as
// WETH.
func (s *PriceSource) QuoteAt(ctx context.Context, block uint64, t policies.Token) (USDQuote, error) {
	addr := common.HexToAddress(t.Address)
	if t.Native() {
		addr = s.f.WETH
	}
	for _, st := range s.stables {
		if !t.Native() && st.Address == addr {
			one := big.NewRat(1, 1)
			return USDQuote{Token: t, Block: block, USD: one, Spot: new(big.Rat).Set(one), Pegged: true,
				Source: fmt.Sprintf("pegged: %s is a configured USD stablecoin, 1 USD by definition", safeSymbol(st.Symbol, st.Address))}, nil
		}
	}
	fail := func(err error) (USDQuote, error) {
		return USDQuote{}, fmt.Errorf("uniswap: no USD price for %s: %w", priceTokenName(t), err)
	}
	switch {
	case s.window == 0:
		return fail(errZeroWindow)
	case s.minWindow() == 0:
		return fail(errors.New("minimum TWAP window of 0 seconds: it would accept an average over the last block alone, which one swap sets; configure a minimum in seconds (the window itself by default)"))
	case s.minWindow() > s.window:
		return fail(fmt.Errorf("minimum TWAP window of %ds exceeds the %ds window asked for: configure a minimum no longer than the window", s.minWindow(), s.window))
	case addr == (common.Address{}):
		return fail(errors.New("the native coin is priced as WETH, and no WETH address is configured"))
	case s.f.V3 == (common.Address{}):
		return fail(errors.New("no UniswapV3Factory is configured"))
	case len(s.stables) == 0:
		return fail(errors.New("no USD stablecoin is configured to price against"))
	}
	key := priceKey{addr, t.Decimals}
	s.mu.Lock()
	q, ok := s.cache.get(block, key)
	s.mu.Unlock()
	if ok {
		q.Token = t
		return q.clone(), nil
	}
	q, err := s.quote(ctx, block, t, addr)
	if err != nil {
		return fail(err)
	}
	s.put(block, key, q.clone())
	return q, nil
}

func (s *PriceSource) put(block uint64, key priceKey, q USDQuote) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cache.put(block, key, q)
}

// maxPriceRoutes is how many routes, deepest first, a quote tries before
// giving up on pools without enough oracle history.
const maxPriceRoutes = 4

// Roles of a candidate pool in pricing a token.
const (
	legDirect  = iota // token / stablecoin
	legToWETH         // token / WETH
	legWETHUSD        // WETH / stablecoin
)

type priceCandidate struct {
	st    *oracleState
	role  int
	quote common.Address // the leg's quote token: the stablecoin, or WETH
	depth *big.Rat       // the quote token's virtual reserve, whole units
}

// pricePair is a pair of tokens whose pools may be one leg of a price:
// a priced in b.
type pricePair struct {
	a, b common.Address
	role int
}

// priceTokens are the decimals and symbols of every token a quote may
// route through: pool prices need the decimals, the quote's source the
// symbols.
type priceTokens struct {
	decimals map[common.Address]uint8
	symbols  map[common.Address]string
}

// priceRoute is one way to price a token: its legs from the token to a
// stablecoin, and its depth in USD, its shallowest leg's.
type priceRoute struct {
	legs  []*priceCandidate
	depth *big.Rat
}

// quote prices t, at addr, at block from the chain: which pools exist,
// their states, the deepest route through them whose oracles hold enough
// history, and that route's price.
func (s *PriceSource) quote(ctx context.Context, block uint64, t policies.Token, addr common.Address) (USDQuote, error) {
	// The maps are made here and filled below, so they stay on the stack.
	toks := priceTokens{decimals: map[common.Address]uint8{}, symbols: map[common.Address]string{}}
	pairs := s.pricePairs(t, addr, toks)
	o := &oracleReader{s: s.stats, rc: s.client.RPC(), block: block}
	refs, roles, err := s.existingPools(ctx, o, pairs, toks)
	if err != nil {
		return USDQuote{}, err
	}
	states, err := o.observe(ctx, refs, s.window)
	if err != nil {
		return USDQuote{}, err
	}
	routes := priceRoutes(priceCandidates(states, roles), addr, s.f.WETH)
	legs, err := s.ripeRoute(ctx, o, routes, toks.symbols)
	if err != nil {
		return USDQuote{}, err
	}
	return s.quoteAlong(t, block, addr, legs, toks.symbols)
}

// pricePairs lists the pairs whose pools could price addr: addr against
// each stablecoin, WETH against each stablecoin, and addr against WETH;
// for WETH itself, only WETH against each stablecoin. It records every
// token's decimals and symbol in toks.
func (s *PriceSource) pricePairs(t policies.Token, addr common.Address, toks priceTokens) []pricePair {
	weth := s.f.WETH
	toks.decimals[addr] = t.Decimals
	toks.symbols[addr], toks.symbols[weth] = safeSymbol(t.Symbol, addr), "WETH"
	if weth != (common.Address{}) {
		toks.decimals[weth] = 18 // WETH9 wraps the native coin one for one
	}
	var pairs []pricePair
	for _, st := range s.stables {
		toks.decimals[st.Address], toks.symbols[st.Address] = st.Decimals, safeSymbol(st.Symbol, st.Address)
		if addr != weth {
			pairs = append(pairs, pricePair{addr, st.Address, legDirect})
		}
		if weth != (common.Address{}) {
			pairs = append(pairs, pricePair{weth, st.Address, legWETHUSD})
		}
	}
	if weth != (common.Address{}) && addr != weth {
		pairs = append(pairs, pricePair{addr, weth, legToWETH})
	}
	toks.decimals[addr] = t.Decimals
	if addr == weth {
		toks.symbols[addr] = "WETH"
	}
	return pairs
}

// existingPools asks the V3 factory, in one batch, for every pair's pool
// at every fee tier, and returns the pools that exist beside the pair each
// would price (roles[i] is refs[i]'s). ErrNoPrice when there are none.
func (s *PriceSource) existingPools(ctx context.Context, o *oracleReader, pairs []pricePair, toks priceTokens) (refs []poolRef, roles []pricePair, err error) {
	fees := s.f.V3Fees
	if fees == nil {
		fees = DefaultV3Fees
	}
	type lookup struct {
		p   pricePair
		fee uint32
		c   *batchCall
	}
	var lookups []lookup
	var calls []*batchCall
	for _, p := range pairs {
		a, b := sortTokens(p.a, p.b)
		for _, fee := range fees {
			c := &batchCall{to: s.f.V3, data: mustPack(&factoryABI, "getPool", a, b, new(big.Int).SetUint64(uint64(fee)))}
			lookups = append(lookups, lookup{p, fee, c})
			calls = append(calls, c)
		}
	}
	if err := o.batch(ctx, calls, nil); err != nil {
		return nil, nil, err
	}
	for _, l := range lookups {
		v, err := l.c.unpack(&factoryABI, "getPool")
		if err != nil {
			return nil, nil, err
		}
		pool := v[0].(common.Address)
		if pool == (common.Address{}) {
			continue
		}
		t0, t1 := sortTokens(l.p.a, l.p.b)
		refs = append(refs, poolRef{addr: pool, version: V3, fee: l.fee, token0: t0, token1: t1, dec0: toks.decimals[t0], dec1: toks.decimals[t1]})
		roles = append(roles, l.p)
	}
	if len(refs) == 0 {
		return nil, nil, ErrNoPrice
	}
	return refs, roles, nil
}

// priceCandidates groups the pools with in-range liquidity by the leg they
// could be, each group deepest first, so that among routes of equal depth
// each leg is its deepest pool. A pool that could not be read, or holds no
// liquidity in range, prices nothing.
func priceCandidates(states []*oracleState, roles []pricePair) [3][]*priceCandidate {
	var cands [3][]*priceCandidate
	for i, st := range states {
		if st.err != nil || st.price.Liquidity.Sign() == 0 {
			continue
		}
		c := &priceCandidate{st: st, role: roles[i].role, quote: roles[i].b}
		c.depth = virtualReserve(st, c.quote)
		cands[c.role] = append(cands[c.role], c)
	}
	for _, cs := range cands {
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].depth.Cmp(cs[j].depth) > 0 })
	}
	return cands
}

// priceRoutes lists the routes, deepest first: each direct pool; each pair
// of a token/WETH pool and a WETH/stablecoin pool, as deep in USD as its
// shallower leg; for WETH itself, each WETH/stablecoin pool. The token/WETH
// legs' depths are converted to USD at the deepest WETH pool's price, one
// yardstick for every route.
func priceRoutes(cands [3][]*priceCandidate, addr, weth common.Address) []priceRoute {
	var routes []priceRoute
	for _, c := range cands[legDirect] {
		routes = append(routes, priceRoute{[]*priceCandidate{c}, c.depth})
	}
	var wethPrice *big.Rat
	if len(cands[legWETHUSD]) > 0 {
		wethPrice, _ = cands[legWETHUSD][0].st.price.SpotOf(weth)
	}
	for _, w := range cands[legWETHUSD] {
		if addr == weth {
			routes = append(routes, priceRoute{[]*priceCandidate{w}, w.depth})
			continue
		}
		if wethPrice == nil {
			break
		}
		for _, c := range cands[legToWETH] {
			d := new(big.Rat).Mul(c.depth, wethPrice)
			if d.Cmp(w.depth) > 0 {
				d = w.depth
			}
			routes = append(routes, priceRoute{[]*priceCandidate{c, w}, d})
		}
	}
	sort.SliceStable(routes, func(i, j int) bool { return routes[i].depth.Cmp(routes[j].depth) > 0 })
	return routes
}

// ripeRoute returns the legs of the deepest route, among the first
// maxPriceRoutes, whose pools all hold the minimum history, with their
// TWAPs read: over a shorter window where a pool's history is shorter than
// the window but not than the minimum. A route through a pool with less (a
// young pool, or one keeping a single observation that a recent swap
// overwrote) passes to the next route; when none is left, the error names
// every pool refused and why.
func (s *PriceSource) ripeRoute(ctx context.Context, o *oracleReader, routes []priceRoute, symbols map[common.Address]string) ([]*priceCandidate, error) {
	var refused refusals
	for i := 0; i < len(routes) && i < maxPriceRoutes; i++ {
		r := routes[i]
		chosen := make([]*oracleState, len(r.legs))
		for j, l := range r.legs {
			chosen[j] = l.st
		}
		if err := o.finish(ctx, chosen); err != nil {
			return nil, err
		}
		if refused.add(r.legs, s.minWindow(), symbols) {
			return r.legs, nil
		}
	}
	return nil, refused.err(s.minWindow())
}

// quoteAlong is the price along legs, from addr to the stablecoin: the
// product of the legs' TWAPs, and of their spot prices beside it, with the
// pools named in its Source.
func (s *PriceSource) quoteAlong(t policies.Token, block uint64, addr common.Address, legs []*priceCandidate, symbols map[common.Address]string) (USDQuote, error) {
	q := USDQuote{Token: t, Block: block, USD: big.NewRat(1, 1), Spot: big.NewRat(1, 1), Requested: s.window, Window: s.window}
	from := addr
	var parts []string
	shortened := false
	for _, l := range legs {
		p := l.st.price
		twap, err := p.Of(from)
		if err != nil {
			return USDQuote{}, err
		}
		spot, err := p.SpotOf(from)
		if err != nil {
			return USDQuote{}, err
		}
		q.USD.Mul(q.USD, twap)
		q.Spot.Mul(q.Spot, spot)
		q.Legs = append(q.Legs, p)
		q.Window = min(q.Window, p.Window)
		shortened = shortened || p.Shortened()
		parts = append(parts, fmt.Sprintf("%s/%s %s%% pool %s", symbols[from], symbols[l.quote], feePercentText(p.Fee), p.Pool.Hex()))
		from = l.quote
	}
	q.Source = s.twapSource(q, parts, shortened)
	return q, nil
}

// twapSource is a quote's Source: its pools (parts, one per leg) and the
// window averaged over, once when every leg shares it, per leg when not,
// and a warning when an oracle held less history than the window asked
// for, so a reader of a decision sees how weak its price was.
func (s *PriceSource) twapSource(q USDQuote, parts []string, shortened bool) string {
	sameWindow := true
	for _, p := range q.Legs {
		sameWindow = sameWindow && p.Window == q.Legs[0].Window
	}
	var src string
	if sameWindow {
		src = fmt.Sprintf("uniswap-v3 TWAP %ds %s", q.Window, strings.Join(parts, " × "))
	} else {
		for i, p := range q.Legs {
			parts[i] += fmt.Sprintf(" over %ds", p.Window)
		}
		src = "uniswap-v3 TWAP " + strings.Join(parts, " × ")
	}
	if shortened {
		src += fmt.Sprintf(" (oracle history shorter than the %ds asked for)", s.window)
	}
	return src
}

// refusals are why the routes a quote tried could not price the token,
// each pool once: the pools whose oracle history is shorter than the
// minimum window, and other errors (a pool with no history at all, or one
// that could not be read).
type refusals struct {
	short []shortPool
	other []error
	seen  map[string]bool
}

// shortPool is a pool refused for holding held seconds of oracle history.
type shortPool struct {
	pool common.Address
	pair string // e.g. "TKN/WETH 0.3%"
	held uint32
}

// add records why the route's legs, read and finished, cannot price a
// token, and reports whether they can (none refused).
func (r *refusals) add(legs []*priceCandidate, minimum uint32, symbols map[common.Address]string) bool {
	if r.seen == nil {
		r.seen = map[string]bool{}
	}
	ok := true
	for _, l := range legs {
		st := l.st
		switch {
		case st.err != nil:
			ok = false
			if key := st.err.Error(); !r.seen[key] {
				r.seen[key] = true
				r.other = append(r.other, st.err)
			}
		case st.price.Window < minimum:
			ok = false
			if key := st.ref.addr.Hex(); !r.seen[key] {
				r.seen[key] = true
				other := st.ref.token0
				if other == l.quote {
					other = st.ref.token1
				}
				r.short = append(r.short, shortPool{st.ref.addr, fmt.Sprintf("%s/%s %s%%", symbols[other], symbols[l.quote], feePercentText(st.ref.fee)), st.price.Window})
			}
		}
	}
	return ok
}

// err is the quote's error when no route could be used, on one line:
// ErrShortOracleHistory naming each short pool, what it holds and what to
// do, then any other reasons; ErrNoPrice when no route was tried.
func (r *refusals) err(minimum uint32) error {
	var errs []error
	if len(r.short) > 0 {
		parts := make([]string, len(r.short))
		for i, p := range r.short {
			parts[i] = fmt.Sprintf("pool %s (%s) holds %ds", p.pool.Hex(), p.pair, p.held)
		}
		errs = append(errs, fmt.Errorf("%w (%ds): %s; wait until a pool's oracle covers %ds (one keeping a single observation must first grow it with increaseObservationCardinalityNext), or configure a shorter minimum window",
			ErrShortOracleHistory, minimum, strings.Join(parts, ", "), minimum))
	}
	errs = append(errs, r.other...)
	switch len(errs) {
	case 0:
		return ErrNoPrice
	case 1:
		return errs[0]
	}
	args := make([]any, len(errs))
	for i, e := range errs {
		args[i] = e
	}
	return fmt.Errorf(strings.TrimSuffix(strings.Repeat("%w; ", len(errs)), "; "), args...)
}

// virtualReserve is how much of token the pool's in-range liquidity
// stands for at its current price, in whole tokens: L·√P for token1, L/√P
// for token0 (√P = sqrtPriceX96 / 2^96).
func virtualReserve(st *oracleState, token common.Address) *big.Rat {
	l := st.price.Liquidity
	twoTo96 := new(big.Int).Lsh(big.NewInt(1), 96)
	var r *big.Rat
	if token == st.ref.token1 {
		r = new(big.Rat).SetFrac(new(big.Int).Mul(l, st.sqrtP), twoTo96)
		return r.Quo(r, new(big.Rat).SetInt(pow10(st.ref.dec1)))
	}
	r = new(big.Rat).SetFrac(new(big.Int).Mul(l, twoTo96), st.sqrtP)
	return r.Quo(r, new(big.Rat).SetInt(pow10(st.ref.dec0)))
}

// feePercentText writes a fee in hundredths of a bip as a percentage: 500 →
// "0.05".
func feePercentText(fee uint32) string {
	return policies.DecimalUnits(new(big.Int).SetUint64(uint64(fee)), 4)
}

var plainSymbol = regexp.MustCompile(`^[A-Za-z0-9.+_-]{1,16}$`)

// safeSymbol is a symbol fit to write into a Source the ledger keeps and
// a person reads: letters, digits and .+_- only, else the address. A
// token's symbol is whatever its deployer chose.
func safeSymbol(sym string, addr common.Address) string {
	if plainSymbol.MatchString(sym) {
		return sym
	}
	return addr.Hex()
}

// priceTokenName names a token in an error: its symbol when plain, and its
// address.
func priceTokenName(t policies.Token) string {
	if t.Native() {
		return safeSymbol(t.Symbol, common.Address{}) + " (native coin)"
	}
	if plainSymbol.MatchString(t.Symbol) {
		return t.Symbol + " (" + common.HexToAddress(t.Address).Hex() + ")"
	}
	return common.HexToAddress(t.Address).Hex()
}
