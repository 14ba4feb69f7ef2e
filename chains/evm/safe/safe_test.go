package safe_test

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm/safe"
)

// The vector: a real transaction of Safe 0x111C…2177 on Arbitrum,
// nonce 234, calling itself with addOwnerWithThreshold(0x0c75…c9e5, 3).
func TestHashArbitrumVector(t *testing.T) {
	s := common.HexToAddress("0x111CEEee040739fD91D29C34C33E6B3E112F2177")
	data := common.FromHex("0x0d582f130000000000000000000000000c75fa5a5f1c0997e3eea425cfa13184ed0ec9e50000000000000000000000000000000000000000000000000000000000000003")
	tx := safe.Tx{Safe: s, ChainID: big.NewInt(42161), To: s, Value: new(big.Int), Data: data,
		SafeTxGas: new(big.Int), BaseGas: new(big.Int), GasPrice: new(big.Int), Nonce: big.NewInt(234)}
	h, err := tx.Hash(safe.Version{Major: 1, Minor: 3, Patch: 0})
	if err != nil {
		t.Fatal(err)
	}
	if want := "0x0cb7250b8becd7069223c54e2839feaed4cee156363fbfe5dd0a48e75c4e25b3"; h.Hex() != want {
		t.Fatalf("hash %s, want %s", h.Hex(), want)
	}
}
