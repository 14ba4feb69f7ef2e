package safe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
)

// selMultiSend is multiSend(bytes), of MultiSend and MultiSendCallOnly.
var selMultiSend = []byte{0x8d, 0x80, 0xff, 0x0a}

// Canonical MultiSend deployments (the same address on every chain where
// Safe deployed them by the singleton factory).
var (
	MultiSendCallOnly130 = common.HexToAddress("0x40A2aCCbd92BCA938b02010E17A5b8929b49130D")
	MultiSendCallOnly141 = common.HexToAddress("0x9641d764fc13c8B624c04430C7356C1C7C8102e2")
	MultiSend130         = common.HexToAddress("0xA238CBeb142c10Ef7Ad8442C6D1f9E89e07e7761")
	MultiSend141         = common.HexToAddress("0x38869bf66a61cF6bDB996A6aE40D5853Fd43B526")
)

// Inner is one call of a MultiSend batch.
type Inner struct {
	Operation Operation
	To        common.Address
	Value     *big.Int
	Data      []byte
}

// ErrMultiSend says batch data is not a MultiSend encoding the decoder
// reads exactly as the contract would.
var ErrMultiSend = errors.New("safe: malformed MultiSend batch")

// EncodeMultiSend is multiSend(bytes) calldata for calls: each packed as
// operation (1 byte) ‖ to (20) ‖ value (32) ‖ data length (32) ‖ data.
func EncodeMultiSend(calls []Inner) []byte {
	var packed []byte
	for _, c := range calls {
		packed = append(packed, byte(c.Operation))
		packed = append(packed, c.To[:]...)
		packed = append(packed, word(c.Value)...)
		packed = append(packed, word(big.NewInt(int64(len(c.Data))))...)
		packed = append(packed, c.Data...)
	}
	out := make([]byte, 4+64+(len(packed)+31)/32*32)
	copy(out, selMultiSend)
	out[4+31] = 0x20
	binary.BigEndian.PutUint64(out[4+56:4+64], uint64(len(packed)))
	copy(out[4+64:], packed)
	return out
}

// DecodeMultiSend reads multiSend(bytes) calldata into its calls. It takes
// only the canonical encoding: offset 0x20, the length, the packed calls,
// zero padding to a word and nothing after; every record whole, operation
// 0 or 1 (the contracts revert on others), and a data length that ends
// inside the batch. Anything the contract would read differently from this
// decoder is an error.
func DecodeMultiSend(data []byte) ([]Inner, error) {
	fail := func(f string, a ...any) ([]Inner, error) {
		return nil, fmt.Errorf("%w: "+f, append([]any{ErrMultiSend}, a...)...)
	}
	if len(data) < 4+64 || !bytes.Equal(data[:4], selMultiSend) {
		return fail("not multiSend(bytes) calldata")
	}
	args := data[4:]
	if off := new(big.Int).SetBytes(args[:32]); off.Cmp(big.NewInt(32)) != 0 {
		return fail("the bytes argument's offset is %s, not 32", off)
	}
	l := new(big.Int).SetBytes(args[32:64])
	if !l.IsInt64() || l.Int64() > int64(len(args)-64) {
		return fail("the batch length %s runs past the calldata", l)
	}
	n := int(l.Int64())
	packed := args[64 : 64+n]
	rest := args[64+n:]
	if len(rest) != (n+31)/32*32-n {
		return fail("%d bytes follow the batch where %d bytes of padding belong", len(rest), (n+31)/32*32-n)
	}
	for _, b := range rest {
		if b != 0 {
			return fail("the padding after the batch is not zero")
		}
	}
	var out []Inner
	for i := 0; i < len(packed); {
		if len(packed)-i < 85 {
			return fail("call %d: %d bytes left, less than a call's 85-byte header", len(out)+1, len(packed)-i)
		}
		op := packed[i]
		if op > 1 {
			return fail("call %d: operation %d (the contract reverts on anything but 0 and 1)", len(out)+1, op)
		}
		c := Inner{Operation: Operation(op), To: common.BytesToAddress(packed[i+1 : i+21]), Value: new(big.Int).SetBytes(packed[i+21 : i+53])}
		dl := new(big.Int).SetBytes(packed[i+53 : i+85])
		if !dl.IsInt64() || dl.Int64() > int64(len(packed)-i-85) {
			return fail("call %d: data length %s runs past the batch", len(out)+1, dl)
		}
		c.Data = bytes.Clone(packed[i+85 : i+85+int(dl.Int64())])
		out = append(out, c)
		i += 85 + int(dl.Int64())
	}
	if len(out) == 0 {
		return fail("the batch is empty")
	}
	return out, nil
}
