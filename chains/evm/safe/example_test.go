package safe_test

import (
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm/safe"
)

// A Safe transaction's hash, computed from its fields: the real Arbitrum
// transaction in which Safe 0x111C…2177 added an owner.
func ExampleTx_Hash() {
	s := common.HexToAddress("0x111CEEee040739fD91D29C34C33E6B3E112F2177")
	tx := safe.Tx{
		Safe: s, ChainID: big.NewInt(42161), To: s, Value: new(big.Int), Nonce: big.NewInt(234),
		Data:      common.FromHex("0x0d582f130000000000000000000000000c75fa5a5f1c0997e3eea425cfa13184ed0ec9e50000000000000000000000000000000000000000000000000000000000000003"),
		SafeTxGas: new(big.Int), BaseGas: new(big.Int), GasPrice: new(big.Int),
	}
	h, err := tx.Hash(safe.Version{Major: 1, Minor: 3, Patch: 0})
	fmt.Println(h.Hex(), err)
	fmt.Println(safe.DescribeSelfCall(tx.Data))
	// Output:
	// 0x0cb7250b8becd7069223c54e2839feaed4cee156363fbfe5dd0a48e75c4e25b3 <nil>
	// addOwnerWithThreshold(owner 0x0c75Fa5a5F1C0997e3eEA425cFA13184ed0eC9e5, _threshold 3)
}

// A MultiSend batch, encoded and read back exactly.
func ExampleDecodeMultiSend() {
	data := safe.EncodeMultiSend([]safe.Inner{
		{Operation: safe.Call, To: common.HexToAddress("0x3000000000000000000000000000000000000003"), Value: big.NewInt(1e17)},
	})
	calls, err := safe.DecodeMultiSend(data)
	fmt.Println(len(calls), calls[0].To.Hex(), calls[0].Value, err)
	// Output: 1 0x3000000000000000000000000000000000000003 100000000000000000 <nil>
}
