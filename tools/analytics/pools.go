package analytics

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// Flow is how much of one token swaps moved through a pool, in token
// units, exact: In was paid into the pool, Out paid out of it, Volume is
// both.
type Flow struct {
	In     string `json:"in"`
	Out    string `json:"out"`
	Volume string `json:"volume"`
	in     *big.Int
	out    *big.Int
}

func newFlow() Flow { return Flow{in: new(big.Int), out: new(big.Int)} }

func (f *Flow) add(in, out *big.Int) {
	f.in.Add(f.in, in)
	f.out.Add(f.out, out)
}

func (f *Flow) finish(decimals uint8) {
	f.In, f.Out = policies.DecimalUnits(f.in, decimals), policies.DecimalUnits(f.out, decimals)
	f.Volume = policies.DecimalUnits(new(big.Int).Add(f.in, f.out), decimals)
}

// PoolStat is one pool of pool_stats. Amounts are token units, exact.
type PoolStat struct {
	Address    string `json:"address"`
	Protocol   string `json:"protocol"` // uniswap-v2 or uniswap-v3
	FeePercent string `json:"fee_percent"`
	Liquidity  string `json:"liquidity,omitempty"` // V3: in-range liquidity, raw
	ReserveA   string `json:"reserve_a,omitempty"` // V2: the pair's reserves
	ReserveB   string `json:"reserve_b,omitempty"`
	HeldA      string `json:"held_a"` // the pool's balance of token_a
	HeldB      string `json:"held_b"`
	Price      string `json:"price"` // token_b per token_a at the pool's current (spot) price
	Swaps      int    `json:"swaps"`
	VolumeA    Flow   `json:"volume_a"`
	VolumeB    Flow   `json:"volume_b"`
}

// PoolStats is pool_stats' answer.
type PoolStats struct {
	TokenA    string     `json:"token_a"`
	AddressA  string     `json:"address_a"`
	TokenB    string     `json:"token_b"`
	AddressB  string     `json:"address_b"`
	Block     uint64     `json:"block"` // pool state read here
	FromBlock uint64     `json:"from_block"`
	ToBlock   uint64     `json:"to_block"`
	Pools     []PoolStat `json:"pools"`
	Swaps     int        `json:"swaps"`
	VolumeA   Flow       `json:"volume_a"`
	VolumeB   Flow       `json:"volume_b"`
}

func (k *kit) poolStats(ctx context.Context, a struct {
	TokenA string `json:"token_a"`
	TokenB string `json:"token_b"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "pool_stats"
	if err := tools.Require(name, "token_a", a.TokenA, "token_b", a.TokenB); err != nil {
		return tools.Result{}, err
	}
	f := k.cfg.factories
	if f.V2 == (common.Address{}) && f.V3 == (common.Address{}) {
		return tools.Result{}, fmt.Errorf("no Uniswap factories are configured for chain %d: pool statistics are not available here", k.chain)
	}
	var toks [2]policies.Token
	var addrs [2]common.Address
	var labels [2]string
	for i, s := range []string{a.TokenA, a.TokenB} {
		arg := []string{"token_a", "token_b"}[i]
		t, err := k.resolve(ctx, name, arg, s)
		if err != nil {
			return tools.Result{}, err
		}
		if t.Native() { // pools hold WETH
			if k.weth() == (common.Address{}) {
				return tools.Result{}, tools.Argf(name, "%s: ETH itself is in no pool and no WETH address is configured; give WETH's address", arg)
			}
			t = policies.Token{Symbol: "WETH", Address: k.weth().Hex(), Decimals: 18}
		}
		toks[i], addrs[i], labels[i] = t, common.HexToAddress(t.Address), k.meta(ctx, common.HexToAddress(t.Address)).label()
	}
	if addrs[0] == addrs[1] {
		return tools.Result{}, tools.Argf(name, "token_a and token_b are the same token (%s); give two different tokens", addrs[0].Hex())
	}

	f.V3Words = 1 // statistics need no tick map beyond the current word
	g, err := (&uniswap.Discoverer{Client: k.c, Factories: f, Cache: uniswap.NewStateCache()}).Discover(ctx, addrs[:])
	if err != nil {
		return tools.Result{}, err
	}
	pools := g.PoolsBetween(addrs[0], addrs[1])
	sort.SliceStable(pools, func(i, j int) bool {
		if pools[i].Version != pools[j].Version {
			return pools[i].Version < pools[j].Version
		}
		return pools[i].Fee < pools[j].Fee
	})
	out := PoolStats{TokenA: toks[0].Symbol, AddressA: addrs[0].Hex(), TokenB: toks[1].Symbol, AddressB: addrs[1].Hex(),
		Block: g.Block, ToBlock: g.Block, Pools: []PoolStat{}, VolumeA: newFlow(), VolumeB: newFlow()}
	if g.Block+1 > k.cfg.blocks {
		out.FromBlock = g.Block + 1 - k.cfg.blocks
	}
	if len(pools) == 0 {
		return tools.Result{
			Text: fmt.Sprintf("No Uniswap pool holds %s and %s on chain %d.", labels[0], labels[1], k.chain),
			Data: out,
		}, nil
	}

	// The pools' swaps over the range, in pages.
	var poolAddrs []common.Address
	index := map[common.Address]int{}
	stats := make([]PoolStat, len(pools))
	for i, p := range pools {
		poolAddrs = append(poolAddrs, p.Address)
		index[p.Address] = i
		stats[i] = PoolStat{Address: p.Address.Hex(), Protocol: fmt.Sprintf("uniswap-v%d", p.Version), FeePercent: feePercent(p.Fee),
			VolumeA: newFlow(), VolumeB: newFlow()}
	}
	logs, err := k.c.ScanLogs(ctx, ethereum.FilterQuery{
		FromBlock: new(big.Int).SetUint64(out.FromBlock), ToBlock: new(big.Int).SetUint64(out.ToBlock),
		Addresses: poolAddrs, Topics: [][]common.Hash{{topicV2Swap, topicV3Swap}},
	}, k.cfg.page, k.progressTo(name))
	if err != nil {
		return tools.Result{}, err
	}
	for i := range logs {
		l := &logs[i]
		j, ok := index[l.Address]
		if !ok || l.Removed {
			continue
		}
		fl, ok := readSwap(l)
		if !ok || fl.version != pools[j].Version {
			continue
		}
		// token0 is the lower address; a is token0 when it sorts first.
		var in0, out0, in1, out1 *big.Int
		if fl.version == uniswap.V2 {
			in0, out0 = v2Gross(l, 0)
			in1, out1 = v2Gross(l, 1)
		} else {
			in0, out0 = split(fl.amount0)
			in1, out1 = split(fl.amount1)
		}
		s := &stats[j]
		s.Swaps++
		if pools[j].Token0 == addrs[0] {
			s.VolumeA.add(in0, out0)
			s.VolumeB.add(in1, out1)
		} else {
			s.VolumeA.add(in1, out1)
			s.VolumeB.add(in0, out0)
		}
	}

	// State at the graph's block, and the text.
	var lines []string
	for i, p := range pools {
		s := &stats[i]
		heldA, err := k.c.TokenBalance(ctx, addrs[0], p.Address)
		if err != nil {
			return tools.Result{}, err
		}
		heldB, err := k.c.TokenBalance(ctx, addrs[1], p.Address)
		if err != nil {
			return tools.Result{}, err
		}
		s.HeldA, s.HeldB = policies.DecimalUnits(heldA, toks[0].Decimals), policies.DecimalUnits(heldB, toks[1].Decimals)
		price := poolPrice(p, addrs[0], toks[0].Decimals, toks[1].Decimals)
		var depth string
		if price != nil {
			s.Price = ratDecimal(price, 18)
		}
		if p.Version == uniswap.V2 {
			ra, rb := p.V2.Reserve0.ToBig(), p.V2.Reserve1.ToBig()
			if p.Token0 != addrs[0] {
				ra, rb = rb, ra
			}
			s.ReserveA, s.ReserveB = policies.DecimalUnits(ra, toks[0].Decimals), policies.DecimalUnits(rb, toks[1].Decimals)
			depth = fmt.Sprintf("reserves %s %s and %s %s", policies.FormatUnits(ra, toks[0].Decimals), labels[0], policies.FormatUnits(rb, toks[1].Decimals), labels[1])
		} else {
			s.Liquidity = p.V3.Liquidity.Dec()
			depth = "in-range liquidity " + s.Liquidity
		}
		s.VolumeA.finish(toks[0].Decimals)
		s.VolumeB.finish(toks[1].Decimals)
		out.Swaps += s.Swaps
		out.VolumeA.add(s.VolumeA.in, s.VolumeA.out)
		out.VolumeB.add(s.VolumeB.in, s.VolumeB.out)
		priceText := "no price"
		if price != nil {
			// Said the way people quote it: the dearer token in the cheaper
			// ("3,000 USDC per WETH", not "0.000333 WETH per USDC").
			if price.Cmp(big.NewRat(1, 1)) < 0 && price.Sign() > 0 {
				priceText = fmt.Sprintf("%s %s per %s", ratDecimal(new(big.Rat).Inv(price), 6), labels[0], labels[1])
			} else {
				priceText = fmt.Sprintf("%s %s per %s", ratDecimal(price, 6), labels[1], labels[0])
			}
		}
		lines = append(lines, fmt.Sprintf("V%d %s%% %s: %s; holds %s %s and %s %s; price %s; %d swaps, volume %s %s and %s %s",
			p.Version, s.FeePercent, p.Address.Hex(), depth,
			policies.FormatUnits(heldA, toks[0].Decimals), labels[0], policies.FormatUnits(heldB, toks[1].Decimals), labels[1],
			priceText, s.Swaps, policies.FormatUnits(new(big.Int).Add(s.VolumeA.in, s.VolumeA.out), toks[0].Decimals), labels[0],
			policies.FormatUnits(new(big.Int).Add(s.VolumeB.in, s.VolumeB.out), toks[1].Decimals), labels[1]))
	}
	out.Pools = stats
	out.VolumeA.finish(toks[0].Decimals)
	out.VolumeB.finish(toks[1].Decimals)
	text := fmt.Sprintf("%d Uniswap pool(s) of %s and %s at block %d, with %d swaps over blocks %d..%d:\n- %s",
		len(pools), labels[0], labels[1], out.Block, out.Swaps, out.FromBlock, out.ToBlock, strings.Join(lines, "\n- "))
	return tools.Result{Text: text, Data: out}, nil
}

// split turns a signed pool flow into what went in and what came out.
func split(v *big.Int) (in, out *big.Int) {
	if v.Sign() >= 0 {
		return new(big.Int).Set(v), new(big.Int)
	}
	return new(big.Int), new(big.Int).Neg(v)
}

// poolPrice is a pool's current price of whole token a in whole token b,
// from V2 reserves or V3's sqrtPriceX96; nil when the pool is empty.
func poolPrice(p *uniswap.Pool, a common.Address, decA, decB uint8) *big.Rat {
	var r *big.Rat // token1 per token0, base units
	switch {
	case p.Version == uniswap.V2 && p.V2 != nil && !p.V2.Reserve0.IsZero() && !p.V2.Reserve1.IsZero():
		r = new(big.Rat).SetFrac(p.V2.Reserve1.ToBig(), p.V2.Reserve0.ToBig())
	case p.Version == uniswap.V3 && p.V3 != nil && !p.V3.SqrtPriceX96.IsZero():
		s := p.V3.SqrtPriceX96.ToBig()
		r = new(big.Rat).SetFrac(new(big.Int).Mul(s, s), new(big.Int).Lsh(big.NewInt(1), 192))
	default:
		return nil
	}
	if p.Token0 != a {
		r.Inv(r)
	}
	return r.Mul(r, new(big.Rat).SetFrac(pow10(decA), pow10(decB)))
}

// ratDecimal writes r with at most dec decimals, rounded, without
// trailing zeros.
func ratDecimal(r *big.Rat, dec int) string {
	s := r.FloatString(dec)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}
