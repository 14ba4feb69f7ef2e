package uniswap

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
	"github.com/holiman/uint256"
)

// MaxBatch is the most eth_calls sent in one JSON-RPC batch; larger sets
// are split. Public endpoints often cap batches at 100 to 1,000 requests.
var MaxBatch = 200

// CacheBlocks is how many blocks a StateCache keeps; when a newer block
// arrives the oldest is dropped.
var CacheBlocks = 4

// stateKey names one cached read at one block: a pool's state (kind
// kindV2/kindV3, addr = pool) or a factory lookup (kind kindPair/kindPool,
// addr = factory, a/b the sorted tokens, fee the V3 tier).
type stateKey struct {
	chain string
	kind  uint8
	addr  common.Address
	a, b  common.Address
	fee   uint32
}

const (
	kindPair uint8 = iota + 1
	kindPoolAddr
	kindV2
	kindV3
)

// StateCacheStats counts what a StateCache saved and what it sent.
type StateCacheStats struct {
	Hits    int64 // reads answered from the cache
	Misses  int64 // reads that went to the node
	Calls   int64 // eth_calls sent
	Batches int64 // JSON-RPC batches sent
}

// StateCache holds pool state and factory lookups per (chain, block): a read
// repeated at the same block costs no RPC call. Values are snapshots and
// must not be modified. It is safe for concurrent use.
type StateCache struct {
	mu     sync.Mutex
	blocks perBlock[stateKey, any]

	hits, misses, calls, batches atomic.Int64
}

// NewStateCache returns an empty cache.
func NewStateCache() *StateCache { return &StateCache{blocks: perBlock[stateKey, any]{}} }

// Stats reports the cache's counters since it was made.
func (s *StateCache) Stats() StateCacheStats {
	return StateCacheStats{Hits: s.hits.Load(), Misses: s.misses.Load(), Calls: s.calls.Load(), Batches: s.batches.Load()}
}

func (s *StateCache) get(block uint64, k stateKey) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.blocks.get(block, k)
	if ok {
		s.hits.Add(1)
	} else {
		s.misses.Add(1)
	}
	return v, ok
}

func (s *StateCache) put(block uint64, k stateKey, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks.put(block, k, v)
}

// perBlock keeps values by block, for the newest CacheBlocks blocks: state
// read at a block never changes, and only recent blocks are asked about
// again. A block older than all it keeps is not cached. Callers lock.
type perBlock[K comparable, V any] map[uint64]map[K]V

func (c perBlock[K, V]) get(block uint64, k K) (V, bool) {
	v, ok := c[block][k]
	return v, ok
}

func (c perBlock[K, V]) put(block uint64, k K, v V) {
	m, ok := c[block]
	if !ok {
		m = map[K]V{}
		c[block] = m
		for len(c) > max(CacheBlocks, 1) {
			oldest := block
			for b := range c {
				oldest = min(oldest, b)
			}
			delete(c, oldest)
		}
		if _, ok := c[block]; !ok {
			return
		}
	}
	m[k] = v
}

// batchCall is one eth_call in a batch.
type batchCall struct {
	to   common.Address
	data []byte
	out  hexutil.Bytes
	err  error
}

// batch sends the calls as eth_call at block, MaxBatch to a JSON-RPC batch.
// A transport failure fails the whole batch; a call that reverts has its
// own err.
func (s *StateCache) batch(ctx context.Context, rc *rpc.Client, block uint64, calls []*batchCall) error {
	tag := hexutil.EncodeUint64(block)
	for start := 0; start < len(calls); start += max(MaxBatch, 1) {
		chunk := calls[start:min(len(calls), start+max(MaxBatch, 1))]
		elems := make([]rpc.BatchElem, len(chunk))
		for i, c := range chunk {
			elems[i] = rpc.BatchElem{
				Method: "eth_call",
				Args:   []any{map[string]any{"to": c.to, "data": hexutil.Bytes(c.data)}, tag},
				Result: &c.out,
			}
		}
		s.batches.Add(1)
		s.calls.Add(int64(len(chunk)))
		if err := rc.BatchCallContext(ctx, elems); err != nil {
			return fmt.Errorf("uniswap: eth_call batch of %d at block %d: %w", len(chunk), block, err)
		}
		for i, c := range chunk {
			if elems[i].Error != nil {
				c.err = fmt.Errorf("uniswap: eth_call %s at block %d: %w", c.to.Hex(), block, elems[i].Error)
			}
		}
	}
	return nil
}

// unpack decodes a batch call's result for method, or returns its error.
func (c *batchCall) unpack(a interface {
	Unpack(string, []byte) ([]any, error)
}, method string) ([]any, error) {
	if c.err != nil {
		return nil, c.err
	}
	v, err := a.Unpack(method, c.out)
	if err != nil {
		return nil, fmt.Errorf("uniswap: %s.%s: unpack %d bytes: %w", c.to.Hex(), method, len(c.out), err)
	}
	return v, nil
}

func mustPack(a interface {
	Pack(string, ...any) ([]byte, error)
}, method string, args ...any) []byte {
	b, err := a.Pack(method, args...)
	if err != nil {
		panic(err) // the methods and arguments are this package's own
	}
	return b
}

// fetchV3Batched reads V3 pools' swap state at block in three batched
// rounds (slot0, liquidity and tick spacing; the bitmap words within words
// of the current one; the initialized ticks in them): the same state as
// FetchV3Pool, all from one block.
func (s *StateCache) fetchV3Batched(ctx context.Context, rc *rpc.Client, block uint64, pools []common.Address, fees []uint32, words int) ([]*V3Pool, error) {
	out := make([]*V3Pool, len(pools))
	var calls []*batchCall
	for i, addr := range pools {
		out[i] = &V3Pool{Fee: fees[i], Ticks: map[int32]TickInfo{}, Bitmap: map[int16]*uint256.Int{}}
		for _, m := range []string{"slot0", "liquidity", "tickSpacing"} {
			calls = append(calls, &batchCall{to: addr, data: mustPack(&v3ABI, m)})
		}
	}
	if err := s.batch(ctx, rc, block, calls); err != nil {
		return nil, err
	}
	type wordRef struct {
		pool int
		word int16
	}
	var wordCalls []*batchCall
	var wordRefs []wordRef
	for i, p := range out {
		v, err := calls[3*i].unpack(&v3ABI, "slot0")
		if err != nil {
			return nil, err
		}
		if p.SqrtPriceX96, err = u256(v[0].(*big.Int)); err != nil {
			return nil, err
		}
		p.Tick = int32(v[1].(*big.Int).Int64())
		if v, err = calls[3*i+1].unpack(&v3ABI, "liquidity"); err != nil {
			return nil, err
		}
		if p.Liquidity, err = u256(v[0].(*big.Int)); err != nil {
			return nil, err
		}
		if v, err = calls[3*i+2].unpack(&v3ABI, "tickSpacing"); err != nil {
			return nil, err
		}
		p.TickSpacing = int32(v[0].(*big.Int).Int64())
		if p.TickSpacing <= 0 {
			return nil, fmt.Errorf("uniswap: pool %s: tick spacing %d", pools[i].Hex(), p.TickSpacing)
		}
		compressed := p.Tick / p.TickSpacing
		if p.Tick < 0 && p.Tick%p.TickSpacing != 0 {
			compressed--
		}
		centre := int(compressed >> 8)
		minWord := int((MinTick/p.TickSpacing)>>8) - 1
		maxWord := int((MaxTick/p.TickSpacing)>>8) + 1
		for w := max(centre-words, minWord); w <= min(centre+words, maxWord); w++ {
			wordCalls = append(wordCalls, &batchCall{to: pools[i], data: mustPack(&v3ABI, "tickBitmap", int16(w))})
			wordRefs = append(wordRefs, wordRef{i, int16(w)})
		}
	}
	if err := s.batch(ctx, rc, block, wordCalls); err != nil {
		return nil, err
	}
	type tickRef struct {
		pool int
		tick int32
	}
	var tickCalls []*batchCall
	var tickRefs []tickRef
	for j, c := range wordCalls {
		v, err := c.unpack(&v3ABI, "tickBitmap")
		if err != nil {
			return nil, err
		}
		word, err := u256(v[0].(*big.Int))
		if err != nil {
			return nil, err
		}
		r := wordRefs[j]
		p := out[r.pool]
		p.Bitmap[r.word] = word
		for b := 0; b < 256; b++ {
			if word[b/64]&(1<<(b%64)) == 0 {
				continue
			}
			tick := (int32(r.word)*256 + int32(b)) * p.TickSpacing
			tickCalls = append(tickCalls, &batchCall{to: pools[r.pool], data: mustPack(&v3ABI, "ticks", big.NewInt(int64(tick)))})
			tickRefs = append(tickRefs, tickRef{r.pool, tick})
		}
	}
	if err := s.batch(ctx, rc, block, tickCalls); err != nil {
		return nil, err
	}
	for j, c := range tickCalls {
		v, err := c.unpack(&v3ABI, "ticks")
		if err != nil {
			return nil, err
		}
		r := tickRefs[j]
		out[r.pool].Ticks[r.tick] = TickInfo{LiquidityNet: v[1].(*big.Int)}
	}
	return out, nil
}
