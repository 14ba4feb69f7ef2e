package uniswap

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/policies"
)

// The SwapRouter02 functions a swap is built from. SwapRouter02 routes
// through both V2 pairs and V3 pools, so one contract (and one allowance)
// serves every route Best finds.
const router02ABIs = `[
{"type":"function","name":"multicall","stateMutability":"payable","inputs":[{"name":"deadline","type":"uint256"},{"name":"data","type":"bytes[]"}],"outputs":[{"name":"results","type":"bytes[]"}]},
{"type":"function","name":"exactInput","stateMutability":"payable","inputs":[{"name":"params","type":"tuple","components":[{"name":"path","type":"bytes"},{"name":"recipient","type":"address"},{"name":"amountIn","type":"uint256"},{"name":"amountOutMinimum","type":"uint256"}]}],"outputs":[{"name":"amountOut","type":"uint256"}]},
{"type":"function","name":"swapExactTokensForTokens","stateMutability":"payable","inputs":[{"name":"amountIn","type":"uint256"},{"name":"amountOutMin","type":"uint256"},{"name":"path","type":"address[]"},{"name":"to","type":"address"}],"outputs":[{"name":"amountOut","type":"uint256"}]},
{"type":"function","name":"unwrapWETH9","stateMutability":"payable","inputs":[{"name":"amountMinimum","type":"uint256"},{"name":"recipient","type":"address"}],"outputs":[]}]`

var router02ABI = mustABI(router02ABIs)

// SwapRouter02's reserved addresses and amounts (its Constants library).
var (
	// AddressThis as a recipient keeps the output in the router for the
	// next step of a multicall.
	AddressThis = common.BigToAddress(big.NewInt(2))
	// msgSender as a recipient means the caller.
	msgSender = common.BigToAddress(big.NewInt(1))
)

// exactInputParams is SwapRouter02's IV3SwapRouter.ExactInputParams.
type exactInputParams struct {
	Path             []byte         `abi:"path"`
	Recipient        common.Address `abi:"recipient"`
	AmountIn         *big.Int       `abi:"amountIn"`
	AmountOutMinimum *big.Int       `abi:"amountOutMinimum"`
}

// Router02 builds and reads calls to a SwapRouter02 deployment. It is the
// evm.SwapDecoder a wallet needs to send swaps through it.
type Router02 struct {
	Address common.Address
	WETH    common.Address // the router's WETH9, which it wraps and unwraps
}

// Router returns the router's address (evm.SwapDecoder).
func (r Router02) Router() common.Address { return r.Address }

// SwapParams are a swap's terms beyond its route.
type SwapParams struct {
	Recipient common.Address
	MinOut    *big.Int // the least Recipient may get; the router reverts below it
	Deadline  int64    // unix seconds; the router reverts after it
	NativeIn  bool     // pay with the native coin (the route starts at WETH)
	NativeOut bool     // unwrap the output to the native coin (the route ends at WETH)
}

// segment is a run of consecutive hops on one protocol version: one
// router call.
type segment struct {
	version int
	tokens  []common.Address
	fees    []uint32
}

func segments(hops []Hop) []segment {
	var out []segment
	for _, h := range hops {
		if n := len(out); n > 0 && out[n-1].version == h.Version {
			out[n-1].tokens = append(out[n-1].tokens, h.TokenOut)
			out[n-1].fees = append(out[n-1].fees, h.Fee)
			continue
		}
		out = append(out, segment{version: h.Version, tokens: []common.Address{h.TokenIn, h.TokenOut}, fees: []uint32{h.Fee}})
	}
	return out
}

// encodePath is a V3 path: token, fee (3 bytes), token, ...
func encodePath(tokens []common.Address, fees []uint32) []byte {
	b := make([]byte, 0, 20*len(tokens)+3*len(fees))
	for i, t := range tokens {
		b = append(b, t.Bytes()...)
		if i < len(fees) {
			b = append(b, byte(fees[i]>>16), byte(fees[i]>>8), byte(fees[i]))
		}
	}
	return b
}

// decodePath splits a V3 path; it must hold at least one pool.
func decodePath(b []byte) ([]common.Address, []uint32, error) {
	if len(b) < 43 || (len(b)-20)%23 != 0 {
		return nil, nil, fmt.Errorf("a V3 path of %d bytes is not token(20)·[fee(3)·token(20)]+", len(b))
	}
	tokens := []common.Address{common.BytesToAddress(b[:20])}
	var fees []uint32
	for i := 20; i < len(b); i += 23 {
		fees = append(fees, uint32(b[i])<<16|uint32(b[i+1])<<8|uint32(b[i+2]))
		tokens = append(tokens, common.BytesToAddress(b[i+3:i+23]))
	}
	return tokens, fees, nil
}

// SwapCall builds the router call that executes route on the terms p: one
// multicall with the deadline, holding a call per run of V2 or V3 hops.
// The first run takes AmountIn from the wallet (or the value sent, when
// NativeIn); each later run takes what the router holds (CONTRACT_BALANCE)
// from the run before; the last run pays Recipient with the floor MinOut,
// or the router, which then unwraps WETH to Recipient with the same floor.
func (r Router02) SwapCall(route Route, p SwapParams) (policies.Call, error) {
	if len(route.Hops) == 0 || route.AmountIn == nil || route.AmountIn.IsZero() {
		return policies.Call{}, errors.New("uniswap: SwapCall: empty route")
	}
	if p.MinOut == nil || p.MinOut.Sign() <= 0 {
		return policies.Call{}, errors.New("uniswap: SwapCall: MinOut must be positive: a swap with no floor accepts any price")
	}
	if p.Recipient == (common.Address{}) || p.Recipient == AddressThis || p.Recipient == msgSender {
		return policies.Call{}, fmt.Errorf("uniswap: SwapCall: recipient %s is not an account", p.Recipient.Hex())
	}
	first, last := route.Hops[0].TokenIn, route.Hops[len(route.Hops)-1].TokenOut
	if p.NativeIn && first != r.WETH {
		return policies.Call{}, errors.New("uniswap: SwapCall: NativeIn needs a route that starts at WETH")
	}
	if p.NativeOut && last != r.WETH {
		return policies.Call{}, errors.New("uniswap: SwapCall: NativeOut needs a route that ends at WETH")
	}
	segs := segments(route.Hops)
	var data [][]byte
	for i, s := range segs {
		amountIn, minOut, to := new(big.Int), new(big.Int), AddressThis
		if i == 0 {
			amountIn = route.AmountIn.ToBig()
		}
		if i == len(segs)-1 {
			minOut = p.MinOut
			if !p.NativeOut {
				to = p.Recipient
			}
		}
		var b []byte
		var err error
		if s.version == V2 {
			b, err = router02ABI.Pack("swapExactTokensForTokens", amountIn, minOut, s.tokens, to)
		} else {
			b, err = router02ABI.Pack("exactInput", exactInputParams{Path: encodePath(s.tokens, s.fees), Recipient: to, AmountIn: amountIn, AmountOutMinimum: minOut})
		}
		if err != nil {
			return policies.Call{}, fmt.Errorf("uniswap: SwapCall: %w", err)
		}
		data = append(data, b)
	}
	if p.NativeOut {
		b, err := router02ABI.Pack("unwrapWETH9", p.MinOut, p.Recipient)
		if err != nil {
			return policies.Call{}, fmt.Errorf("uniswap: SwapCall: %w", err)
		}
		data = append(data, b)
	}
	mc, err := router02ABI.Pack("multicall", big.NewInt(p.Deadline), data)
	if err != nil {
		return policies.Call{}, fmt.Errorf("uniswap: SwapCall: %w", err)
	}
	value := new(big.Int)
	if p.NativeIn {
		value = route.AmountIn.ToBig()
	}
	return policies.Call{To: r.Address.Hex(), Value: value, Data: mc}, nil
}

// unpackExact decodes calldata for method and requires it to be the exact
// canonical encoding: re-encoding the decoded arguments must give the same
// bytes, so no reading of it differs from the one returned.
func unpackExact(m abi.Method, data []byte) ([]any, error) {
	if len(data) < 4 || !bytes.Equal(data[:4], m.ID) {
		return nil, fmt.Errorf("not a %s call", m.Sig)
	}
	args, err := m.Inputs.Unpack(data[4:])
	if err != nil {
		return nil, fmt.Errorf("malformed %s call: %v", m.Sig, err)
	}
	again, err := m.Inputs.Pack(args...)
	if err != nil || !bytes.Equal(again, data[4:]) {
		return nil, fmt.Errorf("malformed %s call: not the canonical encoding of its arguments", m.Sig)
	}
	return args, nil
}

// DecodeSwap reads a call built by SwapCall (or any call of the same
// shape) back into what it does; it is the wallet's check that a swap's
// calldata says what its intent says (evm.SwapDecoder). It refuses
// anything else: another target, another function, a price limit, steps
// that do not chain, output left in the router, a value that is not the
// whole input.
func (r Router02) DecodeSwap(call policies.Call) (evm.SwapCall, error) {
	fail := func(f string, a ...any) (evm.SwapCall, error) {
		return evm.SwapCall{}, fmt.Errorf("uniswap: SwapRouter02 call: "+f, a...)
	}
	if !common.IsHexAddress(call.To) || common.HexToAddress(call.To) != r.Address {
		return fail("the call goes to %s, not the router %s", call.To, r.Address.Hex())
	}
	args, err := unpackExact(router02ABI.Methods["multicall"], call.Data)
	if err != nil {
		return fail("%v (swaps are sent as multicall(uint256 deadline, bytes[]))", err)
	}
	deadline, inner := args[0].(*big.Int), args[1].([][]byte)
	if !deadline.IsInt64() {
		return fail("deadline %s is not a unix time", deadline)
	}
	sc := evm.SwapCall{Router: r.Address, Deadline: deadline.Int64()}
	type step struct {
		tokens        []common.Address
		amountIn, min *big.Int
		to            common.Address
	}
	var steps []step
	var unwrap *step
	for i, d := range inner {
		if unwrap != nil {
			return fail("step %d comes after unwrapWETH9, which must be last", i+1)
		}
		if len(d) < 4 {
			return fail("step %d has %d bytes of data", i+1, len(d))
		}
		m, err := router02ABI.MethodById(d[:4])
		if err != nil || m.Name == "multicall" {
			return fail("step %d calls selector 0x%x, which a swap does not use", i+1, d[:4])
		}
		a, err := unpackExact(*m, d)
		if err != nil {
			return fail("step %d: %v", i+1, err)
		}
		switch m.Name {
		case "exactInput":
			p := abi.ConvertType(a[0], new(exactInputParams)).(*exactInputParams)
			tokens, _, err := decodePath(p.Path)
			if err != nil {
				return fail("step %d: %v", i+1, err)
			}
			steps = append(steps, step{tokens, p.AmountIn, p.AmountOutMinimum, p.Recipient})
		case "swapExactTokensForTokens":
			path := a[2].([]common.Address)
			if len(path) < 2 {
				return fail("step %d: a V2 path of %d tokens", i+1, len(path))
			}
			steps = append(steps, step{path, a[0].(*big.Int), a[1].(*big.Int), a[3].(common.Address)})
		case "unwrapWETH9":
			unwrap = &step{min: a[0].(*big.Int), to: a[1].(common.Address)}
		}
	}
	if len(steps) == 0 {
		return fail("it swaps nothing")
	}
	for i, s := range steps {
		last := i == len(steps)-1
		switch {
		case i == 0 && s.amountIn.Sign() == 0:
			return fail("the first step puts in the router's whole balance (amountIn 0), not an amount")
		case i > 0 && s.amountIn.Sign() != 0:
			return fail("step %d puts in %s more instead of the previous step's output", i+1, s.amountIn)
		case i > 0 && s.tokens[0] != steps[i-1].tokens[len(steps[i-1].tokens)-1]:
			return fail("step %d starts at %s, not where step %d ended", i+1, s.tokens[0].Hex(), i)
		case !last && s.to != AddressThis:
			return fail("step %d pays %s instead of passing its output on", i+1, s.to.Hex())
		}
		sc.Path = append(sc.Path, s.tokens[min(i, 1):]...)
	}
	lastStep := steps[len(steps)-1]
	sc.TokenIn, sc.AmountIn = steps[0].tokens[0], new(big.Int).Set(steps[0].amountIn)
	sc.TokenOut = lastStep.tokens[len(lastStep.tokens)-1]
	if unwrap != nil {
		if sc.TokenOut != r.WETH || lastStep.to != AddressThis {
			return fail("it unwraps WETH but its last step does not leave WETH in the router")
		}
		sc.TokenOut, sc.Recipient, sc.MinOut = common.Address{}, unwrap.to, new(big.Int).Set(unwrap.min)
	} else {
		sc.Recipient, sc.MinOut = lastStep.to, new(big.Int).Set(lastStep.min)
	}
	if sc.Recipient == AddressThis || sc.Recipient == msgSender || sc.Recipient == (common.Address{}) {
		return fail("the output goes to the reserved address %s, not an account", sc.Recipient.Hex())
	}
	switch v := call.Value; {
	case v == nil || v.Sign() == 0:
	case sc.TokenIn == r.WETH && v.Cmp(sc.AmountIn) == 0:
		sc.TokenIn = common.Address{}
	default:
		return fail("it sends value %s, which is not the whole input of a swap from ETH", v)
	}
	return sc, nil
}

var _ evm.SwapDecoder = Router02{}

var (
	topicTransfer   = crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))
	topicWithdrawal = crypto.Keccak256Hash([]byte("Withdrawal(address,uint256)"))
)

// Received sums what a swap's logs say reached recipient: the ERC-20
// Transfer events of tokenOut to it, or, for the native coin (zero
// tokenOut), the WETH the router unwrapped (WETH9's Withdrawal by the
// router), which unwrapWETH9 sends on whole. A token that takes a fee on
// transfer shows here as less than the quote.
func (r Router02) Received(logs []*types.Log, tokenOut, recipient common.Address) *big.Int {
	sum := new(big.Int)
	for _, l := range logs {
		switch {
		case tokenOut != (common.Address{}) && l.Address == tokenOut && len(l.Topics) == 3 && l.Topics[0] == topicTransfer &&
			common.BytesToAddress(l.Topics[2].Bytes()) == recipient && len(l.Data) == 32:
			sum.Add(sum, new(big.Int).SetBytes(l.Data))
		case tokenOut == (common.Address{}) && l.Address == r.WETH && len(l.Topics) == 2 && l.Topics[0] == topicWithdrawal &&
			common.BytesToAddress(l.Topics[1].Bytes()) == r.Address && len(l.Data) == 32:
			sum.Add(sum, new(big.Int).SetBytes(l.Data))
		}
	}
	return sum
}
