package uniswap

import (
	"context"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/policies"
)

// The view functions read here, as the pools' ABIs declare them. They are
// spelled out rather than loaded from the devnet's artifacts because this
// package reads real chains, and the devnet sits below it in the package layers.
const (
	v2PairABI = `[
{"type":"function","name":"getReserves","stateMutability":"view","inputs":[],"outputs":[{"name":"reserve0","type":"uint112"},{"name":"reserve1","type":"uint112"},{"name":"blockTimestampLast","type":"uint32"}]},
{"type":"function","name":"token0","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"address"}]},
{"type":"function","name":"token1","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"address"}]}]`
	v3PoolABI = `[
{"type":"function","name":"slot0","stateMutability":"view","inputs":[],"outputs":[{"name":"sqrtPriceX96","type":"uint160"},{"name":"tick","type":"int24"},{"name":"observationIndex","type":"uint16"},{"name":"observationCardinality","type":"uint16"},{"name":"observationCardinalityNext","type":"uint16"},{"name":"feeProtocol","type":"uint8"},{"name":"unlocked","type":"bool"}]},
{"type":"function","name":"liquidity","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint128"}]},
{"type":"function","name":"fee","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint24"}]},
{"type":"function","name":"tickSpacing","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"int24"}]},
{"type":"function","name":"token0","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"address"}]},
{"type":"function","name":"token1","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"address"}]},
{"type":"function","name":"tickBitmap","stateMutability":"view","inputs":[{"name":"wordPosition","type":"int16"}],"outputs":[{"name":"","type":"uint256"}]},
{"type":"function","name":"ticks","stateMutability":"view","inputs":[{"name":"tick","type":"int24"}],"outputs":[{"name":"liquidityGross","type":"uint128"},{"name":"liquidityNet","type":"int128"},{"name":"feeGrowthOutside0X128","type":"uint256"},{"name":"feeGrowthOutside1X128","type":"uint256"},{"name":"tickCumulativeOutside","type":"int56"},{"name":"secondsPerLiquidityOutsideX128","type":"uint160"},{"name":"secondsOutside","type":"uint32"},{"name":"initialized","type":"bool"}]}]`
)

var (
	v2ABI = mustABI(v2PairABI)
	v3ABI = mustABI(v3PoolABI)
)

func mustABI(s string) abi.ABI {
	a, err := abi.JSON(strings.NewReader(s))
	if err != nil {
		panic(err)
	}
	return a
}

// call packs, eth_calls and unpacks one view function.
func call(ctx context.Context, c *evm.Client, a *abi.ABI, to common.Address, method string, args ...any) ([]any, error) {
	data, err := a.Pack(method, args...)
	if err != nil {
		return nil, fmt.Errorf("uniswap: pack %s: %w", method, err)
	}
	out, err := c.Call(ctx, common.Address{}, policies.Call{To: to.Hex(), Value: new(big.Int), Data: data})
	if err != nil {
		return nil, fmt.Errorf("uniswap: %s.%s: %w", to.Hex(), method, err)
	}
	vals, err := a.Unpack(method, out)
	if err != nil {
		return nil, fmt.Errorf("uniswap: %s.%s: unpack %d bytes: %w", to.Hex(), method, len(out), err)
	}
	return vals, nil
}

func u256(b *big.Int) (*uint256.Int, error) {
	z, o := uint256.FromBig(b)
	if o || b.Sign() < 0 {
		return nil, fmt.Errorf("uniswap: %s does not fit uint256: %w", b, ErrOverflow)
	}
	return z, nil
}

// V2Pair is a snapshot of a Uniswap V2 pair's reserves.
type V2Pair struct {
	Address        common.Address
	Token0, Token1 common.Address
	Reserve0       *uint256.Int
	Reserve1       *uint256.Int
}

// AmountOut quotes swapping amountIn of tokenIn through the pair, as
// Router02.getAmountsOut does for a one-hop path.
func (p *V2Pair) AmountOut(tokenIn common.Address, amountIn *uint256.Int) (*uint256.Int, error) {
	switch tokenIn {
	case p.Token0:
		return V2AmountOut(amountIn, p.Reserve0, p.Reserve1)
	case p.Token1:
		return V2AmountOut(amountIn, p.Reserve1, p.Reserve0)
	}
	return nil, fmt.Errorf("uniswap: token %s is not in pair %s", tokenIn.Hex(), p.Address.Hex())
}

// FetchV2Pair reads a V2 pair's tokens and reserves.
func FetchV2Pair(ctx context.Context, c *evm.Client, pair common.Address) (*V2Pair, error) {
	p := &V2Pair{Address: pair}
	for _, tk := range []struct {
		m   string
		dst *common.Address
	}{{"token0", &p.Token0}, {"token1", &p.Token1}} {
		v, err := call(ctx, c, &v2ABI, pair, tk.m)
		if err != nil {
			return nil, err
		}
		*tk.dst = v[0].(common.Address)
	}
	v, err := call(ctx, c, &v2ABI, pair, "getReserves")
	if err != nil {
		return nil, err
	}
	if p.Reserve0, err = u256(v[0].(*big.Int)); err != nil {
		return nil, err
	}
	if p.Reserve1, err = u256(v[1].(*big.Int)); err != nil {
		return nil, err
	}
	return p, nil
}

// FetchV3Pool reads a V3 pool's swap state: slot0, liquidity, fee, tick
// spacing, the tick bitmap words within words of the current tick's word on
// each side, and every initialized tick in them. Quotes that would leave
// those words fail with ErrStateIncomplete rather than guess.
//
// The reads are separate eth_calls at the latest block; on a chain that
// moves between them the snapshot can mix blocks.
func FetchV3Pool(ctx context.Context, c *evm.Client, pool common.Address, words int) (*V3Pool, error) {
	if words < 0 {
		return nil, fmt.Errorf("uniswap: FetchV3Pool: negative words %d", words)
	}
	p := &V3Pool{Ticks: map[int32]TickInfo{}, Bitmap: map[int16]*uint256.Int{}}
	v, err := call(ctx, c, &v3ABI, pool, "slot0")
	if err != nil {
		return nil, err
	}
	if p.SqrtPriceX96, err = u256(v[0].(*big.Int)); err != nil {
		return nil, err
	}
	p.Tick = int32(v[1].(*big.Int).Int64())
	if v, err = call(ctx, c, &v3ABI, pool, "liquidity"); err != nil {
		return nil, err
	}
	if p.Liquidity, err = u256(v[0].(*big.Int)); err != nil {
		return nil, err
	}
	if v, err = call(ctx, c, &v3ABI, pool, "fee"); err != nil {
		return nil, err
	}
	p.Fee = uint32(v[0].(*big.Int).Uint64())
	if v, err = call(ctx, c, &v3ABI, pool, "tickSpacing"); err != nil {
		return nil, err
	}
	p.TickSpacing = int32(v[0].(*big.Int).Int64())
	if p.TickSpacing <= 0 {
		return nil, fmt.Errorf("uniswap: pool %s: tick spacing %d", pool.Hex(), p.TickSpacing)
	}

	compressed := p.Tick / p.TickSpacing
	if p.Tick < 0 && p.Tick%p.TickSpacing != 0 {
		compressed--
	}
	centre := int(compressed >> 8)
	minWord := int((MinTick/p.TickSpacing)>>8) - 1
	maxWord := int((MaxTick/p.TickSpacing)>>8) + 1
	for w := max(centre-words, minWord); w <= min(centre+words, maxWord); w++ {
		v, err := call(ctx, c, &v3ABI, pool, "tickBitmap", int16(w))
		if err != nil {
			return nil, err
		}
		word, err := u256(v[0].(*big.Int))
		if err != nil {
			return nil, err
		}
		p.Bitmap[int16(w)] = word
		for b := 0; b < 256; b++ {
			if word[b/64]&(1<<(b%64)) == 0 {
				continue
			}
			tick := (int32(w)*256 + int32(b)) * p.TickSpacing
			tv, err := call(ctx, c, &v3ABI, pool, "ticks", big.NewInt(int64(tick)))
			if err != nil {
				return nil, err
			}
			p.Ticks[tick] = TickInfo{LiquidityNet: tv[1].(*big.Int)}
		}
	}
	return p, nil
}
