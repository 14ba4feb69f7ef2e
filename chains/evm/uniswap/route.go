package uniswap

import (
	"errors"
	"fmt"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"
)

// ErrNoRoute means no path of pools joins the two tokens within the hop
// limit. A route that exists but cannot take the amount fails with
// ErrInsufficientLiquidity instead.
var ErrNoRoute = errors.New("uniswap: no route")

// Gas per hop that Best charges a route, rough figures for a swap through
// the routers: the exact figure depends on the router, on storage
// warmth and on the tokens' transfer code. They only have to rank routes.
var (
	GasV2Hop     uint64 = 60_000
	GasV3Hop     uint64 = 80_000
	GasV3Tick    uint64 = 10_000 // per initialized tick a V3 swap crosses
	MaxRouteHops        = 3      // the most hops Best searches; at most MaxHopsCap
)

// Hop is one swap of a route.
type Hop struct {
	Pool              common.Address
	Version           int    // V2 or V3
	Fee               uint32 // hundredths of a bip
	TokenIn, TokenOut common.Address
	AmountIn          *uint256.Int
	AmountOut         *uint256.Int
	Gas               uint64 // the hop's share of GasEstimate
}

// Route is the best path Best found, with the exact output of each hop.
type Route struct {
	Hops        []Hop
	AmountIn    *uint256.Int
	AmountOut   *uint256.Int // the last hop's output
	GasEstimate uint64       // sum of the hops' gas (GasV2Hop, GasV3Hop, GasV3Tick)
	// GasCost is GasEstimate at the graph's GasPrice in units of the output
	// token (zero when gas is not priced); Best maximizes AmountOut−GasCost.
	GasCost *uint256.Int
}

// quote is one hop's exact output and gas.
func (p *Pool) quote(tokenIn common.Address, amountIn *uint256.Int) (*uint256.Int, uint64, error) {
	switch p.Version {
	case V2:
		out, err := p.V2.AmountOut(tokenIn, amountIn)
		return out, GasV2Hop, err
	case V3:
		q, err := p.V3.Quote(tokenIn == p.Token0, amountIn, nil)
		if err != nil {
			return nil, 0, err
		}
		if !q.AmountIn.Eq(amountIn) {
			// The price reached the end of the range before the input
			// was spent: the pool cannot take the whole amount.
			return nil, 0, fmt.Errorf("uniswap: V3 pool %s takes only %s of %s: %w", p.Address.Hex(), q.AmountIn, amountIn, ErrInsufficientLiquidity)
		}
		return q.AmountOut, GasV3Hop + GasV3Tick*uint64(q.TicksCrossed), nil
	}
	return nil, 0, fmt.Errorf("uniswap: pool %s: unknown version %d", p.Address.Hex(), p.Version)
}

// Best finds the route from tokenIn to tokenOut, over at most maxHops pools
// (1 to 3; 0 means 3) with no token visited twice, that gives the most
// tokenOut for amountIn net of gas. Every path is quoted exactly with the
// pools' math at the graph's block.
//
// Gas is priced in tokenOut as GasEstimate × GasPrice × (tokenOut per ETH).
// The ETH price is an approximation read from the graph itself: the mid
// price (V2 reserves ratio, V3 slot0 price) of the WETH/tokenOut pool with
// the most tokenOut on hand (V2 reserve, V3 virtual reserve L·√P), 1:1 when
// tokenOut is WETH. When the graph has no WETH/tokenOut pool, or GasPrice or
// WETH is unset, gas is not priced and the best gross output wins.
//
// Errors: ErrNoRoute when no path joins the tokens; ErrInsufficientLiquidity
// (or the failing quote's own error) when paths exist but none can swap the
// amount into a non-zero output.
func (g *Graph) Best(tokenIn, tokenOut common.Address, amountIn *uint256.Int, maxHops int) (Route, error) {
	limit := min(max(MaxRouteHops, 1), MaxHopsCap)
	if maxHops <= 0 || maxHops > limit {
		maxHops = limit
	}
	if amountIn == nil || amountIn.IsZero() {
		return Route{}, fmt.Errorf("uniswap: route of zero amount: %w", ErrInsufficientInputAmount)
	}
	if tokenIn == tokenOut {
		return Route{}, fmt.Errorf("uniswap: route from %s to itself: %w", tokenIn.Hex(), ErrNoRoute)
	}
	amountIn = new(uint256.Int).Set(amountIn)
	s := search{g: g, out: tokenOut, maxHops: maxHops, gasCost: g.gasCoster(tokenOut)}
	s.visited = map[common.Address]bool{tokenIn: true}
	s.walk(tokenIn, amountIn, 0, 0)
	if s.best == nil {
		if !s.anyPath {
			return Route{}, fmt.Errorf("uniswap: %s to %s within %d hops: %w", tokenIn.Hex(), tokenOut.Hex(), maxHops, ErrNoRoute)
		}
		if s.lastErr != nil && !errors.Is(s.lastErr, ErrInsufficientLiquidity) {
			return Route{}, fmt.Errorf("uniswap: no route from %s to %s can swap %s: %w (%w)", tokenIn.Hex(), tokenOut.Hex(), amountIn, ErrInsufficientLiquidity, s.lastErr)
		}
		return Route{}, fmt.Errorf("uniswap: no route from %s to %s can swap %s: %w", tokenIn.Hex(), tokenOut.Hex(), amountIn, ErrInsufficientLiquidity)
	}
	r := Route{Hops: s.best, AmountIn: amountIn, AmountOut: s.bestOut, GasEstimate: s.bestGas, GasCost: s.bestCost}
	return r, nil
}

type search struct {
	g       *Graph
	out     common.Address
	maxHops int
	gasCost func(gas uint64) *uint256.Int
	visited map[common.Address]bool
	path    [MaxHopsCap]Hop

	best              []Hop
	bestOut, bestCost *uint256.Int
	bestGas           uint64
	anyPath           bool
	lastErr           error
}

// MaxHopsCap bounds MaxRouteHops.
const MaxHopsCap = 8

func (s *search) walk(token common.Address, amount *uint256.Int, depth int, gas uint64) {
	last := depth == s.maxHops-1
	for next, pools := range s.g.adj[token] {
		if s.visited[next] || (last && next != s.out) {
			continue
		}
		if next != s.out && len(s.g.adj[next]) < 2 {
			continue // a dead end: only the pool we came through
		}
		for _, p := range pools {
			if next == s.out {
				s.anyPath = true
			}
			out, hopGas, err := p.quote(token, amount)
			if err == nil && out.IsZero() {
				err = fmt.Errorf("uniswap: pool %s gives nothing for %s: %w", p.Address.Hex(), amount, ErrInsufficientOutputAmount)
			}
			if err != nil {
				s.lastErr = err
				if next != s.out {
					s.markPaths(next, depth+1)
				}
				continue
			}
			s.path[depth] = Hop{Pool: p.Address, Version: p.Version, Fee: p.Fee, TokenIn: token, TokenOut: next, AmountIn: amount, AmountOut: out, Gas: hopGas}
			if next == s.out {
				s.consider(depth+1, out, gas+hopGas)
				continue
			}
			s.visited[next] = true
			s.walk(next, out, depth+1, gas+hopGas)
			s.visited[next] = false
		}
	}
}

// markPaths records whether a path from token reaches the output within
// the hops left, when a quote on the way failed: that makes the failure
// ErrInsufficientLiquidity rather than ErrNoRoute.
func (s *search) markPaths(token common.Address, depth int) {
	if s.anyPath || depth >= s.maxHops {
		return
	}
	if len(s.g.adj[token][s.out]) > 0 {
		s.anyPath = true
		return
	}
	s.visited[token] = true
	for next := range s.g.adj[token] {
		if !s.visited[next] {
			s.markPaths(next, depth+1)
		}
	}
	s.visited[token] = false
}

func (s *search) consider(n int, out *uint256.Int, gas uint64) {
	cost := s.gasCost(gas)
	if s.best != nil {
		// out − cost > bestOut − bestCost  ⇔  out + bestCost > bestOut + cost
		var l, r uint256.Int
		_, o1 := l.AddOverflow(out, s.bestCost)
		_, o2 := r.AddOverflow(s.bestOut, cost)
		better := l.Gt(&r) // both sums wrapped or neither: the wrapped values compare alike
		if o1 != o2 {
			better = o1
		}
		if !better {
			return
		}
	}
	s.best = append(s.best[:0:0], s.path[:n]...)
	s.bestOut, s.bestCost, s.bestGas = out, cost, gas
}

// GasCost is what Best charges a route of the given gas ending in tokenOut,
// in tokenOut's units (see Best for the approximation).
func (g *Graph) GasCost(tokenOut common.Address, gas uint64) *uint256.Int {
	return g.gasCoster(tokenOut)(gas)
}

// gasCoster returns gas → cost in tokenOut units (see Best).
func (g *Graph) gasCoster(tokenOut common.Address) func(uint64) *uint256.Int {
	zero := func(uint64) *uint256.Int { return new(uint256.Int) }
	if g.GasPrice == nil || g.GasPrice.IsZero() || g.WETH == (common.Address{}) {
		return zero
	}
	wei := func(gas uint64) *uint256.Int {
		var w uint256.Int
		w.SetUint64(gas)
		if _, o := w.MulOverflow(&w, g.GasPrice); o {
			w.SetAllOne()
		}
		return &w
	}
	if tokenOut == g.WETH {
		return wei
	}
	var best *Pool
	var depth *uint256.Int
	for _, p := range g.adj[g.WETH][tokenOut] {
		d := p.depth(tokenOut)
		if d != nil && !d.IsZero() && (depth == nil || d.Gt(depth)) {
			best, depth = p, d
		}
	}
	if best == nil {
		return zero
	}
	return func(gas uint64) *uint256.Int {
		c, err := best.convert(g.WETH, wei(gas))
		if err != nil {
			return new(uint256.Int).SetAllOne()
		}
		return c
	}
}

// depth is how much of token the pool holds at its price: the V2 reserve,
// or the V3 virtual reserve of the active liquidity (L·√P for token1,
// L/√P for token0).
func (p *Pool) depth(token common.Address) *uint256.Int {
	switch {
	case p.Version == V2 && token == p.Token0:
		return p.V2.Reserve0
	case p.Version == V2:
		return p.V2.Reserve1
	case p.V3.SqrtPriceX96.IsZero():
		return nil
	case token == p.Token1:
		d, _ := MulDiv(p.V3.Liquidity, p.V3.SqrtPriceX96, q96)
		return d
	default:
		d, _ := MulDiv(p.V3.Liquidity, q96, p.V3.SqrtPriceX96)
		return d
	}
}

// convert values amount of token `from` in the pool's other token at its
// mid price, rounding down.
func (p *Pool) convert(from common.Address, amount *uint256.Int) (*uint256.Int, error) {
	if p.Version == V2 {
		rIn, rOut := p.V2.Reserve0, p.V2.Reserve1
		if from == p.Token1 {
			rIn, rOut = rOut, rIn
		}
		if rIn.IsZero() {
			return nil, ErrInsufficientLiquidity
		}
		return MulDiv(amount, rOut, rIn)
	}
	sp := p.V3.SqrtPriceX96
	if from == p.Token0 { // token1 per token0 = P = sp²/2¹⁹²
		x, err := MulDiv(amount, sp, q96)
		if err != nil {
			return nil, err
		}
		return MulDiv(x, sp, q96)
	}
	x, err := MulDiv(amount, q96, sp)
	if err != nil {
		return nil, err
	}
	return MulDiv(x, q96, sp)
}
