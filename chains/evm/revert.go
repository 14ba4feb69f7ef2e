package evm

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"
)

// RevertError says a call reverted. Exactly one of Reason (Error(string)),
// Panic (Panic(uint256)) and Selector (a custom error) is set when the
// revert carried data the decoder understood; Data always holds the raw
// revert data.
type RevertError struct {
	Data     []byte
	Reason   string   // require/revert message; text from the contract, shown quoted
	Panic    *big.Int // Solidity panic code
	Selector string   // 0x-prefixed selector of a custom error
}

var (
	selErrorString = selector("Error(string)")
	selPanic       = selector("Panic(uint256)")
)

// panicReasons are Solidity's documented panic codes.
var panicReasons = map[uint64]string{
	0x00: "generic compiler panic",
	0x01: "assertion failed",
	0x11: "arithmetic overflow or underflow",
	0x12: "division or modulo by zero",
	0x21: "invalid enum value",
	0x22: "invalid storage byte array encoding",
	0x31: "pop on an empty array",
	0x32: "array index out of bounds",
	0x41: "out of memory",
	0x51: "call to an uninitialised function",
}

func (e *RevertError) Error() string {
	switch {
	case e.Panic != nil:
		what := "unknown panic code"
		if e.Panic.IsUint64() {
			if r, ok := panicReasons[e.Panic.Uint64()]; ok {
				what = r
			}
		}
		return fmt.Sprintf("execution reverted: panic 0x%x (%s)", e.Panic, what)
	case e.Selector != "":
		return fmt.Sprintf("execution reverted with custom error %s (%d bytes of arguments)", e.Selector, len(e.Data)-4)
	case e.Reason != "":
		return fmt.Sprintf("execution reverted: %q", e.Reason)
	case len(e.Data) == 0:
		return "execution reverted without a reason"
	case bytes.HasPrefix(e.Data, selErrorString[:]):
		if _, err := decodeABIString(e.Data[4:]); err == nil {
			return `execution reverted: ""`
		}
		return fmt.Sprintf("execution reverted with a malformed Error(string) payload 0x%x", e.Data)
	}
	return fmt.Sprintf("execution reverted with undecodable data 0x%x", e.Data)
}

// DecodeRevert decodes revert data: Error(string), Panic(uint256), or a
// custom error's selector. Malformed Error/Panic payloads keep only Data.
func DecodeRevert(data []byte) *RevertError {
	e := &RevertError{Data: bytes.Clone(data)}
	if len(data) < 4 {
		return e
	}
	var sel [4]byte
	copy(sel[:], data)
	switch sel {
	case selErrorString:
		if s, err := decodeABIString(data[4:]); err == nil {
			e.Reason = s
		}
	case selPanic:
		if len(data) == 4+wordSize {
			e.Panic = new(big.Int).SetBytes(data[4:])
		}
	default:
		e.Selector = hexutil.Encode(sel[:])
	}
	return e
}

// asRevert extracts a revert from a node's answer to eth_call or
// eth_estimateGas, or returns nil if err is not a revert.
func asRevert(err error) *RevertError {
	var rerr rpc.Error
	if !errors.As(err, &rerr) {
		return nil
	}
	msg := rerr.Error()
	if rerr.ErrorCode() != 3 && !strings.Contains(msg, "revert") {
		return nil
	}
	var derr rpc.DataError
	if errors.As(err, &derr) {
		if s, ok := derr.ErrorData().(string); ok {
			if b, herr := hexutil.Decode(s); herr == nil {
				return DecodeRevert(b)
			}
		}
	}
	// No data: keep the node's message, minus its prefix.
	msg = strings.TrimPrefix(strings.TrimPrefix(msg, "execution reverted"), ": ")
	if len(msg) > maxStringAnswer {
		msg = msg[:maxStringAnswer]
	}
	return &RevertError{Reason: msg}
}
