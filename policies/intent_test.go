package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"testing"
)

// referenceMarshal is the original Marshal: encoding/json, a map round trip
// for sorted keys, "kind" and "inner" added. The canonical writer must
// produce the same bytes, so digests never change under it.
func referenceMarshal(in Intent) ([]byte, error) {
	if in == nil {
		return nil, fmt.Errorf("policies: nil intent")
	}
	body, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("policies: encode %s intent: %w", in.Kind(), err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, err
	}
	if m == nil { // a nil pointer to an intent type
		return nil, fmt.Errorf("policies: nil intent")
	}
	k, _ := json.Marshal(in.Kind())
	m["kind"] = k
	if s, ok := in.(SafeTx); ok && len(s.Inner) > 0 {
		inner := make([]json.RawMessage, len(s.Inner))
		for i, x := range s.Inner {
			if inner[i], err = referenceMarshal(x); err != nil {
				return nil, err
			}
		}
		if m["inner"], err = json.Marshal(inner); err != nil {
			return nil, err
		}
	}
	out, err := json.Marshal(m) // map keys are sorted: deterministic
	if err != nil {
		return nil, err
	}
	return stringAmounts(out)
}

// amountNumber matches an amount field written as a JSON number by
// encoding/json (outside any string: a key's quote is never escaped).
var amountNumber = regexp.MustCompile(`([^\\])"(amount|value|amount_in|quoted|min_out|safe_tx_gas|base_gas|gas_price)":(-?[0-9]+)`)

// stringAmounts rewrites amount fields from JSON numbers to decimal strings,
// the form Marshal writes, leaving every other byte as it was.
func stringAmounts(b []byte) ([]byte, error) {
	return amountNumber.ReplaceAll(b, []byte(`$1"$2":"$3"`)), nil
}

// sampleIntents covers every intent type and every optional field, with
// strings that need escaping.
func sampleIntents(invalidUTF8 bool) []Intent {
	nasty := "a\"b\\c<d>e&f\n\r\t\b\f\x01\x1f\u2028\u2029 é 🙂"
	if invalidUTF8 {
		nasty += "\xff\xfe"
	}
	k := "idem-" + nasty
	tr := Transfer{Header: Header{Chain: "1", From: wallet, Key: k}, To: alice, Token: usdc, Amount: big.NewInt(1500000),
		Tx: &Call{To: usdcAddr, Value: big.NewInt(0), Data: HexBytes{0xa9, 0x05, 0x9c, 0xbb}}}
	ap := Approve{Header: hdr(), Method: MethodPermit2, Token: Token{Address: usdcAddr, Decimals: 6}, Spender: router,
		Amount: new(big.Int).Set(maxUint256), Unlimited: true, Expiration: 1700000000}
	ap2 := Approve{Header: hdr(), Method: MethodApprove, Token: usdc, Spender: nasty}
	sw := swapETHForUSDC(wednesday)
	sw.Approval = &ap
	sw.Venue = nasty
	sw2 := Swap{Header: Header{Chain: "solana-devnet", From: nasty}, TokenIn: Token{Symbol: "SOL", Decimals: 9}}
	cc := ContractCall{Header: hdr(), To: router, Value: big.NewInt(-5), Data: nil, Selector: "0x01020304",
		Tx: &Call{To: router}}
	st := safeBatch(OpDelegateCall, multisend, tr, ap2, sw, cc)
	st.SelfCall = nasty
	st.Data = HexBytes{0x8d, 0x80, 0xff, 0x0a}
	nested := safeBatch(OpCall, safeAddr, st)
	return []Intent{tr, Transfer{}, ap, ap2, sw, sw2, cc, ContractCall{}, st, nested, SafeTx{}, Approve{}, Swap{}}
}

func TestMarshalMatchesReference(t *testing.T) {
	for i, in := range sampleIntents(true) {
		got, err := Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		want, err := referenceMarshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("intent %d (%s):\ngot  %s\nwant %s", i, in.Kind(), got, want)
		}
		if !json.Valid(got) {
			t.Fatalf("intent %d: invalid JSON %s", i, got)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	// Strings must be valid UTF-8 for the digest to survive a round trip:
	// encoding/json replaces invalid bytes with U+FFFD.
	for i, in := range sampleIntents(false) {
		b, err := Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("intent %d: %v\n%s", i, err, b)
		}
		if back.Kind() != in.Kind() {
			t.Fatalf("intent %d: kind %s, want %s", i, back.Kind(), in.Kind())
		}
		b2, err := Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(b2) {
			t.Fatalf("intent %d: round trip changed the encoding:\n%s\n%s", i, b, b2)
		}
		d1, _ := Digest(in)
		d2, _ := Digest(back)
		if d1 != d2 {
			t.Fatalf("intent %d: digest changed over a round trip", i)
		}
	}
	// A pointer encodes as its value, inner calls included.
	st := sampleIntents(false)[8].(SafeTx)
	a, _ := Marshal(st)
	b, _ := Marshal(&st)
	if string(a) != string(b) || !strings.Contains(string(b), `"inner":[`) {
		t.Fatalf("pointer SafeTx encodes differently:\n%s\n%s", a, b)
	}
}

func TestUnmarshalAmountForms(t *testing.T) {
	for _, raw := range []string{
		`{"kind":"transfer","chain":"1","from":"0x3333333333333333333333333333333333333333","to":"0x1111111111111111111111111111111111111111","token":{"decimals":18},"amount":"115792089237316195423570985008687907853269984665640564039457584007913129639935"}`,
		`{"kind":"transfer","chain":"1","from":"0x3333333333333333333333333333333333333333","to":"0x1111111111111111111111111111111111111111","token":{"decimals":18},"amount":115792089237316195423570985008687907853269984665640564039457584007913129639935}`,
	} {
		in, err := Unmarshal([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if got := in.(Transfer).Amount; got.Cmp(maxUint256) != 0 {
			t.Fatalf("amount = %s", got)
		}
		b, _ := Marshal(in)
		if !strings.Contains(string(b), `"amount":"115792089237316195423570985008687907853269984665640564039457584007913129639935"`) {
			t.Fatalf("Marshal does not write the amount as a decimal string: %s", b)
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	tests := []struct{ name, json, want string }{
		{"unknown field", `{"kind":"transfer","chain":"1","from":"0x1","to":"0x2","token":{"decimals":18},"amount":1,"memo":"x"}`, `unknown field "memo"`},
		{"unknown nested field", `{"kind":"transfer","token":{"decimals":18,"name":"x"}}`, `unknown field "name"`},
		{"unknown kind", `{"kind":"bridge"}`, `unknown intent kind "bridge"`},
		{"no kind", `{"chain":"1"}`, `no "kind"`},
		{"inner unknown field", `{"kind":"safe_tx","inner":[{"kind":"transfer","x":1}]}`, `inner call 0`},
		{"bad hex", `{"kind":"call","data":"0xzz"}`, `hex bytes`},
		{"not json", `{`, `intent JSON`},
		{"amount with decimals", `{"kind":"transfer","amount":"1.5"}`, `not a whole number of base units`},
		{"amount in hex", `{"kind":"transfer","amount":"0x10"}`, `not a whole number of base units`},
		{"amount as a float", `{"kind":"transfer","amount":1.5}`, `cannot unmarshal`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Unmarshal([]byte(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestMarshalNil(t *testing.T) {
	for _, in := range []Intent{nil, (*Transfer)(nil), (*SafeTx)(nil), SafeTx{Inner: []Intent{nil}}} {
		if _, err := Marshal(in); err == nil {
			t.Fatalf("Marshal(%#v) must fail", in)
		}
		if _, err := Digest(in); err == nil {
			t.Fatalf("Digest(%#v) must fail", in)
		}
	}
}

// FuzzUnmarshalIntent feeds arbitrary JSON to Unmarshal. It must not panic;
// what it accepts must encode the same way as the reference encoder, and
// decode again to the same encoding.
func FuzzUnmarshalIntent(f *testing.F) {
	for _, in := range sampleIntents(true) {
		b, _ := Marshal(in)
		f.Add(b)
	}
	f.Add([]byte(`{"kind":"safe_tx","inner":[{"kind":"safe_tx","inner":[{"kind":"call"}]}]}`))
	// Whatever decodes, the engine decides without panicking.
	eng, _ := newTestEngine(f, mustPolicy(f), wednesday)
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := Unmarshal(data)
		if err != nil {
			return
		}
		b, err := Marshal(in)
		if err != nil {
			t.Fatalf("accepted intent does not encode: %v", err)
		}
		ref, err := referenceMarshal(in)
		if err != nil || string(ref) != string(b) {
			t.Fatalf("encoding differs from the reference:\n%s\n%s (%v)", b, ref, err)
		}
		back, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("encoding does not decode: %v\n%s", err, b)
		}
		b2, _ := Marshal(back)
		if string(b2) != string(b) {
			t.Fatalf("round trip changed the encoding:\n%s\n%s", b, b2)
		}
		if _, err := eng.Evaluate(context.Background(), in); err != nil {
			t.Fatalf("Evaluate: %v", err)
		}
		_ = fmt.Sprint(in)
	})
}
