package safe_test

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm/safe"
)

// TestDecodeContractSigLengthOverflow: a contract signature (v 0)
// whose length word is near 2^63 makes int64(o)+32+l overflow negative,
// passes the bounds check, and panics slicing data (sig.go Decode).
func TestDecodeContractSigLengthOverflow(t *testing.T) {
	data := make([]byte, 65+32)
	data[31] = 0x01 // owner word: a small address
	data[63] = 65   // offset of the dynamic part
	data[64] = 0    // v 0: contract signature
	l := new(big.Int).SetUint64(1<<63 - 1)
	l.FillBytes(data[65:97]) // length: max int64
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("safe.Decode panicked on a hostile signature blob: %v", r)
		}
	}()
	if _, err := safe.Decode(common.Hash{}, data, 1); err == nil {
		t.Fatal("accepted")
	}
}
