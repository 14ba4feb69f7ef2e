package evm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/policies"
)

// TokenLookup resolves a token contract address (checksummed) to what is
// known about it: symbol and decimals from a token list, a policy or the
// chain. The empty address asks for the chain's native coin. It returns false
// for an unknown token; decoding then keeps the address with an empty symbol
// and zero decimals, and the policy decides what an unknown token may do.
type TokenLookup func(addr string) (policies.Token, bool)

// Permit2Address is Uniswap's Permit2 contract, deployed by CREATE2 at the
// same address on every chain.
var Permit2Address = common.HexToAddress("0x000000000022D473030F116dDEE9F6B43aC78BA3")

// Function selectors the decoder understands.
var (
	selTransfer          = selector("transfer(address,uint256)")
	selTransferFrom      = selector("transferFrom(address,address,uint256)")
	selApprove           = selector("approve(address,uint256)")
	selIncreaseAllowance = selector("increaseAllowance(address,uint256)")
	selSetApprovalForAll = selector("setApprovalForAll(address,bool)")
	selPermit2Approve    = selector("approve(address,address,uint160,uint48)")
)

func selector(sig string) [4]byte {
	var s [4]byte
	copy(s[:], crypto.Keccak256([]byte(sig)))
	return s
}

// DecodeOption changes how DecodeCall reads calls.
type DecodeOption func(*decodeConfig)

type decodeConfig struct {
	permit2 []common.Address
}

// Permit2At adds an address at which a Permit2 contract lives (a devnet's
// own deployment). The canonical Permit2Address is always recognised.
//
// Permit2's approve(address,address,uint160,uint48) names the token in its
// arguments, not in the call's target, so it is decoded as an approval only
// when the target really is Permit2: any contract can declare a function with
// that selector, and decoding such a call as "approve token X" would hide
// what it actually does from the policy.
func Permit2At(addr common.Address) DecodeOption {
	return func(c *decodeConfig) { c.permit2 = append(c.permit2, addr) }
}

func (c *decodeConfig) isPermit2(a common.Address) bool {
	if a == Permit2Address {
		return true
	}
	for _, p := range c.permit2 {
		if p == a {
			return true
		}
	}
	return false
}

// DecodeError says calldata claims a known function but is not a valid
// encoding of its arguments.
type DecodeError struct {
	Function string // e.g. "transfer(address,uint256)"
	Reason   string
}

func (e *DecodeError) Error() string {
	if e.Function == "" {
		return "evm: cannot decode call: " + e.Reason
	}
	return fmt.Sprintf("evm: malformed %s call: %s", e.Function, e.Reason)
}

// DecodeCall turns the exact call a transaction would make into the Intent
// the policy judges. chain is the decimal chain id; from the acting account.
//
//   - Empty data: a native-coin Transfer of call.Value to call.To (even when
//     call.To is a contract; its receive function runs, but the value moved
//     is what it is).
//   - transfer(address,uint256): a token Transfer of the token at call.To.
//   - approve(address,uint256), increaseAllowance(address,uint256): an
//     Approve; amounts ≥ 2^255 are Unlimited.
//   - setApprovalForAll(address,bool) (ERC-721/1155): an Approve with
//     Unlimited = the bool and Amount max uint256 (true) or 0 (false).
//   - Permit2 approve(address token,address spender,uint160,uint48), only
//     when call.To is Permit2 (see Permit2At): an Approve of the named
//     token; an amount of max uint160 is Unlimited.
//   - Anything else with a selector: a ContractCall.
//
// transferFrom(address,address,uint256) is deliberately a ContractCall, not
// a Transfer: its source may be a third party that granted the wallet an
// allowance, which a Transfer (whose source is Header.From) cannot say; and
// ERC-721 shares the selector with a token id in the last word, which a
// fungible Transfer would misread as an amount. A policy allows it only by
// allowing calls to that contract.
//
// A known token selector sent with a non-zero value is also a ContractCall:
// a Transfer or Approve has no field for the ETH that goes along, and the
// policy must never see a token transfer that hides ETH.
//
// Calldata that names a known selector but is not its exact, canonical
// encoding (short, trailing bytes, dirty high bits in an address, uint160,
// uint48 or bool word) is a *DecodeError: the decoder never guesses which
// reading a contract would take. Data of 1 to 3 bytes is an error too.
//
// Every Intent returned carries Tx, a copy of call with To checksummed and
// Value non-nil, and EncodeCall of it gives back the same bytes.
func DecodeCall(chain, from string, call policies.Call, tok TokenLookup, opts ...DecodeOption) (policies.Intent, error) {
	var cfg decodeConfig
	for _, o := range opts {
		o(&cfg)
	}
	d, err := newDecoding(chain, from, call, tok)
	if err != nil {
		return nil, err
	}
	data := d.tx.Data
	if len(data) == 0 {
		return policies.Transfer{Header: d.head, To: Checksum(d.to), Token: nativeToken(tok), Amount: new(big.Int).Set(d.tx.Value), Tx: d.tx}, nil
	}
	if len(data) < 4 {
		return nil, &DecodeError{Reason: fmt.Sprintf("calldata of %d bytes is shorter than a 4-byte function selector", len(data))}
	}
	var sel [4]byte
	copy(sel[:], data)
	args := data[4:]
	known := sel == selTransfer || sel == selApprove || sel == selIncreaseAllowance || sel == selSetApprovalForAll ||
		(sel == selPermit2Approve && cfg.isPermit2(d.to))
	if !known || d.tx.Value.Sign() != 0 {
		return d.contractCall(sel), nil
	}
	// A switch, not a table: each selector's arguments read differently.
	switch sel {
	case selTransfer:
		return d.transfer(args)
	case selApprove:
		return d.approve("approve(address,uint256)", policies.MethodApprove, args)
	case selIncreaseAllowance:
		return d.approve("increaseAllowance(address,uint256)", policies.MethodIncreaseAllowance, args)
	case selSetApprovalForAll:
		return d.setApprovalForAll(args)
	case selPermit2Approve:
		return d.permit2Approve(args)
	}
	return d.contractCall(sel), nil // unreachable: every known selector is handled above
}

// decoding is one call being decoded: what every intent built from it
// carries (its header and Tx) and what reading its arguments needs (its
// target and the token lookup).
type decoding struct {
	head policies.Header
	to   common.Address
	tx   *policies.Call // the call, with To checksummed, Value non-nil, Data copied
	tok  TokenLookup
}

// newDecoding checks what every call must be, whatever its data: addresses
// that parse, and a value that is a uint256.
func newDecoding(chain, from string, call policies.Call, tok TokenLookup) (decoding, error) {
	fromAddr, err := parseAddress("from", from)
	if err != nil {
		return decoding{}, err
	}
	to, err := parseAddress("to", call.To)
	if err != nil {
		return decoding{}, err
	}
	value := new(big.Int)
	if call.Value != nil {
		value.Set(call.Value)
	}
	if value.Sign() < 0 {
		return decoding{}, &DecodeError{Reason: fmt.Sprintf("value %s is negative", value)}
	}
	if value.Cmp(maxUint256) > 0 {
		return decoding{}, &DecodeError{Reason: fmt.Sprintf("value %s does not fit uint256", value)}
	}
	return decoding{
		head: policies.Header{Chain: chain, From: Checksum(fromAddr)},
		to:   to,
		tx:   &policies.Call{To: Checksum(to), Value: value, Data: bytes.Clone([]byte(call.Data))},
		tok:  tok,
	}, nil
}

// token is what the lookup knows of the token at a; an unknown token keeps
// its address with no symbol and zero decimals, for the policy to judge.
func (d *decoding) token(a common.Address) policies.Token {
	if d.tok != nil {
		if t, ok := d.tok(Checksum(a)); ok {
			t.Address = Checksum(a)
			return t
		}
	}
	return policies.Token{Address: Checksum(a)}
}

// contractCall is the call as no decoder reads it: its target, value and
// data, and the selector the data starts with.
func (d *decoding) contractCall(sel [4]byte) policies.Intent {
	return policies.ContractCall{Header: d.head, To: Checksum(d.to), Value: new(big.Int).Set(d.tx.Value), Data: bytes.Clone(d.tx.Data),
		Selector: "0x" + hex.EncodeToString(sel[:]), Tx: d.tx}
}

// transfer reads transfer(address,uint256): a Transfer of the token the
// call is sent to.
func (d *decoding) transfer(args []byte) (policies.Intent, error) {
	const fn = "transfer(address,uint256)"
	if err := wantWords(fn, args, 2); err != nil {
		return nil, err
	}
	rcpt, err := decodeAddressWord(word(args, 0))
	if err != nil {
		return nil, &DecodeError{fn, "recipient: " + err.Error()}
	}
	amount := new(big.Int).SetBytes(word(args, 1))
	return policies.Transfer{Header: d.head, To: Checksum(rcpt), Token: d.token(d.to), Amount: amount, Tx: d.tx}, nil
}

// approve reads approve(address,uint256) and
// increaseAllowance(address,uint256), which share their arguments: an
// Approve, Unlimited from 2^255 up.
func (d *decoding) approve(fn string, method policies.ApproveMethod, args []byte) (policies.Intent, error) {
	if err := wantWords(fn, args, 2); err != nil {
		return nil, err
	}
	spender, err := decodeAddressWord(word(args, 0))
	if err != nil {
		return nil, &DecodeError{fn, "spender: " + err.Error()}
	}
	amount := new(big.Int).SetBytes(word(args, 1))
	return policies.Approve{Header: d.head, Method: method, Token: d.token(d.to), Spender: Checksum(spender), Amount: amount,
		Unlimited: amount.Cmp(unlimitedThreshold) >= 0, Tx: d.tx}, nil
}

// setApprovalForAll reads setApprovalForAll(address,bool): an Approve of
// every token, max uint256 and Unlimited when granted, 0 when revoked.
func (d *decoding) setApprovalForAll(args []byte) (policies.Intent, error) {
	const fn = "setApprovalForAll(address,bool)"
	if err := wantWords(fn, args, 2); err != nil {
		return nil, err
	}
	op, err := decodeAddressWord(word(args, 0))
	if err != nil {
		return nil, &DecodeError{fn, "operator: " + err.Error()}
	}
	approved, err := decodeBoolWord(word(args, 1))
	if err != nil {
		return nil, &DecodeError{fn, "approved: " + err.Error()}
	}
	amount := new(big.Int)
	if approved {
		amount.Set(maxUint256)
	}
	return policies.Approve{Header: d.head, Method: policies.MethodSetApprovalForAll, Token: d.token(d.to), Spender: Checksum(op),
		Amount: amount, Unlimited: approved, Tx: d.tx}, nil
}

// permit2Approve reads Permit2's approve(address,address,uint160,uint48),
// which names the token in its arguments rather than in the call's target:
// an Approve of that token, Unlimited at max uint160, with its expiration.
func (d *decoding) permit2Approve(args []byte) (policies.Intent, error) {
	const fn = "Permit2 approve(address,address,uint160,uint48)"
	if err := wantWords(fn, args, 4); err != nil {
		return nil, err
	}
	token, err := decodeAddressWord(word(args, 0))
	if err != nil {
		return nil, &DecodeError{fn, "token: " + err.Error()}
	}
	spender, err := decodeAddressWord(word(args, 1))
	if err != nil {
		return nil, &DecodeError{fn, "spender: " + err.Error()}
	}
	amount, err := decodeUintWord(word(args, 2), 160)
	if err != nil {
		return nil, &DecodeError{fn, "amount: " + err.Error()}
	}
	exp, err := decodeUintWord(word(args, 3), 48)
	if err != nil {
		return nil, &DecodeError{fn, "expiration: " + err.Error()}
	}
	return policies.Approve{Header: d.head, Method: policies.MethodPermit2, Token: d.token(token), Spender: Checksum(spender),
		Amount: amount, Unlimited: amount.Cmp(maxUint160) >= 0, Expiration: exp.Uint64(), Tx: d.tx}, nil
}

func wantWords(fn string, args []byte, n int) error {
	switch want := n * wordSize; {
	case len(args) < want:
		return &DecodeError{fn, fmt.Sprintf("arguments are %d bytes, want %d (data is short)", len(args), want)}
	case len(args) > want:
		return &DecodeError{fn, fmt.Sprintf("arguments are %d bytes, want %d (%d trailing bytes)", len(args), want, len(args)-want)}
	}
	return nil
}

// nativeToken is the chain's coin as the lookup knows it, ETH with 18
// decimals by default.
func nativeToken(tok TokenLookup) policies.Token {
	if tok != nil {
		if t, ok := tok(""); ok {
			t.Address = ""
			return t
		}
	}
	return policies.Token{Symbol: "ETH", Decimals: 18}
}

// parseAddress reads a 0x-prefixed, 40-hex-digit address. Mixed-case input
// must carry a valid EIP-55 checksum: a wrong checksum is a typo, not a
// different spelling.
func parseAddress(what, s string) (common.Address, error) {
	if len(s) != 42 || !(strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X")) {
		return common.Address{}, &DecodeError{Reason: fmt.Sprintf("%s address %q is not 0x followed by 40 hex digits", what, s)}
	}
	b, err := hex.DecodeString(s[2:])
	if err != nil {
		return common.Address{}, &DecodeError{Reason: fmt.Sprintf("%s address %q is not 0x followed by 40 hex digits", what, s)}
	}
	a := common.BytesToAddress(b)
	body := s[2:]
	if body != strings.ToLower(body) && body != strings.ToUpper(body) && Checksum(a)[2:] != body {
		return common.Address{}, &DecodeError{Reason: fmt.Sprintf("%s address %q has a wrong EIP-55 checksum (did you mean %s?)", what, s, Checksum(a))}
	}
	return a, nil
}

// --- encoding -----------------------------------------------------------

// EncodeTransfer returns transfer(to, amount) calldata.
func EncodeTransfer(to common.Address, amount *big.Int) ([]byte, error) {
	return encodeAddrUint(selTransfer, "transfer", to, amount)
}

// EncodeApprove returns approve(spender, amount) calldata.
func EncodeApprove(spender common.Address, amount *big.Int) ([]byte, error) {
	return encodeAddrUint(selApprove, "approve", spender, amount)
}

// EncodeIncreaseAllowance returns increaseAllowance(spender, amount) calldata.
func EncodeIncreaseAllowance(spender common.Address, amount *big.Int) ([]byte, error) {
	return encodeAddrUint(selIncreaseAllowance, "increaseAllowance", spender, amount)
}

// EncodeSetApprovalForAll returns setApprovalForAll(operator, approved) calldata.
func EncodeSetApprovalForAll(operator common.Address, approved bool) []byte {
	out := append([]byte{}, selSetApprovalForAll[:]...)
	out = append(out, encodeAddressWord(operator)...)
	return append(out, encodeBoolWord(approved)...)
}

// EncodePermit2Approve returns Permit2's approve(token, spender, amount,
// expiration) calldata; amount must fit uint160 and expiration uint48.
func EncodePermit2Approve(token, spender common.Address, amount *big.Int, expiration uint64) ([]byte, error) {
	a, err := encodeUintWord(amount, 160)
	if err != nil {
		return nil, fmt.Errorf("evm: Permit2 approve amount: %w", err)
	}
	if expiration > maxUint48 {
		return nil, fmt.Errorf("evm: Permit2 approve expiration %d does not fit uint48", expiration)
	}
	out := append([]byte{}, selPermit2Approve[:]...)
	out = append(out, encodeAddressWord(token)...)
	out = append(out, encodeAddressWord(spender)...)
	out = append(out, a...)
	return append(out, common.LeftPadBytes(new(big.Int).SetUint64(expiration).Bytes(), wordSize)...), nil
}

func encodeAddrUint(sel [4]byte, fn string, a common.Address, v *big.Int) ([]byte, error) {
	w, err := encodeUintWord(v, 256)
	if err != nil {
		return nil, fmt.Errorf("evm: %s amount: %w", fn, err)
	}
	out := append([]byte{}, sel[:]...)
	out = append(out, encodeAddressWord(a)...)
	return append(out, w...), nil
}

// EncodeCall builds the exact call an intent's semantic fields describe,
// ignoring its Tx: a native Transfer is a value transfer, a token Transfer is
// transfer(to, amount) on the token, an Approve is the call its Method names
// (on Permit2Address for MethodPermit2 unless permit2 is given), a
// ContractCall is its To, Value and Data. Swaps and Safe transactions are
// built by their own packages and are an error here.
//
// EncodeCall(DecodeCall(c)) reproduces c's bytes; the Wallet uses the
// converse to check that an intent's Tx says what its fields say.
func EncodeCall(in policies.Intent, permit2 ...common.Address) (policies.Call, error) {
	switch x := in.(type) {
	case policies.Transfer:
		to, err := parseAddress("recipient", x.To)
		if err != nil {
			return policies.Call{}, err
		}
		if x.Amount == nil || x.Amount.Sign() < 0 {
			return policies.Call{}, errors.New("evm: transfer amount is missing or negative")
		}
		if x.Token.Native() {
			if x.Amount.Cmp(maxUint256) > 0 {
				return policies.Call{}, fmt.Errorf("evm: transfer amount %s does not fit uint256", x.Amount)
			}
			return policies.Call{To: Checksum(to), Value: new(big.Int).Set(x.Amount)}, nil
		}
		tok, err := parseAddress("token", x.Token.Address)
		if err != nil {
			return policies.Call{}, err
		}
		data, err := EncodeTransfer(to, x.Amount)
		if err != nil {
			return policies.Call{}, err
		}
		return policies.Call{To: Checksum(tok), Value: new(big.Int), Data: data}, nil

	case policies.Approve:
		spender, err := parseAddress("spender", x.Spender)
		if err != nil {
			return policies.Call{}, err
		}
		tok, err := parseAddress("token", x.Token.Address)
		if err != nil {
			return policies.Call{}, err
		}
		var data []byte
		target := tok
		switch x.Method {
		case policies.MethodApprove:
			data, err = EncodeApprove(spender, x.Amount)
		case policies.MethodIncreaseAllowance:
			data, err = EncodeIncreaseAllowance(spender, x.Amount)
		case policies.MethodSetApprovalForAll:
			data = EncodeSetApprovalForAll(spender, x.Unlimited)
		case policies.MethodPermit2:
			target = Permit2Address
			if len(permit2) > 0 {
				target = permit2[0]
			}
			data, err = EncodePermit2Approve(tok, spender, x.Amount, x.Expiration)
		default:
			return policies.Call{}, fmt.Errorf("evm: unknown approve method %q", x.Method)
		}
		if err != nil {
			return policies.Call{}, err
		}
		return policies.Call{To: Checksum(target), Value: new(big.Int), Data: data}, nil

	case policies.ContractCall:
		to, err := parseAddress("to", x.To)
		if err != nil {
			return policies.Call{}, err
		}
		v := new(big.Int)
		if x.Value != nil {
			v.Set(x.Value)
		}
		return policies.Call{To: Checksum(to), Value: v, Data: bytes.Clone([]byte(x.Data))}, nil
	case nil:
		return policies.Call{}, errors.New("evm: nil intent")
	}
	return policies.Call{}, fmt.Errorf("evm: a %s intent is not built from its fields here; its Tx is the call", in.Kind())
}

// checksums caches EIP-55 spellings: each costs a Keccak-256, and a Safe
// batch's decode writes the same few addresses (the Safe, a token, a
// recipient) many times over. The cache is dropped whole when it grows
// past maxChecksums, so it stays bounded under any input.
var (
	checksums     sync.Map // common.Address → string
	checksumCount atomic.Int64
)

const maxChecksums = 1 << 16

// Checksum is a.Hex(), cached.
func Checksum(a common.Address) string {
	if v, ok := checksums.Load(a); ok {
		return v.(string)
	}
	s := a.Hex()
	if checksumCount.Add(1) > maxChecksums {
		checksums.Clear()
		checksumCount.Store(0)
	}
	checksums.Store(a, s)
	return s
}
