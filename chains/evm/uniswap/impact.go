package uniswap

import (
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
)

var q192 = new(big.Int).Lsh(big.NewInt(1), 192)

// MidPrice is the pool's marginal price of tokenIn in base units of the
// other token, before fees: what an infinitesimal swap would get. V2:
// the reserves' ratio; V3: slot0's price.
func (p *Pool) MidPrice(tokenIn common.Address) (*big.Rat, error) {
	var num, den *big.Int
	switch {
	case p.Version == V2 && p.V2 != nil:
		num, den = p.V2.Reserve1.ToBig(), p.V2.Reserve0.ToBig()
	case p.Version == V3 && p.V3 != nil:
		s := p.V3.SqrtPriceX96.ToBig()
		num, den = new(big.Int).Mul(s, s), q192
	default:
		return nil, fmt.Errorf("uniswap: pool %s has no state", p.Address.Hex())
	}
	if num.Sign() == 0 || den.Sign() == 0 {
		return nil, fmt.Errorf("uniswap: pool %s: %w", p.Address.Hex(), ErrZero)
	}
	r := new(big.Rat).SetFrac(num, den) // token1 per token0
	switch tokenIn {
	case p.Token0:
		return r, nil
	case p.Token1:
		return r.Inv(r), nil
	}
	return nil, fmt.Errorf("uniswap: token %s is not in pool %s", tokenIn.Hex(), p.Address.Hex())
}

// PriceImpact is how much less the route gives than its pools' mid prices
// promise, with their fees taken out: 1 − out / (in × Π mid × Π (1−fee)).
// It is the part of the price a trade's own size costs, the figure
// Uniswap's interface shows; zero for an infinitesimal trade. The pools'
// states are looked up in g, the graph the route was found in.
func (r Route) PriceImpact(g *Graph) (*big.Rat, error) {
	if len(r.Hops) == 0 || r.AmountIn == nil || r.AmountIn.IsZero() {
		return nil, fmt.Errorf("uniswap: PriceImpact: empty route")
	}
	ideal := new(big.Rat).SetInt(r.AmountIn.ToBig())
	for _, h := range r.Hops {
		var pool *Pool
		for _, p := range g.Pools {
			if p.Address == h.Pool {
				pool = p
				break
			}
		}
		if pool == nil {
			return nil, fmt.Errorf("uniswap: PriceImpact: pool %s is not in the graph", h.Pool.Hex())
		}
		mid, err := pool.MidPrice(h.TokenIn)
		if err != nil {
			return nil, err
		}
		ideal.Mul(ideal, mid)
		ideal.Mul(ideal, big.NewRat(int64(1_000_000-h.Fee), 1_000_000))
	}
	got := new(big.Rat).SetInt(r.AmountOut.ToBig())
	return new(big.Rat).Sub(big.NewRat(1, 1), got.Quo(got, ideal)), nil
}
