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
)

// abiCall encodes sel(address, uint256); ok is false when an argument
// cannot be encoded (not an address, negative or wider than 256 bits).
func abiCall(sel []byte, addr string, v *big.Int) ([]byte, bool) {
	if !isEVMAddress(addr) || v == nil || v.Sign() < 0 || v.BitLen() > 256 {
		return nil, false
	}
	out := make([]byte, 4+64)
	copy(out, sel)
	for i := 0; i < 20; i++ {
		out[4+12+i] = byte(fromHex(addr[2+2*i])<<4 | fromHex(addr[3+2*i]))
	}
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
	}
	return "" // Permit2 signs typed data whose encoding lives with its decoder
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
