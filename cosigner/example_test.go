package cosigner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/policies"
)

// Deciding a Safe transaction in the Transaction Service's JSON shape with
// a policy that lets the Safe pay one friend: the payment is approved, a
// change of the Safe's threshold is refused with the reason.
func Example() {
	safeAddr := common.HexToAddress("0x111CEEee040739fD91D29C34C33E6B3E112F2177")
	p, err := policies.Parse([]byte(`version: 1
chains: [1]
recipients: {allow: ["0x3000000000000000000000000000000000000003"]}
limits: {per_tx: {ETH: "1"}, daily: {ETH: "2"}}
safe: {delegatecall: [], self_calls: false, refund: false}
`))
	if err != nil {
		panic(err)
	}
	r := cosigner.New(big.NewInt(1), policies.NewEngine(p, policies.NewMemLedger()), cosigner.WithSafe(safeAddr, safe.DefaultVersion))
	for _, raw := range []string{
		`{"to":"0x3000000000000000000000000000000000000003","value":"500000000000000000","data":null,"operation":0,
		  "safeTxGas":0,"baseGas":0,"gasPrice":"0","gasToken":"0x0000000000000000000000000000000000000000",
		  "refundReceiver":"0x0000000000000000000000000000000000000000","nonce":7}`,
		`{"to":"0x111CEEee040739fD91D29C34C33E6B3E112F2177","value":"0","data":"0x694e80c30000000000000000000000000000000000000000000000000000000000000001",
		  "operation":0,"safeTxGas":0,"baseGas":0,"gasPrice":"0","gasToken":"0x0000000000000000000000000000000000000000",
		  "refundReceiver":"0x0000000000000000000000000000000000000000","nonce":8}`,
	} {
		var tx safe.ServiceTx
		if err := json.Unmarshal([]byte(raw), &tx); err != nil {
			panic(err)
		}
		d, err := r.Review(context.Background(), safeAddr, tx)
		fmt.Println(d.Decision, d.Reasons, err)
	}
	// Output:
	// approve [] <nil>
	// reject [the transaction changes the Safe itself (changeThreshold(_threshold 1)) and safe.self_calls is false (rule safe.self_calls)] <nil>
}
