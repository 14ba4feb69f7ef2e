package safe_test

import (
	"bytes"
	"encoding/json"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/policies"
)

// FuzzDecodeMultiSend: no panic, and whatever decodes re-encodes to the
// very same bytes, so the calls we judge are the calls the contract runs.
func FuzzDecodeMultiSend(f *testing.F) {
	f.Add(safe.EncodeMultiSend([]safe.Inner{{To: common.HexToAddress("0x01"), Value: big.NewInt(5), Data: []byte{1, 2, 3}}}))
	f.Add(safe.EncodeMultiSend([]safe.Inner{{Operation: safe.DelegateCall, To: common.HexToAddress("0x02"), Value: new(big.Int)}, {To: common.HexToAddress("0x03"), Value: new(big.Int), Data: make([]byte, 40)}}))
	f.Add([]byte{0x8d, 0x80, 0xff, 0x0a})
	f.Fuzz(func(t *testing.T, data []byte) {
		calls, err := safe.DecodeMultiSend(data)
		if err != nil {
			return
		}
		if again := safe.EncodeMultiSend(calls); !bytes.Equal(again, data) {
			t.Fatalf("decoded %d calls that encode to other bytes", len(calls))
		}
	})
}

// FuzzParseServiceTx: no panic; a transaction that parses hashes, and its
// fields written back parse to the same hash.
func FuzzParseServiceTx(f *testing.F) {
	f.Add([]byte(`{"to":"0x111CEEee040739fD91D29C34C33E6B3E112F2177","value":"0","data":"0x0d582f13","operation":0,"safeTxGas":0,"baseGas":0,"gasPrice":"0","gasToken":"0x0000000000000000000000000000000000000000","refundReceiver":"0x0000000000000000000000000000000000000000","nonce":234}`))
	f.Add([]byte(`{"to":"0x3000000000000000000000000000000000000003","value":1,"data":null,"operation":"1","safeTxGas":"0","baseGas":"0","gasPrice":"0","gasToken":"0x0000000000000000000000000000000000000000","refundReceiver":"0x0000000000000000000000000000000000000000","nonce":"1","safeTxHash":"0x00"}`))
	v := safe.DefaultVersion
	s := common.HexToAddress("0x5afe")
	f.Fuzz(func(t *testing.T, raw []byte) {
		tx, err := safe.ParseServiceTx(raw, big.NewInt(1), s, v)
		if err != nil {
			return
		}
		h, err := tx.Hash(v)
		if err != nil {
			t.Fatalf("parsed but does not hash: %v", err)
		}
		back, _ := json.Marshal(tx.ServiceTx())
		tx2, err := safe.ParseServiceTx(back, big.NewInt(1), s, v)
		if err != nil {
			t.Fatalf("its own fields do not parse: %v (%s)", err, back)
		}
		if h2, _ := tx2.Hash(v); h2 != h {
			t.Fatalf("hash changed on a round trip")
		}
	})
}

// FuzzDecodeSafeTx: decoding any call data under either operation never
// panics, and a decoded plain call's inner call is byte for byte the
// transaction's, so the policy sees what the Safe executes.
func FuzzDecodeSafeTx(f *testing.F) {
	f.Add(uint8(0), []byte{0xa9, 0x05, 0x9c, 0xbb})
	f.Add(uint8(1), safe.EncodeMultiSend([]safe.Inner{{To: common.HexToAddress("0x01"), Value: big.NewInt(1)}}))
	d := safe.Decoder{Version: safe.DefaultVersion, Batches: []common.Address{common.HexToAddress("0xba7c")}}
	f.Fuzz(func(t *testing.T, op uint8, data []byte) {
		to := common.HexToAddress("0x70")
		if op%2 == 1 {
			to = common.HexToAddress("0xba7c")
		}
		tx := safe.Tx{Safe: common.HexToAddress("0x5afe"), ChainID: big.NewInt(1), To: to, Value: new(big.Int), Data: data, Operation: safe.Operation(op % 2),
			SafeTxGas: new(big.Int), BaseGas: new(big.Int), GasPrice: new(big.Int), Nonce: new(big.Int)}
		in, err := d.Decode(tx)
		if err != nil {
			return
		}
		if tx.Operation == safe.Call && len(in.Inner) == 1 {
			raw, _ := policies.Marshal(in.Inner[0])
			var x struct {
				Tx struct {
					Data string `json:"data"`
				} `json:"tx"`
			}
			_ = json.Unmarshal(raw, &x)
			if got := common.FromHex(x.Tx.Data); !bytes.Equal(got, data) {
				t.Fatalf("inner call data %x, transaction data %x", got, data)
			}
		}
	})
}
