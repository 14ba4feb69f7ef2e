package safe_test

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm/safe"
)

// TestDecodeContractSigOffsetOverflow: the length overflow was
// fixed (sig.go Decode), but the offset check one line above has the same
// bug: off.Int64()+32 overflows for an offset near 2^63, the check
// `off+32 > len(data)` passes, and data[o:o+32] panics.
func TestDecodeContractSigOffsetOverflow(t *testing.T) {
	data := make([]byte, 65)
	data[31] = 0x01 // owner word: a small address
	new(big.Int).SetUint64(1<<63 - 1).FillBytes(data[32:64])
	data[64] = 0 // v 0: contract signature
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("safe.Decode panicked on a hostile signature blob: %v", r)
		}
	}()
	if _, err := safe.Decode(common.Hash{}, data, 1); err == nil {
		t.Fatal("accepted")
	}
}
