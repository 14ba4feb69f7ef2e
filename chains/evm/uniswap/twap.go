package uniswap

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/mandatehq/mandate/chains/evm"
)

// The V3 pool's oracle (IUniswapV3PoolDerivedState.observe and the
// observations array) and ERC-20 decimals, as the contracts declare them.
const oracleABIs = `[
{"type":"function","name":"observe","stateMutability":"view","inputs":[{"name":"secondsAgos","type":"uint32[]"}],"outputs":[{"name":"tickCumulatives","type":"int56[]"},{"name":"secondsPerLiquidityCumulativeX128s","type":"uint160[]"}]},
{"type":"function","name":"observations","stateMutability":"view","inputs":[{"name":"index","type":"uint256"}],"outputs":[{"name":"blockTimestamp","type":"uint32"},{"name":"tickCumulative","type":"int56"},{"name":"secondsPerLiquidityCumulativeX128","type":"uint160"},{"name":"initialized","type":"bool"}]},
{"type":"function","name":"decimals","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint8"}]}]`

var oracleABI = mustABI(oracleABIs)

// DefaultTWAPWindow is the averaging window PriceSource asks for: 30
// minutes, long enough that holding a pool's price away from the market
// costs an attacker many blocks of arbitrage, short enough to follow the
// market.
const DefaultTWAPWindow uint32 = 1800

// ErrNoOracleHistory says a V3 pool's oracle holds no time to average
// over: its oldest observation is from the block read, so any TWAP would be
// the spot price under another name. Growing the pool's history
// (increaseObservationCardinalityNext) and waiting for swaps fixes it.
var ErrNoOracleHistory = errors.New("uniswap: no oracle history to average over")

// Price kinds in PoolPrice.Kind.
const (
	// KindTWAP is a V3 pool's time-weighted average over PoolPrice.Window.
	KindTWAP = "twap"
	// KindSpot is a pool's price at one block (V2 reserves): one swap in
	// that block can put it anywhere, so it must not set limits alone.
	KindSpot = "spot"
)

// PoolPrice is a pool's price of token0 in token1 at one block, in whole
// tokens (decimals applied), exact. For a V3 TWAP it also carries the spot
// price of the same block, so a caller can show both.
type PoolPrice struct {
	Pool                 common.Address
	Version              int    // V2 or V3
	Fee                  uint32 // hundredths of a bip; 3000 for V2
	Token0, Token1       common.Address
	Decimals0, Decimals1 uint8
	Block                uint64
	Time                 uint64   // the block's timestamp
	Kind                 string   // KindTWAP or KindSpot
	Price                *big.Rat // whole token1 per whole token0, of Kind
	Spot                 *big.Rat // whole token1 per whole token0 at Block (slot0, or the V2 reserves)

	// V3 only.
	Requested   uint32   // the TWAP window asked for, seconds
	Window      uint32   // the window used: Requested, or less when the oracle's history is shorter
	MeanTick    int32    // the arithmetic mean tick over Window, rounded toward negative infinity
	Tick        int32    // slot0's tick at Block
	Liquidity   *big.Int // in-range liquidity at Block
	Cardinality uint16   // observations the pool keeps

	// V2 only.
	Reserve0, Reserve1 *big.Int
}

// Shortened reports whether the TWAP covers less time than was asked for
// because the pool's oracle history is shorter.
func (p PoolPrice) Shortened() bool { return p.Kind == KindTWAP && p.Window < p.Requested }

// Note says, in words, what a reader of the price must know: that it is a
// spot price, or that its window was shortened. Empty otherwise.
func (p PoolPrice) Note() string {
	switch {
	case p.Kind == KindSpot:
		return "spot price at one block (no time average): one swap can move it"
	case p.Shortened():
		return fmt.Sprintf("the oracle's history covers only %ds of the %ds asked for", p.Window, p.Requested)
	}
	return ""
}

// Of returns the price (of Kind) of one whole token in the pool's other
// token.
func (p PoolPrice) Of(token common.Address) (*big.Rat, error) { return p.orient(p.Price, token) }

// SpotOf is Of for the spot price.
func (p PoolPrice) SpotOf(token common.Address) (*big.Rat, error) { return p.orient(p.Spot, token) }

func (p PoolPrice) orient(r *big.Rat, token common.Address) (*big.Rat, error) {
	if r == nil || r.Sign() == 0 {
		return nil, fmt.Errorf("uniswap: pool %s: %w", p.Pool.Hex(), ErrZero)
	}
	switch token {
	case p.Token0:
		return new(big.Rat).Set(r), nil
	case p.Token1:
		return new(big.Rat).Inv(r), nil
	}
	return nil, fmt.Errorf("uniswap: token %s is not in pool %s", token.Hex(), p.Pool.Hex())
}

// oracleQ192 is 2^192: a Q64.96 square root, squared, over it is a price.
var oracleQ192 = new(big.Int).Lsh(big.NewInt(1), 192)

// PriceAtTick is the price of token0 in base units of token1 per base unit
// at tick, exactly as the pool's TickMath has it: getSqrtRatioAtTick's
// Q64.96 value squared over 2^192 (so within its rounding of 1.0001^tick).
func PriceAtTick(tick int32) (*big.Rat, error) {
	s, err := SqrtRatioAtTick(tick)
	if err != nil {
		return nil, err
	}
	return sqrtPriceRat(s.ToBig()), nil
}

func sqrtPriceRat(sqrtPriceX96 *big.Int) *big.Rat {
	return new(big.Rat).SetFrac(new(big.Int).Mul(sqrtPriceX96, sqrtPriceX96), oracleQ192)
}

// wholeTokens turns a price in base units (token1 per token0) into whole
// tokens: × 10^dec0 / 10^dec1.
func wholeTokens(raw *big.Rat, dec0, dec1 uint8) *big.Rat {
	scale := new(big.Rat).SetFrac(pow10(dec0), pow10(dec1))
	return scale.Mul(scale, raw)
}

func pow10(d uint8) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil) }

// MeanTick is OracleLibrary.consult's arithmetic mean tick: the tick
// cumulatives' difference over the window, rounded toward negative
// infinity.
func MeanTick(cumulativeThen, cumulativeNow *big.Int, window uint32) (int32, error) {
	if window == 0 {
		return 0, errors.New("uniswap: a mean tick over 0 seconds is undefined")
	}
	d := new(big.Int).Sub(cumulativeNow, cumulativeThen)
	d.Div(d, big.NewInt(int64(window))) // Euclidean division: the floor, for a positive divisor
	if !d.IsInt64() || d.Int64() < int64(MinTick) || d.Int64() > int64(MaxTick) {
		return 0, fmt.Errorf("uniswap: mean tick %s out of range: %w", d, ErrOverflow)
	}
	return int32(d.Int64()), nil
}

// ObserveTWAP reads a V3 pool's time-weighted average price over the last
// window seconds at the latest block: observe([window, 0]) and the mean
// tick, as OracleLibrary.consult computes it, turned into a price with
// PriceAtTick. When the pool's oracle holds less history than window (few
// observations kept, or a young pool), the longest window it holds is used
// instead and the result says so (Window < Requested, Note). A pool with no
// history at all is ErrNoOracleHistory, never a zero-second "average". The
// pool's tokens and their decimals are read from the chain.
func ObserveTWAP(ctx context.Context, c *evm.Client, pool common.Address, window uint32) (PoolPrice, error) {
	block, err := c.BlockNumber(ctx)
	if err != nil {
		return PoolPrice{}, err
	}
	return ObserveTWAPAt(ctx, c, block, pool, window)
}

// ObserveTWAPAt is ObserveTWAP with every read pinned to block.
func ObserveTWAPAt(ctx context.Context, c *evm.Client, block uint64, pool common.Address, window uint32) (PoolPrice, error) {
	if window == 0 {
		return PoolPrice{}, errZeroWindow
	}
	o := &oracleReader{s: NewStateCache(), rc: c.RPC(), block: block}
	ref, err := o.describe(ctx, pool, V3)
	if err != nil {
		return PoolPrice{}, err
	}
	states, err := o.observe(ctx, []poolRef{ref}, window)
	if err != nil {
		return PoolPrice{}, err
	}
	if states[0].err != nil {
		return PoolPrice{}, states[0].err
	}
	if err := o.finish(ctx, states); err != nil {
		return PoolPrice{}, err
	}
	if states[0].err != nil {
		return PoolPrice{}, states[0].err
	}
	return states[0].price, nil
}

var errZeroWindow = errors.New("uniswap: TWAP window of 0 seconds: that is the spot price, not an average; ask for a window in seconds, e.g. 1800")

// V2Spot reads a V2 pair's price at the latest block from its reserves.
// V2 pairs have no oracle this package reads (their cumulative prices need
// two reads far apart in time), so it is Kind "spot": one swap in the block
// can put it anywhere.
func V2Spot(ctx context.Context, c *evm.Client, pair common.Address) (PoolPrice, error) {
	block, err := c.BlockNumber(ctx)
	if err != nil {
		return PoolPrice{}, err
	}
	return V2SpotAt(ctx, c, block, pair)
}

// V2SpotAt is V2Spot at block.
func V2SpotAt(ctx context.Context, c *evm.Client, block uint64, pair common.Address) (PoolPrice, error) {
	o := &oracleReader{s: NewStateCache(), rc: c.RPC(), block: block}
	ref, err := o.describe(ctx, pair, V2)
	if err != nil {
		return PoolPrice{}, err
	}
	calls := []*batchCall{{to: pair, data: mustPack(&v2ABI, "getReserves")}}
	var ts uint64
	if err := o.batch(ctx, calls, &ts); err != nil {
		return PoolPrice{}, err
	}
	v, err := calls[0].unpack(&v2ABI, "getReserves")
	if err != nil {
		return PoolPrice{}, err
	}
	r0, r1 := v[0].(*big.Int), v[1].(*big.Int)
	if r0.Sign() == 0 || r1.Sign() == 0 {
		return PoolPrice{}, fmt.Errorf("uniswap: pair %s at block %d: %w", pair.Hex(), block, ErrInsufficientLiquidity)
	}
	spot := wholeTokens(new(big.Rat).SetFrac(r1, r0), ref.dec0, ref.dec1)
	return PoolPrice{
		Pool: pair, Version: V2, Fee: 3000, Token0: ref.token0, Token1: ref.token1, Decimals0: ref.dec0, Decimals1: ref.dec1,
		Block: block, Time: ts, Kind: KindSpot, Price: spot, Spot: new(big.Rat).Set(spot),
		Reserve0: r0, Reserve1: r1,
	}, nil
}

// poolRef is a pool whose tokens and their decimals are known.
type poolRef struct {
	addr           common.Address
	version        int
	fee            uint32
	token0, token1 common.Address
	dec0, dec1     uint8
}

// oracleReader reads pools' oracles at one block in JSON-RPC batches.
type oracleReader struct {
	s     *StateCache // counts calls and batches
	rc    *rpc.Client
	block uint64
}

// batch sends calls as eth_calls at the reader's block, MaxBatch to a
// JSON-RPC batch; with ts it also reads the block's timestamp in the first
// batch.
func (o *oracleReader) batch(ctx context.Context, calls []*batchCall, ts *uint64) error {
	tag := hexutil.EncodeUint64(o.block)
	var head struct {
		Timestamp *hexutil.Uint64 `json:"timestamp"`
	}
	size := max(MaxBatch, 1)
	for start := 0; start < len(calls) || (start == 0 && ts != nil); start += size {
		chunk := calls[min(start, len(calls)):min(len(calls), start+size)]
		elems := make([]rpc.BatchElem, 0, len(chunk)+1)
		for _, c := range chunk {
			elems = append(elems, rpc.BatchElem{
				Method: "eth_call",
				Args:   []any{map[string]any{"to": c.to, "data": hexutil.Bytes(c.data)}, tag},
				Result: &c.out,
			})
		}
		if start == 0 && ts != nil {
			elems = append(elems, rpc.BatchElem{Method: "eth_getBlockByNumber", Args: []any{tag, false}, Result: &head})
		}
		o.s.batches.Add(1)
		o.s.calls.Add(int64(len(elems)))
		if err := o.rc.BatchCallContext(ctx, elems); err != nil {
			return fmt.Errorf("uniswap: batch of %d calls at block %d: %w", len(elems), o.block, err)
		}
		for i, c := range chunk {
			if elems[i].Error != nil {
				c.err = fmt.Errorf("uniswap: eth_call %s at block %d: %w", c.to.Hex(), o.block, elems[i].Error)
			}
		}
		if start == 0 && ts != nil {
			e := elems[len(elems)-1]
			if e.Error != nil {
				return fmt.Errorf("uniswap: block %d: %w", o.block, e.Error)
			}
			if head.Timestamp == nil {
				return fmt.Errorf("uniswap: block %d is not known to the node", o.block)
			}
			*ts = uint64(*head.Timestamp)
		}
	}
	return nil
}

// describe reads a pool's tokens (and a V3 pool's fee), then the tokens'
// decimals.
func (o *oracleReader) describe(ctx context.Context, pool common.Address, version int) (poolRef, error) {
	a := &v3ABI
	if version == V2 {
		a = &v2ABI
	}
	calls := []*batchCall{{to: pool, data: mustPack(a, "token0")}, {to: pool, data: mustPack(a, "token1")}}
	if version == V3 {
		calls = append(calls, &batchCall{to: pool, data: mustPack(&v3ABI, "fee")})
	}
	if err := o.batch(ctx, calls, nil); err != nil {
		return poolRef{}, err
	}
	ref := poolRef{addr: pool, version: version, fee: 3000}
	for i, dst := range []*common.Address{&ref.token0, &ref.token1} {
		v, err := calls[i].unpack(a, []string{"token0", "token1"}[i])
		if err != nil {
			return poolRef{}, fmt.Errorf("uniswap: %s is not a V%d pool: %w", pool.Hex(), version, err)
		}
		*dst = v[0].(common.Address)
	}
	if version == V3 {
		v, err := calls[2].unpack(&v3ABI, "fee")
		if err != nil {
			return poolRef{}, fmt.Errorf("uniswap: %s is not a V3 pool: %w", pool.Hex(), err)
		}
		ref.fee = uint32(v[0].(*big.Int).Uint64())
	}
	dec := []*batchCall{{to: ref.token0, data: mustPack(&oracleABI, "decimals")}, {to: ref.token1, data: mustPack(&oracleABI, "decimals")}}
	if err := o.batch(ctx, dec, nil); err != nil {
		return poolRef{}, err
	}
	for i, dst := range []*uint8{&ref.dec0, &ref.dec1} {
		v, err := dec[i].unpack(&oracleABI, "decimals")
		if err != nil {
			return poolRef{}, fmt.Errorf("uniswap: pool %s: token decimals(): %w", pool.Hex(), err)
		}
		*dst = v[0].(uint8)
	}
	return ref, nil
}

// oracleState is one V3 pool read by observe: its price once finish has
// run, and what finish needs when the first observe asked for more history
// than the pool has.
type oracleState struct {
	ref        poolRef
	price      PoolPrice
	err        error    // the pool cannot be read as a V3 pool (not initialized)
	sqrtP      *big.Int // slot0's sqrtPriceX96
	index      uint16
	oldest0    uint32 // observations(0).blockTimestamp
	observeErr error  // observe([window, 0]) failed: the history is shorter, or worse
}

// observe reads, in one batch at the reader's block, every pool's slot0,
// liquidity, observations(0) and observe([window, 0]), and the block's
// timestamp. Pools whose observe succeeded have their price; the others
// need finish, except those with err set, which have no price at all.
func (o *oracleReader) observe(ctx context.Context, refs []poolRef, window uint32) ([]*oracleState, error) {
	if window == 0 {
		return nil, errZeroWindow
	}
	secondsAgos := []uint32{window, 0}
	calls := make([]*batchCall, 0, 4*len(refs))
	for _, r := range refs {
		calls = append(calls,
			&batchCall{to: r.addr, data: mustPack(&v3ABI, "slot0")},
			&batchCall{to: r.addr, data: mustPack(&v3ABI, "liquidity")},
			&batchCall{to: r.addr, data: mustPack(&oracleABI, "observations", big.NewInt(0))},
			&batchCall{to: r.addr, data: mustPack(&oracleABI, "observe", secondsAgos)},
		)
	}
	var ts uint64
	if err := o.batch(ctx, calls, &ts); err != nil {
		return nil, err
	}
	out := make([]*oracleState, len(refs))
	for i, r := range refs {
		st := &oracleState{ref: r}
		out[i] = st
		p := &st.price
		*p = PoolPrice{Pool: r.addr, Version: V3, Fee: r.fee, Token0: r.token0, Token1: r.token1, Decimals0: r.dec0, Decimals1: r.dec1,
			Block: o.block, Time: ts, Kind: KindTWAP, Requested: window}
		v, err := calls[4*i].unpack(&v3ABI, "slot0")
		if err != nil {
			return nil, err
		}
		sqrtP := v[0].(*big.Int)
		p.Tick = int32(v[1].(*big.Int).Int64())
		st.index, p.Cardinality = v[2].(uint16), v[3].(uint16)
		if sqrtP.Sign() == 0 || p.Cardinality == 0 {
			st.err = fmt.Errorf("uniswap: pool %s is not initialized (no price yet)", r.addr.Hex())
			continue
		}
		st.sqrtP = sqrtP
		p.Spot = wholeTokens(sqrtPriceRat(sqrtP), r.dec0, r.dec1)
		if v, err = calls[4*i+1].unpack(&v3ABI, "liquidity"); err != nil {
			return nil, err
		}
		p.Liquidity = v[0].(*big.Int)
		if v, err = calls[4*i+2].unpack(&oracleABI, "observations"); err != nil {
			return nil, err
		}
		st.oldest0 = v[0].(uint32)
		if v, err = calls[4*i+3].unpack(&oracleABI, "observe"); err != nil {
			st.observeErr = err
			continue
		}
		if err := p.setMean(v[0].([]*big.Int), window); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// setMean sets the TWAP from observe's tick cumulatives over window.
func (p *PoolPrice) setMean(cumulatives []*big.Int, window uint32) error {
	if len(cumulatives) != 2 {
		return fmt.Errorf("uniswap: pool %s answered observe with %d tick cumulatives, not 2", p.Pool.Hex(), len(cumulatives))
	}
	mean, err := MeanTick(cumulatives[0], cumulatives[1], window)
	if err != nil {
		return fmt.Errorf("uniswap: pool %s: %w", p.Pool.Hex(), err)
	}
	raw, err := PriceAtTick(mean)
	if err != nil {
		return err
	}
	p.Window, p.MeanTick, p.Price = window, mean, wholeTokens(raw, p.Decimals0, p.Decimals1)
	return nil
}

// finish completes the pools whose observe asked for more history than
// they hold: it reads their oldest observation as OracleLibrary's
// getOldestObservationSecondsAgo does (the slot after the current index,
// or slot 0 while the ring has not wrapped), and observes again over that
// window. A pool whose history is empty gets err ErrNoOracleHistory; one
// whose observe failed for another reason gets that error. The error
// returned is the node's: a batch that could not be sent.
func (o *oracleReader) finish(ctx context.Context, states []*oracleState) error {
	var short []*oracleState
	var calls []*batchCall
	for _, st := range states {
		if st.err == nil && st.price.Price == nil {
			short = append(short, st)
			next := (uint64(st.index) + 1) % uint64(st.price.Cardinality)
			calls = append(calls, &batchCall{to: st.ref.addr, data: mustPack(&oracleABI, "observations", new(big.Int).SetUint64(next))})
		}
	}
	if len(short) == 0 {
		return nil
	}
	if err := o.batch(ctx, calls, nil); err != nil {
		return err
	}
	var again []*batchCall
	var retry []*oracleState
	var windows []uint32
	for i, st := range short {
		v, err := calls[i].unpack(&oracleABI, "observations")
		if err != nil {
			st.err = err
			continue
		}
		oldest := v[0].(uint32)
		if !v[3].(bool) {
			oldest = st.oldest0
		}
		avail := uint32(st.price.Time) - oldest // uint32 arithmetic, as the pool's timestamps wrap
		switch {
		case avail == 0:
			st.err = fmt.Errorf("%w: pool %s's oldest observation is from block %d itself; a TWAP needs earlier ones (increaseObservationCardinalityNext, then swaps over time)",
				ErrNoOracleHistory, st.ref.addr.Hex(), o.block)
		case avail >= st.price.Requested: // observe failed for another reason
			st.err = st.observeErr
		default:
			retry, windows = append(retry, st), append(windows, avail)
			again = append(again, &batchCall{to: st.ref.addr, data: mustPack(&oracleABI, "observe", []uint32{avail, 0})})
		}
	}
	if err := o.batch(ctx, again, nil); err != nil {
		return err
	}
	for i, st := range retry {
		v, err := again[i].unpack(&oracleABI, "observe")
		if err == nil {
			err = st.price.setMean(v[0].([]*big.Int), windows[i])
		}
		st.err = err
	}
	return nil
}
