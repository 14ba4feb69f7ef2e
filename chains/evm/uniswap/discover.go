package uniswap

import (
	"bytes"
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"

	"github.com/mandatehq/mandate/chains/evm"
)

const factoryABIs = `[
{"type":"function","name":"getPair","stateMutability":"view","inputs":[{"name":"tokenA","type":"address"},{"name":"tokenB","type":"address"}],"outputs":[{"name":"pair","type":"address"}]},
{"type":"function","name":"getPool","stateMutability":"view","inputs":[{"name":"tokenA","type":"address"},{"name":"tokenB","type":"address"},{"name":"fee","type":"uint24"}],"outputs":[{"name":"pool","type":"address"}]}]`

var factoryABI = mustABI(factoryABIs)

// DefaultV3Fees are the fee tiers UniswapV3Factory enables at deployment.
var DefaultV3Fees = []uint32{100, 500, 3000, 10000}

// DefaultV3Words is how many tick bitmap words on each side of the current
// one Discover reads for a V3 pool when Factories.V3Words is zero. A quote
// that walks beyond them fails with ErrStateIncomplete and the route
// search skips that pool for that amount.
var DefaultV3Words = 8

// Factories says where to look for pools.
type Factories struct {
	V2     common.Address // UniswapV2Factory; zero: no V2 pools
	V3     common.Address // UniswapV3Factory; zero: no V3 pools
	V3Fees []uint32       // fee tiers to ask getPool for; nil: DefaultV3Fees
	// WETH is the wrapped native token, used to price gas in the output
	// token (see Graph.Best). Zero: gas is not priced.
	WETH common.Address
	// V3Words is FetchV3Pool's words; zero: DefaultV3Words.
	V3Words int
}

// Protocol versions in Pool.Version and Hop.Version.
const (
	V2 = 2
	V3 = 3
)

// Pool is one pool of a Graph: a V2 pair or a V3 pool with its state at
// the graph's block.
type Pool struct {
	Address        common.Address
	Version        int    // V2 or V3
	Fee            uint32 // hundredths of a bip; 3000 for V2
	Token0, Token1 common.Address
	V2             *V2Pair // set when Version is V2
	V3             *V3Pool // set when Version is V3
}

// Other returns the pool's other token.
func (p *Pool) Other(t common.Address) common.Address {
	if t == p.Token0 {
		return p.Token1
	}
	return p.Token0
}

// Graph is the pools among a set of tokens with their state, all read at
// one block, and what Best needs to route through them.
type Graph struct {
	Block uint64
	Pools []*Pool
	// WETH prices gas in the output token; zero: gas is not priced.
	WETH common.Address
	// GasPrice in wei per gas makes Best choose the route with the best
	// output net of gas; nil or zero: the best gross output.
	GasPrice *uint256.Int

	adj map[common.Address]map[common.Address][]*Pool // token → other token → pools
}

// NewGraph builds a graph over the given pools; Discover uses it, and so
// can callers with pool state from elsewhere (a test, a simulation).
func NewGraph(block uint64, weth common.Address, pools []*Pool) *Graph {
	g := &Graph{Block: block, WETH: weth, Pools: pools, adj: map[common.Address]map[common.Address][]*Pool{}}
	for _, p := range pools {
		g.link(p.Token0, p.Token1, p)
		g.link(p.Token1, p.Token0, p)
	}
	return g
}

func (g *Graph) link(a, b common.Address, p *Pool) {
	m, ok := g.adj[a]
	if !ok {
		m = map[common.Address][]*Pool{}
		g.adj[a] = m
	}
	m[b] = append(m[b], p)
}

// PoolsBetween returns the graph's pools of the pair a/b.
func (g *Graph) PoolsBetween(a, b common.Address) []*Pool { return g.adj[a][b] }

// Discoverer finds pools through the factories and reads their state in
// JSON-RPC batches at one block, caching per block.
type Discoverer struct {
	Client    *evm.Client
	Factories Factories
	Cache     *StateCache // nil: a cache of its own, made on first use
}

var defaultCache = NewStateCache()

// Discover finds every V2 pair and V3 pool (in Factories.V3Fees) among
// every pair of tokens and reads their state at the latest block, all in
// batched eth_calls pinned to that block, so the graph never mixes blocks.
// Reads are cached per block in a package-wide cache: a second Discover at
// the same block sends no eth_call (only eth_blockNumber).
func Discover(ctx context.Context, c *evm.Client, f Factories, tokens []common.Address) (*Graph, error) {
	return (&Discoverer{Client: c, Factories: f, Cache: defaultCache}).Discover(ctx, tokens)
}

// Discover is the package's Discover with the Discoverer's cache.
func (d *Discoverer) Discover(ctx context.Context, tokens []common.Address) (*Graph, error) {
	block, err := d.Client.BlockNumber(ctx)
	if err != nil {
		return nil, err
	}
	return d.DiscoverAt(ctx, block, tokens)
}

// Refresh discovers again over the tokens of g's pools at the latest block.
// At g's block it is answered from the cache.
func (d *Discoverer) Refresh(ctx context.Context, g *Graph) (*Graph, error) {
	var tokens []common.Address
	seen := map[common.Address]bool{}
	for _, p := range g.Pools {
		for _, t := range []common.Address{p.Token0, p.Token1} {
			if !seen[t] {
				seen[t] = true
				tokens = append(tokens, t)
			}
		}
	}
	ng, err := d.Discover(ctx, tokens)
	if err != nil {
		return nil, err
	}
	ng.GasPrice = g.GasPrice
	return ng, nil
}

// DiscoverAt is Discover at a given block.
func (d *Discoverer) DiscoverAt(ctx context.Context, block uint64, tokens []common.Address) (*Graph, error) {
	if d.Cache == nil {
		d.Cache = NewStateCache()
	}
	r := discovery{cache: d.Cache, rc: d.Client.RPC(), chain: d.Client.Chain(), block: block}
	lookups, err := r.lookupPools(ctx, d.Factories, distinctTokens(tokens))
	if err != nil {
		return nil, err
	}
	pools, v2Missing, v3Missing := r.cachedPools(lookups)
	if err := r.readV2(ctx, v2Missing); err != nil {
		return nil, err
	}
	words := d.Factories.V3Words
	if words == 0 {
		words = DefaultV3Words
	}
	if err := r.readV3(ctx, v3Missing, words); err != nil {
		return nil, err
	}
	return NewGraph(block, d.Factories.WETH, pools), nil
}

// discovery is one DiscoverAt: the cache it reads through, the chain and
// the block every read is pinned to.
type discovery struct {
	cache *StateCache
	rc    *rpc.Client
	chain string
	block uint64
}

// distinctTokens drops repeats and the zero address, which no pool holds,
// so each pair is looked up once.
func distinctTokens(tokens []common.Address) []common.Address {
	uniq := make([]common.Address, 0, len(tokens))
	seen := map[common.Address]bool{}
	for _, t := range tokens {
		if t != (common.Address{}) && !seen[t] {
			seen[t] = true
			uniq = append(uniq, t)
		}
	}
	return uniq
}

// poolLookup is one factory lookup, a V2 getPair or a V3 getPool, and the
// pool address it found (zero: no such pool).
type poolLookup struct {
	key  stateKey
	call *batchCall // nil when the address came from the cache
	addr common.Address
}

// lookupPools asks the factories for the V2 pair and every V3 fee tier's
// pool of every pair of tokens, in one batch, except what the cache
// already knows at block; it caches what it learns.
func (r discovery) lookupPools(ctx context.Context, f Factories, tokens []common.Address) ([]*poolLookup, error) {
	s, chain, block := r.cache, r.chain, r.block
	fees := f.V3Fees
	if fees == nil {
		fees = DefaultV3Fees
	}
	var lookups []*poolLookup
	var calls []*batchCall
	add := func(k stateKey, data []byte) {
		l := &poolLookup{key: k}
		if v, ok := s.get(block, k); ok {
			l.addr = v.(common.Address)
		} else {
			l.call = &batchCall{to: k.addr, data: data}
			calls = append(calls, l.call)
		}
		lookups = append(lookups, l)
	}
	for i := range tokens {
		for j := i + 1; j < len(tokens); j++ {
			a, b := sortTokens(tokens[i], tokens[j])
			if f.V2 != (common.Address{}) {
				add(stateKey{chain: chain, kind: kindPair, addr: f.V2, a: a, b: b}, mustPack(&factoryABI, "getPair", a, b))
			}
			if f.V3 != (common.Address{}) {
				for _, fee := range fees {
					add(stateKey{chain: chain, kind: kindPoolAddr, addr: f.V3, a: a, b: b, fee: fee}, mustPack(&factoryABI, "getPool", a, b, new(big.Int).SetUint64(uint64(fee))))
				}
			}
		}
	}
	if err := s.batch(ctx, r.rc, block, calls); err != nil {
		return nil, err
	}
	for _, l := range lookups {
		if l.call == nil {
			continue
		}
		method := "getPair"
		if l.key.kind == kindPoolAddr {
			method = "getPool"
		}
		v, err := l.call.unpack(&factoryABI, method)
		if err != nil {
			return nil, err
		}
		l.addr = v[0].(common.Address)
		s.put(block, l.key, l.addr)
	}
	return lookups, nil
}

// cachedPools makes a Pool of every lookup that found one, with its state
// when the cache has it at the block; the pools without are returned
// apart, by version, to be read in a batch each.
func (r discovery) cachedPools(lookups []*poolLookup) (pools, v2Missing, v3Missing []*Pool) {
	chain := r.chain
	for _, l := range lookups {
		if l.addr == (common.Address{}) {
			continue
		}
		p := &Pool{Address: l.addr, Token0: l.key.a, Token1: l.key.b, Fee: 3000, Version: V2}
		k := stateKey{chain: chain, kind: kindV2, addr: l.addr}
		if l.key.kind == kindPoolAddr {
			p.Version, p.Fee, k.kind = V3, l.key.fee, kindV3
		}
		if v, ok := r.cache.get(r.block, k); ok {
			switch st := v.(type) {
			case *V2Pair:
				p.V2 = st
			case *V3Pool:
				p.V3 = st
			}
		} else if p.Version == V2 {
			v2Missing = append(v2Missing, p)
		} else {
			v3Missing = append(v3Missing, p)
		}
		pools = append(pools, p)
	}
	return pools, v2Missing, v3Missing
}

// readV2 reads the reserves of V2 pairs at the block in one batch, sets
// each pool's state and caches it.
func (r discovery) readV2(ctx context.Context, pools []*Pool) error {
	if len(pools) == 0 {
		return nil
	}
	s, chain, block := r.cache, r.chain, r.block
	calls := make([]*batchCall, len(pools))
	for i, p := range pools {
		calls[i] = &batchCall{to: p.Address, data: mustPack(&v2ABI, "getReserves")}
	}
	if err := s.batch(ctx, r.rc, block, calls); err != nil {
		return err
	}
	for i, p := range pools {
		v, err := calls[i].unpack(&v2ABI, "getReserves")
		if err != nil {
			return err
		}
		pair := &V2Pair{Address: p.Address, Token0: p.Token0, Token1: p.Token1}
		if pair.Reserve0, err = u256(v[0].(*big.Int)); err != nil {
			return err
		}
		if pair.Reserve1, err = u256(v[1].(*big.Int)); err != nil {
			return err
		}
		p.V2 = pair
		s.put(block, stateKey{chain: chain, kind: kindV2, addr: p.Address}, pair)
	}
	return nil
}

// readV3 reads V3 pools' swap state at the block in batches (within words
// tick bitmap words of the current one), sets each pool's state and
// caches it.
func (r discovery) readV3(ctx context.Context, pools []*Pool, words int) error {
	if len(pools) == 0 {
		return nil
	}
	s, chain, block := r.cache, r.chain, r.block
	addrs := make([]common.Address, len(pools))
	fees := make([]uint32, len(pools))
	for i, p := range pools {
		addrs[i], fees[i] = p.Address, p.Fee
	}
	states, err := s.fetchV3Batched(ctx, r.rc, block, addrs, fees, words)
	if err != nil {
		return err
	}
	for i, p := range pools {
		p.V3 = states[i]
		s.put(block, stateKey{chain: chain, kind: kindV3, addr: p.Address}, states[i])
	}
	return nil
}

// sortTokens orders two tokens as the factories do (token0 < token1).
func sortTokens(a, b common.Address) (common.Address, common.Address) {
	if bytes.Compare(a[:], b[:]) > 0 {
		return b, a
	}
	return a, b
}

func (p *Pool) String() string {
	return fmt.Sprintf("V%d %s (%s/%s, fee %d)", p.Version, p.Address.Hex(), p.Token0.Hex(), p.Token1.Hex(), p.Fee)
}
