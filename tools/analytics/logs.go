package analytics

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
)

// The events the tools read, by their topic 0.
var (
	topicTransfer   = crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))
	topicApproval   = crypto.Keccak256Hash([]byte("Approval(address,address,uint256)"))
	topicV2Swap     = crypto.Keccak256Hash([]byte("Swap(address,uint256,uint256,uint256,uint256,address)"))
	topicV3Swap     = crypto.Keccak256Hash([]byte("Swap(address,address,int256,int256,uint160,uint128,int24)"))
	topicDeposit    = crypto.Keccak256Hash([]byte("Deposit(address,uint256)"))
	topicWithdrawal = crypto.Keccak256Hash([]byte("Withdrawal(address,uint256)"))
)

var (
	two255 = new(big.Int).Lsh(big.NewInt(1), 255)
	two256 = new(big.Int).Lsh(big.NewInt(1), 256)
)

// word returns the i-th 32-byte word of data.
func word(data []byte, i int) []byte { return data[32*i : 32*(i+1)] }

// signedWord reads an int256.
func signedWord(w []byte) *big.Int {
	v := new(big.Int).SetBytes(w)
	if v.Cmp(two255) >= 0 {
		v.Sub(v, two256)
	}
	return v
}

func topicAddress(h common.Hash) common.Address { return common.BytesToAddress(h.Bytes()) }

// swapFlow is what one Swap event moved through a pool: positive amounts
// went into the pool, negative ones out of it.
type swapFlow struct {
	version        int
	amount0        *big.Int
	amount1        *big.Int
	sender, to     common.Address
	sqrtPriceAfter *big.Int // V3 only
}

// readSwap reads a V2 or V3 Swap event, or returns false.
func readSwap(l *types.Log) (swapFlow, bool) {
	if len(l.Topics) != 3 {
		return swapFlow{}, false
	}
	f := swapFlow{sender: topicAddress(l.Topics[1]), to: topicAddress(l.Topics[2])}
	switch {
	case l.Topics[0] == topicV2Swap && len(l.Data) == 4*32:
		// amount0In, amount1In, amount0Out, amount1Out
		f.version = uniswap.V2
		f.amount0 = new(big.Int).Sub(new(big.Int).SetBytes(word(l.Data, 0)), new(big.Int).SetBytes(word(l.Data, 2)))
		f.amount1 = new(big.Int).Sub(new(big.Int).SetBytes(word(l.Data, 1)), new(big.Int).SetBytes(word(l.Data, 3)))
		return f, true
	case l.Topics[0] == topicV3Swap && len(l.Data) == 5*32:
		f.version = uniswap.V3
		f.amount0, f.amount1 = signedWord(word(l.Data, 0)), signedWord(word(l.Data, 1))
		f.sqrtPriceAfter = new(big.Int).SetBytes(word(l.Data, 2))
		return f, true
	}
	return swapFlow{}, false
}

// v2In and v2Out are a V2 Swap's gross amounts for one token: a pair can
// be paid and pay the same token in one swap (flash swaps), which the net
// amount would hide.
func v2Gross(l *types.Log, token int) (in, out *big.Int) {
	return new(big.Int).SetBytes(word(l.Data, token)), new(big.Int).SetBytes(word(l.Data, 2+token))
}

// poolInfo is what the tools know of a pool contract that emitted a Swap.
type poolInfo struct {
	Token0, Token1 common.Address
	Fee            uint32 // V3; 3000 for V2
	OK             bool   // token0() and token1() answered
	Verified       bool   // the configured factory has this pool for these tokens (and fee)
}

// selectors of the pool and factory view functions read here.
var (
	selToken0  = crypto.Keccak256([]byte("token0()"))[:4]
	selToken1  = crypto.Keccak256([]byte("token1()"))[:4]
	selFee     = crypto.Keccak256([]byte("fee()"))[:4]
	selGetPair = crypto.Keccak256([]byte("getPair(address,address)"))[:4]
	selGetPool = crypto.Keccak256([]byte("getPool(address,address,uint24)"))[:4]
)

// pool reads a pool's tokens (and fee) once and checks it against the
// configured factory: any contract can emit an event named Swap.
func (k *kit) pool(ctx context.Context, addr common.Address, version int) poolInfo {
	k.mu.Lock()
	p, ok := k.pools[addr]
	k.mu.Unlock()
	if ok {
		return p
	}
	word := func(data []byte, to common.Address) ([]byte, bool) {
		out, err := k.c.Call(ctx, common.Address{}, policies.Call{To: to.Hex(), Value: new(big.Int), Data: data})
		return out, err == nil && len(out) == 32
	}
	p.Fee = 3000
	w0, ok0 := word(selToken0, addr)
	w1, ok1 := word(selToken1, addr)
	if ok0 && ok1 {
		p.Token0, p.Token1, p.OK = common.BytesToAddress(w0), common.BytesToAddress(w1), true
	}
	if p.OK && version == uniswap.V3 {
		if w, ok := word(selFee, addr); ok {
			p.Fee = uint32(new(big.Int).SetBytes(w).Uint64())
		} else {
			p.OK = false
		}
	}
	if p.OK {
		var factory common.Address
		var data []byte
		if version == uniswap.V2 {
			factory = k.cfg.factories.V2
			data = append(append(append([]byte{}, selGetPair...), common.LeftPadBytes(p.Token0.Bytes(), 32)...), common.LeftPadBytes(p.Token1.Bytes(), 32)...)
		} else {
			factory = k.cfg.factories.V3
			data = append(append(append([]byte{}, selGetPool...), common.LeftPadBytes(p.Token0.Bytes(), 32)...), common.LeftPadBytes(p.Token1.Bytes(), 32)...)
			data = append(data, common.LeftPadBytes(new(big.Int).SetUint64(uint64(p.Fee)).Bytes(), 32)...)
		}
		if factory != (common.Address{}) {
			if w, ok := word(data, factory); ok && common.BytesToAddress(w) == addr {
				p.Verified = true
			}
		}
	}
	if ctx.Err() != nil {
		return p
	}
	k.mu.Lock()
	if len(k.pools) >= maxRemembered {
		clear(k.pools)
	}
	k.pools[addr] = p
	k.mu.Unlock()
	return p
}

// Event is one log of a transaction, decoded where its kind is known.
type Event struct {
	Index   uint     `json:"index"`
	Address string   `json:"address"`
	Kind    string   `json:"kind"` // transfer, nft_transfer, approval, swap, deposit, withdrawal, unknown
	Text    string   `json:"text"`
	Topics  []string `json:"topics,omitempty"` // unknown events: raw
	Data    string   `json:"data,omitempty"`   // unknown events: raw, 0x-hex
}

// event decodes one log for people: ERC-20 Transfer and Approval, ERC-721
// Transfer, Uniswap V2 and V3 Swap, WETH Deposit and Withdrawal; anything
// else raw.
func (k *kit) event(ctx context.Context, l *types.Log) Event {
	e := Event{Index: l.Index, Address: l.Address.Hex(), Kind: "unknown"}
	n := len(l.Topics)
	var t0 common.Hash
	if n > 0 {
		t0 = l.Topics[0]
	}
	switch {
	case t0 == topicTransfer && n == 3 && len(l.Data) == 32:
		m := k.meta(ctx, l.Address)
		e.Kind = "transfer"
		e.Text = fmt.Sprintf("Transfer of %s from %s to %s", m.amount(new(big.Int).SetBytes(l.Data)), k.name(topicAddress(l.Topics[1])), k.name(topicAddress(l.Topics[2])))
		return e
	case t0 == topicTransfer && n == 4 && len(l.Data) == 0:
		e.Kind = "nft_transfer"
		e.Text = fmt.Sprintf("NFT Transfer of token id %s of contract %s from %s to %s", new(big.Int).SetBytes(l.Topics[3].Bytes()), l.Address.Hex(),
			k.name(topicAddress(l.Topics[1])), k.name(topicAddress(l.Topics[2])))
		return e
	case t0 == topicApproval && n == 3 && len(l.Data) == 32:
		m := k.meta(ctx, l.Address)
		v := new(big.Int).SetBytes(l.Data)
		what := m.amount(v)
		if v.Cmp(two255) >= 0 {
			what = "an unlimited amount of " + m.label()
		}
		e.Kind = "approval"
		e.Text = fmt.Sprintf("Approval: %s allows %s to spend %s", k.name(topicAddress(l.Topics[1])), k.name(topicAddress(l.Topics[2])), what)
		return e
	case (t0 == topicDeposit || t0 == topicWithdrawal) && n == 2 && len(l.Data) == 32 && l.Address == k.weth() && k.weth() != (common.Address{}):
		amt := policies.FormatUnits(new(big.Int).SetBytes(l.Data), 18)
		who := k.name(topicAddress(l.Topics[1]))
		e.Kind = "deposit"
		e.Text = fmt.Sprintf("WETH Deposit: %s wrapped %s ETH into WETH", who, amt)
		if t0 == topicWithdrawal {
			e.Kind = "withdrawal"
			e.Text = fmt.Sprintf("WETH Withdrawal: %s unwrapped %s WETH into ETH", who, amt)
		}
		return e
	}
	if f, ok := readSwap(l); ok {
		p := k.pool(ctx, l.Address, f.version)
		if p.OK {
			m0, m1 := k.meta(ctx, p.Token0), k.meta(ctx, p.Token1)
			var in, out []string
			for _, x := range []struct {
				m tokenMeta
				v *big.Int
			}{{m0, f.amount0}, {m1, f.amount1}} {
				switch x.v.Sign() {
				case 1:
					in = append(in, x.m.amount(x.v))
				case -1:
					out = append(out, x.m.amount(new(big.Int).Neg(x.v)))
				}
			}
			venue := fmt.Sprintf("Uniswap V%d pool %s (%s/%s", f.version, l.Address.Hex(), m0.label(), m1.label())
			if f.version == uniswap.V3 {
				venue += " " + feePercent(p.Fee) + "%"
			}
			venue += ")"
			if !p.Verified {
				venue += " [not a pool of the configured Uniswap factory: treat as unverified]"
			}
			e.Kind = "swap"
			e.Text = fmt.Sprintf("Swap on %s: %s in, %s out, to %s", venue, joinOr(in, "nothing"), joinOr(out, "nothing"), k.name(f.to))
			return e
		}
	}
	e.Kind = "unknown"
	for _, t := range l.Topics {
		e.Topics = append(e.Topics, t.Hex())
	}
	e.Data = "0x" + hex.EncodeToString(l.Data)
	shown := e.Data
	if len(shown) > 2+2*64 {
		shown = shown[:2+2*64] + "…"
	}
	topic := "no topics"
	if n > 0 {
		topic = "topic " + t0.Hex()
	}
	e.Text = fmt.Sprintf("Unknown event from %s: %s, %d more topic(s), data %s (%d bytes)", l.Address.Hex(), topic, max(n-1, 0), shown, len(l.Data))
	return e
}

func joinOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	out := s[0]
	for _, x := range s[1:] {
		out += " and " + x
	}
	return out
}
