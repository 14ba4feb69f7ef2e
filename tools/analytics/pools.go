package analytics

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

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

// poolStats is the pool_stats tool: every Uniswap pool of two tokens, with
// its depth, holdings, price and swap volume over the last blocks.
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
	pair, err := k.resolvePair(ctx, name, a.TokenA, a.TokenB)
	if err != nil {
		return tools.Result{}, err
	}
	g, pools, err := k.pairPools(ctx, f, pair)
	if err != nil {
		return tools.Result{}, err
	}
	out := PoolStats{TokenA: pair.toks[0].Symbol, AddressA: pair.addrs[0].Hex(), TokenB: pair.toks[1].Symbol, AddressB: pair.addrs[1].Hex(),
		Block: g.Block, ToBlock: g.Block, Pools: []PoolStat{}, VolumeA: newFlow(), VolumeB: newFlow()}
	if g.Block+1 > k.cfg.blocks {
		out.FromBlock = g.Block + 1 - k.cfg.blocks
	}
	if len(pools) == 0 {
		return tools.Result{
			Text: fmt.Sprintf("No Uniswap pool holds %s and %s on chain %d.", pair.labels[0], pair.labels[1], k.chain),
			Data: out,
		}, nil
	}
	stats, err := k.swapVolumes(ctx, name, out.FromBlock, out.ToBlock, pools, pair.addrs[0])
	if err != nil {
		return tools.Result{}, err
	}
	lines := make([]string, 0, len(pools))
	for i, p := range pools {
		s := &stats[i]
		line, err := k.poolState(ctx, p, s, pair)
		if err != nil {
			return tools.Result{}, err
		}
		out.Swaps += s.Swaps
		out.VolumeA.add(s.VolumeA.in, s.VolumeA.out)
		out.VolumeB.add(s.VolumeB.in, s.VolumeB.out)
		lines = append(lines, line)
	}
	out.Pools = stats
	out.VolumeA.finish(pair.toks[0].Decimals)
	out.VolumeB.finish(pair.toks[1].Decimals)
	text := fmt.Sprintf("%d Uniswap pool(s) of %s and %s at block %d, with %d swaps over blocks %d..%d:\n- %s",
		len(pools), pair.labels[0], pair.labels[1], out.Block, out.Swaps, out.FromBlock, out.ToBlock, strings.Join(lines, "\n- "))
	return tools.Result{Text: text, Data: out}, nil
}

// poolPair is the two tokens pool_stats compares, as pools hold them, with
// the labels its text names them by.
type poolPair struct {
	toks   [2]policies.Token
	addrs  [2]common.Address
	labels [2]string
}

// resolvePair resolves token_a and token_b. ETH becomes WETH, since pools hold
// the wrapped coin, and the same token twice is refused: a pool has two.
func (k *kit) resolvePair(ctx context.Context, name, tokenA, tokenB string) (poolPair, error) {
	var pair poolPair
	for i, s := range []string{tokenA, tokenB} {
		arg := []string{"token_a", "token_b"}[i]
		t, err := k.resolve(ctx, name, arg, s)
		if err != nil {
			return poolPair{}, err
		}
		if t.Native() { // pools hold WETH
			if k.weth() == (common.Address{}) {
				return poolPair{}, tools.Argf(name, "%s: ETH itself is in no pool and no WETH address is configured; give WETH's address", arg)
			}
			t = policies.Token{Symbol: "WETH", Address: k.weth().Hex(), Decimals: 18}
		}
		pair.toks[i], pair.addrs[i], pair.labels[i] = t, common.HexToAddress(t.Address), k.meta(ctx, common.HexToAddress(t.Address)).label()
	}
	if pair.addrs[0] == pair.addrs[1] {
		return poolPair{}, tools.Argf(name, "token_a and token_b are the same token (%s); give two different tokens", pair.addrs[0].Hex())
	}
	return pair, nil
}

// pairPools discovers the pools of the pair at the chain head, V2 before
// V3 and by fee tier within each, so the answer lists them in a stable
// order. It reads no tick map beyond the current word: statistics need
// none.
func (k *kit) pairPools(ctx context.Context, f uniswap.Factories, pair poolPair) (*uniswap.Graph, []*uniswap.Pool, error) {
	f.V3Words = 1
	g, err := (&uniswap.Discoverer{Client: k.c, Factories: f, Cache: uniswap.NewStateCache()}).Discover(ctx, pair.addrs[:])
	if err != nil {
		return nil, nil, err
	}
	pools := g.PoolsBetween(pair.addrs[0], pair.addrs[1])
	sort.SliceStable(pools, func(i, j int) bool {
		if pools[i].Version != pools[j].Version {
			return pools[i].Version < pools[j].Version
		}
		return pools[i].Fee < pools[j].Fee
	})
	return g, pools, nil
}

// swapVolumes starts each pool's PoolStat (stats[i] is pools[i]'s) with its
// swaps over blocks from..to, read in pages: their number, and each side's
// flow in and out under the token it moved (a is token_a, whichever of
// token0 and token1 it is).
func (k *kit) swapVolumes(ctx context.Context, name string, from, to uint64, pools []*uniswap.Pool, a common.Address) ([]PoolStat, error) {
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
		FromBlock: new(big.Int).SetUint64(from), ToBlock: new(big.Int).SetUint64(to),
		Addresses: poolAddrs, Topics: [][]common.Hash{{topicV2Swap, topicV3Swap}},
	}, k.cfg.page, k.progressTo(name))
	if err != nil {
		return nil, err
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
		in0, out0, in1, out1 := swapSides(l, fl)
		s := &stats[j]
		s.Swaps++
		if pools[j].Token0 == a { // token0 is the lower address
			s.VolumeA.add(in0, out0)
			s.VolumeB.add(in1, out1)
		} else {
			s.VolumeA.add(in1, out1)
			s.VolumeB.add(in0, out0)
		}
	}
	return stats, nil
}

// swapSides is what one swap paid into and out of its pool in token0 and
// token1. A V2 swap's event gives both directions gross; a V3 swap's gives
// one signed amount per token.
func swapSides(l *types.Log, fl swapFlow) (in0, out0, in1, out1 *big.Int) {
	if fl.version == uniswap.V2 {
		in0, out0 = v2Gross(l, 0)
		in1, out1 = v2Gross(l, 1)
		return in0, out0, in1, out1
	}
	in0, out0 = split(fl.amount0)
	in1, out1 = split(fl.amount1)
	return in0, out0, in1, out1
}

// poolState fills in the pool's state at the graph's block (what it holds
// of each token, its price, its reserves or in-range liquidity), finishes
// its volumes, and returns its line of the answer's text.
func (k *kit) poolState(ctx context.Context, p *uniswap.Pool, s *PoolStat, pair poolPair) (string, error) {
	toks, addrs, labels := pair.toks, pair.addrs, pair.labels
	heldA, err := k.c.TokenBalance(ctx, addrs[0], p.Address)
	if err != nil {
		return "", err
	}
	heldB, err := k.c.TokenBalance(ctx, addrs[1], p.Address)
	if err != nil {
		return "", err
	}
	s.HeldA, s.HeldB = policies.DecimalUnits(heldA, toks[0].Decimals), policies.DecimalUnits(heldB, toks[1].Decimals)
	price := poolPrice(p, addrs[0], toks[0].Decimals, toks[1].Decimals)
	if price != nil {
		s.Price = ratDecimal(price, 18)
	}
	var depth string
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
	return fmt.Sprintf("V%d %s%% %s: %s; holds %s %s and %s %s; price %s; %d swaps, volume %s %s and %s %s",
		p.Version, s.FeePercent, p.Address.Hex(), depth,
		policies.FormatUnits(heldA, toks[0].Decimals), labels[0], policies.FormatUnits(heldB, toks[1].Decimals), labels[1],
		priceText(price, labels), s.Swaps, policies.FormatUnits(new(big.Int).Add(s.VolumeA.in, s.VolumeA.out), toks[0].Decimals), labels[0],
		policies.FormatUnits(new(big.Int).Add(s.VolumeB.in, s.VolumeB.out), toks[1].Decimals), labels[1]), nil
}

// priceText says a pool's price the way people quote it: the dearer token
// in the cheaper ("3,000 USDC per WETH", not "0.000333 WETH per USDC").
// price is token b per token a; nil is "no price".
func priceText(price *big.Rat, labels [2]string) string {
	switch {
	case price == nil:
		return "no price"
	case price.Cmp(big.NewRat(1, 1)) < 0 && price.Sign() > 0:
		return fmt.Sprintf("%s %s per %s", ratDecimal(new(big.Rat).Inv(price), 6), labels[0], labels[1])
	}
	return fmt.Sprintf("%s %s per %s", ratDecimal(price, 6), labels[1], labels[0])
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
