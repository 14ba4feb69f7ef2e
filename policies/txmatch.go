package policies

import (
	"bytes"
	"fmt"
	"math/big"
)

// An intent that carries its transaction (Tx) is approved as a whole, and a
// signer signs Tx. So the engine checks that Tx does what the decoded fields
// say for the calls whose encoding is fixed (native and ERC-20 transfers,
// approvals, plain contract calls): a tool bug that checked one thing and
// signed another is a denial, not a loss.

var (
	selTransfer          = []byte{0xa9, 0x05, 0x9c, 0xbb} // transfer(address,uint256)
	selApprove           = []byte{0x09, 0x5e, 0xa7, 0xb3} // approve(address,uint256)
	selIncreaseAllowance = []byte{0x39, 0x50, 0x93, 0x51} // increaseAllowance(address,uint256)
	selSetApprovalForAll = []byte{0xa2, 0x2c, 0xb4, 0x65} // setApprovalForAll(address,bool)
	selPermit2Approve    = []byte{0x87, 0x51, 0x7c, 0x45} // approve(address,address,uint160,uint48)
)

// Permit2 is Uniswap's Permit2 contract, deployed by CREATE2 at the same
// address on every EVM chain. A Permit2 approval is a call to it and to
// nothing else: the engine checks the address, not only the encoding, so
// an intent cannot call "Permit2" some other contract with that selector.
const Permit2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"

// abiCall encodes sel(address, uint256); ok is false when an argument
// cannot be encoded (not an address, negative or wider than 256 bits).
func abiCall(sel []byte, addr string, v *big.Int) ([]byte, bool) {
	if !isEVMAddress(addr) || v == nil || v.Sign() < 0 || v.BitLen() > 256 {
		return nil, false
	}
	out := make([]byte, 4+64)
	copy(out, sel)
	putAddr(out[4:36], addr)
	v.FillBytes(out[4+32:])
	return out, true
}

func sameAddr(a, b string) bool { return addrKey(a) == addrKey(b) }

func transferTxMismatch(t Transfer) string {
	tx := t.Tx
	if t.Token.Native() {
		switch {
		case !sameAddr(tx.To, t.To):
			return fmt.Sprintf("it sends to %s, not %s", tx.To, t.To)
		case !eqInt(tx.Value, t.Amount):
			return fmt.Sprintf("it sends value %s, not %s", valueOf(tx.Value), valueOf(t.Amount))
		case len(tx.Data) != 0:
			return "it carries call data"
		}
		return ""
	}
	return tokenCallMismatch(tx, t.Token.Address, selTransfer, t.To, t.Amount, "transfer")
}

func approveTxMismatch(a Approve) string {
	switch a.Method {
	case MethodApprove:
		return tokenCallMismatch(a.Tx, a.Token.Address, selApprove, a.Spender, a.Amount, "approve")
	case MethodIncreaseAllowance:
		return tokenCallMismatch(a.Tx, a.Token.Address, selIncreaseAllowance, a.Spender, a.Amount, "increaseAllowance")
	case MethodSetApprovalForAll:
		if a.Unlimited {
			return tokenCallMismatch(a.Tx, a.Token.Address, selSetApprovalForAll, a.Spender, big.NewInt(1), "setApprovalForAll(true)")
		}
		return tokenCallMismatch(a.Tx, a.Token.Address, selSetApprovalForAll, a.Spender, big.NewInt(0), "setApprovalForAll(false)")
	case MethodPermit2:
		return permit2CallMismatch(a)
	}
	return ""
}

// permit2CallMismatch checks a Permit2 approval's transaction is exactly
// Permit2.approve(token, spender, amount, expiration), with no value.
func permit2CallMismatch(a Approve) string {
	tx := a.Tx
	want, ok := permit2Call(a)
	switch {
	case !sameAddr(tx.To, Permit2):
		return fmt.Sprintf("it calls %s, not Permit2 (%s)", tx.To, Permit2)
	case !eqInt(tx.Value, nil):
		return fmt.Sprintf("it sends value %s with a Permit2 approval", valueOf(tx.Value))
	case !ok || !bytes.Equal(tx.Data, want):
		return fmt.Sprintf("its call data is not Permit2 approve(%s, %s, %s, %d)", a.Token.Address, a.Spender, valueOf(a.Amount), a.Expiration)
	}
	return ""
}

// permit2Call encodes approve(token, spender, uint160 amount, uint48
// expiration); ok is false when an argument does not fit its type.
func permit2Call(a Approve) ([]byte, bool) {
	v := a.Amount
	if !isEVMAddress(a.Token.Address) || !isEVMAddress(a.Spender) || v == nil || v.Sign() < 0 || v.BitLen() > 160 || a.Expiration >= 1<<48 {
		return nil, false
	}
	out := make([]byte, 4+4*32)
	copy(out, selPermit2Approve)
	putAddr(out[4:36], a.Token.Address)
	putAddr(out[36:68], a.Spender)
	v.FillBytes(out[68:100])
	new(big.Int).SetUint64(a.Expiration).FillBytes(out[100:132])
	return out, true
}

// putAddr writes a 0x-prefixed hex address into the last 20 bytes of a
// 32-byte ABI word.
func putAddr(word []byte, addr string) {
	for i := 0; i < 20; i++ {
		word[12+i] = byte(fromHex(addr[2+2*i])<<4 | fromHex(addr[3+2*i]))
	}
}

func tokenCallMismatch(tx *Call, token string, sel []byte, addr string, v *big.Int, name string) string {
	want, ok := abiCall(sel, addr, v)
	switch {
	case !sameAddr(tx.To, token):
		return fmt.Sprintf("it calls %s, not the token %s", tx.To, token)
	case !eqInt(tx.Value, nil):
		return fmt.Sprintf("it sends value %s with a token call", valueOf(tx.Value))
	case !ok || !bytes.Equal(tx.Data, want):
		return fmt.Sprintf("its call data is not %s(%s, %s)", name, addr, valueOf(v))
	}
	return ""
}

func callTxMismatch(k ContractCall) string {
	tx := k.Tx
	switch {
	case !sameAddr(tx.To, k.To):
		return fmt.Sprintf("it calls %s, not %s", tx.To, k.To)
	case !eqInt(tx.Value, k.Value):
		return fmt.Sprintf("it sends value %s, not %s", valueOf(tx.Value), valueOf(k.Value))
	case !bytes.Equal(tx.Data, k.Data):
		return "its call data differs from the intent's"
	}
	return ""
}

// selMultiSend is multiSend(bytes), of MultiSend and MultiSendCallOnly.
var selMultiSend = []byte{0x8d, 0x80, 0xff, 0x0a}

// innerCall returns the call an inner intent of a Safe transaction executes:
// its Tx, which is what the Safe's data must encode. A SafeTx has none.
func innerCall(in Intent) *Call {
	if in, ok := deref(in); ok {
		return in.Call()
	}
	return nil
}

// multiSendData encodes calls as multiSend(bytes) data: the selector, then
// the ABI encoding of one bytes argument (offset 0x20, length, the packed
// calls right-padded to 32 bytes), each call packed as uint8 operation (0,
// call) ‖ address to ‖ uint256 value ‖ uint256 data length ‖ data. ok is
// false when a call cannot be encoded.
func multiSendData(calls []*Call) ([]byte, bool) {
	var packed []byte
	for _, k := range calls {
		if !isEVMAddress(k.To) {
			return nil, false
		}
		v := nilZero(k.Value)
		if v.Sign() < 0 || v.BitLen() > 256 {
			return nil, false
		}
		var rec [1 + 20 + 32 + 32]byte
		for i := 0; i < 20; i++ {
			rec[1+i] = byte(fromHex(k.To[2+2*i])<<4 | fromHex(k.To[3+2*i]))
		}
		v.FillBytes(rec[21:53])
		new(big.Int).SetInt64(int64(len(k.Data))).FillBytes(rec[53:85])
		packed = append(append(packed, rec[:]...), k.Data...)
	}
	padded := (len(packed) + 31) / 32 * 32
	out := make([]byte, 4+32+32+padded)
	copy(out, selMultiSend)
	out[4+31] = 0x20
	new(big.Int).SetInt64(int64(len(packed))).FillBytes(out[4+32 : 4+64])
	copy(out[4+64:], packed)
	return out, true
}

// safeMatches ties a Safe transaction's outer call to its decoded inner
// calls, which are what the policy checked: a plain call must be exactly its
// one inner call, and a delegatecall to an allowed batch contract must be
// exactly multiSend of the inner calls. A self call without inner calls must
// call the Safe itself, without value.
func (c *check) safeMatches(s SafeTx, pre string) {
	const what = "the Safe transaction does not do what its inner calls say"
	if len(s.Inner) == 0 { // a self call (safeTx denies an empty one otherwise)
		if s.Operation != OpCall || !sameAddr(s.To, s.From) || !eqInt(s.Value, nil) {
			c.deny("safe", pre, "%s: it has no inner calls, but it is not a call to the Safe itself without value", what)
		}
		return
	}
	calls := make([]*Call, len(s.Inner))
	complete := true
	for i, x := range s.Inner {
		if calls[i] = innerCall(x); calls[i] == nil {
			c.deny("safe", fmt.Sprintf("%sinner call %d: ", pre, i), "the inner call carries no transaction (tx), so the Safe transaction cannot be matched to it")
			complete = false
		}
	}
	if !complete {
		return
	}
	switch s.Operation {
	case OpCall:
		switch k := calls[0]; {
		case len(calls) != 1:
			c.deny("safe", pre, "%s: a call (operation 0) makes one call, not %d", what, len(calls))
		case !sameAddr(s.To, k.To):
			c.deny("safe", pre, "%s: it calls %s, not %s", what, s.To, k.To)
		case !eqInt(s.Value, k.Value):
			c.deny("safe", pre, "%s: it sends value %s, not %s", what, valueOf(s.Value), valueOf(k.Value))
		case !bytes.Equal(s.Data, k.Data):
			c.deny("safe", pre, "%s: its call data differs from the inner call's", what)
		}
	case OpDelegateCall:
		if !c.e.p.safe.delegatecall[addrKey(s.To)] {
			return // denied by safe.delegatecall already
		}
		want, ok := multiSendData(calls)
		if !ok || !bytes.Equal(s.Data, want) {
			c.deny("safe", pre, "%s: its data is not multiSend of the %d inner calls", what, len(calls))
		}
	}
}
