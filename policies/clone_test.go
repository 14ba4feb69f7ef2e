package policies

import (
	"bytes"
	"math/big"
	"strings"
	"testing"
)

// Clone is exact (the copy encodes to the same bytes) and deep (changing
// the copy leaves the original as it was), for every kind, nested too.
func TestCloneDeepAndExact(t *testing.T) {
	h := Header{Chain: "1337", From: "0x0000000000000000000000000000000000000001", Key: "k"}
	tok := Token{Symbol: "USDC", Address: "0x0000000000000000000000000000000000000002", Decimals: 6}
	call := func() *Call {
		return &Call{To: tok.Address, Value: big.NewInt(0), Data: HexBytes{1, 2, 3}}
	}
	ap := Approve{Header: h, Method: MethodApprove, Token: tok, Spender: "0x0000000000000000000000000000000000000003", Amount: big.NewInt(5), Tx: call()}
	intents := []Intent{
		Transfer{Header: h, To: "0x0000000000000000000000000000000000000004", Token: tok, Amount: big.NewInt(7), Tx: call()},
		ap,
		Swap{Header: h, Venue: "uniswap-v3", TokenIn: tok, AmountIn: big.NewInt(5), TokenOut: Token{Symbol: "ETH", Decimals: 18},
			Quoted: big.NewInt(9), MinOut: big.NewInt(8), Recipient: h.From, SlippageBps: 50, Deadline: 99, Approval: &ap, Tx: call()},
		ContractCall{Header: h, To: tok.Address, Value: big.NewInt(1), Data: HexBytes{9, 9, 9, 9}, Selector: "0x09090909", Tx: call()},
		SafeTx{Header: h, To: tok.Address, Value: big.NewInt(0), Data: HexBytes{1}, SafeTxGas: big.NewInt(0), BaseGas: big.NewInt(0),
			GasPrice: big.NewInt(0), GasToken: "0x0000000000000000000000000000000000000000", RefundReceiver: "0x0000000000000000000000000000000000000000",
			Nonce: 3, SafeTxHash: "0xab", Inner: []Intent{ap, &Transfer{Header: h, To: h.From, Token: tok, Amount: big.NewInt(1)}}},
	}
	for _, in := range intents {
		want, err := Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		c := Clone(in)
		got, err := Marshal(c)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: clone encodes to\n%s\nwant\n%s", in.Kind(), got, want)
		}
		// Scribble over every pointer the copy holds.
		switch x := c.(type) {
		case Transfer:
			x.Amount.SetInt64(-1)
			x.Tx.Data[0] = 0xff
		case Approve:
			x.Amount.SetInt64(-1)
			x.Tx.Value.SetInt64(-1)
		case Swap:
			x.AmountIn.SetInt64(-1)
			x.Approval.Amount.SetInt64(-1)
			x.Approval.Tx.Data[0] = 0xff
		case ContractCall:
			x.Data[0] = 0
			x.Value.SetInt64(-1)
		case SafeTx:
			x.Data[0] = 0xff
			x.Inner[0].(Approve).Amount.SetInt64(-1)
			x.Inner[1].(Transfer).Amount.SetInt64(-1)
		}
		if again, _ := Marshal(in); !bytes.Equal(again, want) {
			t.Fatalf("%s: changing the clone changed the original", in.Kind())
		}
	}
	if Clone(nil) != nil || Clone((*Transfer)(nil)) != nil {
		t.Fatal("Clone of nil is not nil")
	}
}

// wrapped embeds an intent, as a type of another package could: it has
// every method of Transfer, unexported ones included, but it is not one.
type wrapped struct {
	Transfer
	Memo string
}

// A type that embeds an intent is not taken for the intent it embeds,
// whose fields alone would be judged and approved: Marshal refuses it,
// Clone gives nil, and the engine decides nothing, on its own or as a
// Safe transaction's inner call.
func TestEmbeddedIntentRefused(t *testing.T) {
	in := wrapped{Transfer: Transfer{Header: Header{Chain: "1337", From: "0x0000000000000000000000000000000000000001"},
		To: "0x0000000000000000000000000000000000000004", Token: Token{Symbol: "ETH", Decimals: 18}, Amount: big.NewInt(1)}, Memo: "x"}
	for _, x := range []Intent{in, &in, SafeTx{Header: in.Header, Inner: []Intent{in}}} {
		if b, err := Marshal(x); err == nil || !strings.Contains(err.Error(), "unknown intent type") {
			t.Errorf("Marshal(%T) = %s, %v; want an unknown intent type error", x, b, err)
		}
	}
	if c := Clone(in); c != nil {
		t.Errorf("Clone(wrapped) = %#v, want nil", c)
	}
	eng, _ := newTestEngine(t, mustPolicy(t), wednesday)
	if ap, err := eng.Decide(t.Context(), in); err == nil {
		t.Errorf("Decide(wrapped) approved %v", ap)
	}
	if r, err := eng.Evaluate(t.Context(), in); err == nil {
		t.Errorf("Evaluate(wrapped) = %+v, want an error", r)
	}
}
