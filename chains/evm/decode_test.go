package evm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/policies"
)

const (
	testChain = "1337"
	testFrom  = "0x1111111111111111111111111111111111111111"
	tokenAddr = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
	rcptAddr  = "0x2222222222222222222222222222222222222222"
)

func hx(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimPrefix(s, "0x"), " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// w32 left-pads hex to one word.
func w32(s string) string { return strings.Repeat("0", 64-len(s)) + s }

func lookupUSDC(addr string) (policies.Token, bool) {
	switch addr {
	case tokenAddr:
		return policies.Token{Symbol: "USDC", Address: addr, Decimals: 6}, true
	case "":
		return policies.Token{Symbol: "ETH", Decimals: 18}, true
	}
	return policies.Token{}, false
}

func TestDecodeCallKinds(t *testing.T) {
	rc := w32("2222222222222222222222222222222222222222")
	big255 := new(big.Int).Lsh(big.NewInt(1), 255)
	tests := []struct {
		name  string
		to    string
		value int64
		data  string
		check func(t *testing.T, in policies.Intent)
	}{
		{"native transfer", rcptAddr, 5, "", func(t *testing.T, in policies.Intent) {
			x := in.(policies.Transfer)
			if !x.Token.Native() || x.Token.Symbol != "ETH" || x.Amount.Int64() != 5 || x.To != rcptAddr {
				t.Fatalf("%+v", x)
			}
		}},
		{"erc20 transfer", tokenAddr, 0, "a9059cbb" + rc + w32("0a"), func(t *testing.T, in policies.Intent) {
			x := in.(policies.Transfer)
			if x.Token.Symbol != "USDC" || x.Token.Address != tokenAddr || x.Amount.Int64() != 10 || x.To != rcptAddr {
				t.Fatalf("%+v", x)
			}
		}},
		{"unknown token transfer keeps address", rcptAddr, 0, "a9059cbb" + rc + w32("0a"), func(t *testing.T, in policies.Intent) {
			x := in.(policies.Transfer)
			if x.Token.Symbol != "" || x.Token.Address != rcptAddr || x.Token.Decimals != 0 {
				t.Fatalf("%+v", x.Token)
			}
		}},
		{"approve limited", tokenAddr, 0, "095ea7b3" + rc + w32("64"), func(t *testing.T, in policies.Intent) {
			x := in.(policies.Approve)
			if x.Method != policies.MethodApprove || x.Unlimited || x.Amount.Int64() != 100 || x.Spender != rcptAddr {
				t.Fatalf("%+v", x)
			}
		}},
		{"approve max is unlimited", tokenAddr, 0, "095ea7b3" + rc + strings.Repeat("f", 64), func(t *testing.T, in policies.Intent) {
			if x := in.(policies.Approve); !x.Unlimited || x.Amount.Cmp(maxUint256) != 0 {
				t.Fatalf("%+v", x)
			}
		}},
		{"approve 2^255 is unlimited", tokenAddr, 0, "095ea7b3" + rc + "8" + strings.Repeat("0", 63), func(t *testing.T, in policies.Intent) {
			if x := in.(policies.Approve); !x.Unlimited || x.Amount.Cmp(big255) != 0 {
				t.Fatalf("%+v", x)
			}
		}},
		{"approve 2^255-1 is not", tokenAddr, 0, "095ea7b3" + rc + "7" + strings.Repeat("f", 63), func(t *testing.T, in policies.Intent) {
			if x := in.(policies.Approve); x.Unlimited {
				t.Fatalf("%+v", x)
			}
		}},
		{"increaseAllowance", tokenAddr, 0, "39509351" + rc + strings.Repeat("f", 64), func(t *testing.T, in policies.Intent) {
			if x := in.(policies.Approve); x.Method != policies.MethodIncreaseAllowance || !x.Unlimited {
				t.Fatalf("%+v", x)
			}
		}},
		{"setApprovalForAll true", tokenAddr, 0, "a22cb465" + rc + w32("1"), func(t *testing.T, in policies.Intent) {
			if x := in.(policies.Approve); x.Method != policies.MethodSetApprovalForAll || !x.Unlimited || x.Spender != rcptAddr {
				t.Fatalf("%+v", x)
			}
		}},
		{"setApprovalForAll false", tokenAddr, 0, "a22cb465" + rc + w32("0"), func(t *testing.T, in policies.Intent) {
			if x := in.(policies.Approve); x.Unlimited || x.Amount.Sign() != 0 {
				t.Fatalf("%+v", x)
			}
		}},
		{"permit2 approve", Permit2Address.Hex(), 0, "87517c45" + w32(strings.ToLower(tokenAddr[2:])) + rc + w32("03e8") + w32("6553f100"), func(t *testing.T, in policies.Intent) {
			x := in.(policies.Approve)
			if x.Method != policies.MethodPermit2 || x.Token.Symbol != "USDC" || x.Amount.Int64() != 1000 || x.Expiration != 0x6553f100 || x.Unlimited || x.Tx.To != Permit2Address.Hex() {
				t.Fatalf("%+v", x)
			}
		}},
		{"permit2 max uint160 is unlimited", Permit2Address.Hex(), 0, "87517c45" + w32(strings.ToLower(tokenAddr[2:])) + rc + w32(strings.Repeat("f", 40)) + w32("0"), func(t *testing.T, in policies.Intent) {
			if x := in.(policies.Approve); !x.Unlimited {
				t.Fatalf("%+v", x)
			}
		}},
		{"permit2 selector elsewhere is a contract call", tokenAddr, 0, "87517c45" + w32(strings.ToLower(tokenAddr[2:])) + rc + w32("03e8") + w32("0"), func(t *testing.T, in policies.Intent) {
			if x := in.(policies.ContractCall); x.Selector != "0x87517c45" {
				t.Fatalf("%+v", x)
			}
		}},
		{"transferFrom is a contract call", tokenAddr, 0, "23b872dd" + rc + rc + w32("0a"), func(t *testing.T, in policies.Intent) {
			if x := in.(policies.ContractCall); x.Selector != "0x23b872dd" {
				t.Fatalf("%+v", x)
			}
		}},
		{"token call with value stays a contract call", tokenAddr, 7, "a9059cbb" + rc + w32("0a"), func(t *testing.T, in policies.Intent) {
			if x := in.(policies.ContractCall); x.Value.Int64() != 7 {
				t.Fatalf("%+v", x)
			}
		}},
		{"unknown selector", tokenAddr, 1, "deadbeef01", func(t *testing.T, in policies.Intent) {
			x := in.(policies.ContractCall)
			if x.Selector != "0xdeadbeef" || !bytes.Equal(x.Data, hx("deadbeef01")) || x.Value.Int64() != 1 {
				t.Fatalf("%+v", x)
			}
		}},
		{"lower-case addresses are checksummed", strings.ToLower(tokenAddr), 0, "a9059cbb" + rc + w32("0a"), func(t *testing.T, in policies.Intent) {
			if x := in.(policies.Transfer); x.Token.Address != tokenAddr || x.Tx.To != tokenAddr {
				t.Fatalf("%+v", x)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := policies.Call{To: tt.to, Value: big.NewInt(tt.value), Data: hx(tt.data)}
			in, err := DecodeCall(testChain, testFrom, call, lookupUSDC)
			if err != nil {
				t.Fatal(err)
			}
			if h := in.Head(); h.Chain != testChain || h.From != testFrom {
				t.Fatalf("header %+v", h)
			}
			tt.check(t, in)
			roundTrip(t, call, in)
		})
	}
}

// roundTrip checks that EncodeCall of a decoded intent gives the call back.
func roundTrip(t testing.TB, call policies.Call, in policies.Intent) {
	t.Helper()
	to := common.HexToAddress(call.To)
	re, err := EncodeCall(in, to)
	if err != nil {
		t.Fatalf("EncodeCall(%s): %v", in.Kind(), err)
	}
	v := call.Value
	if v == nil {
		v = new(big.Int)
	}
	if !strings.EqualFold(re.To, call.To) || re.Value.Cmp(v) != 0 || !bytes.Equal(re.Data, call.Data) {
		t.Fatalf("re-encoded %s: to %s value %s data %x; want to %s value %s data %x", in.Kind(), re.To, re.Value, []byte(re.Data), call.To, v, []byte(call.Data))
	}
}

func TestDecodeCallMalformed(t *testing.T) {
	rc := w32("2222222222222222222222222222222222222222")
	dirtyAddr := "01" + strings.Repeat("0", 22) + "2222222222222222222222222222222222222222"
	tests := []struct {
		name, to string
		value    int64
		data     string
		want     string
	}{
		{"short selector", tokenAddr, 0, "a9059c", "shorter than a 4-byte"},
		{"transfer short", tokenAddr, 0, "a9059cbb" + rc, "data is short"},
		{"transfer trailing", tokenAddr, 0, "a9059cbb" + rc + w32("0a") + "00", "trailing"},
		{"transfer dirty address", tokenAddr, 0, "a9059cbb" + dirtyAddr + w32("0a"), "dirty high bits"},
		{"approve short", tokenAddr, 0, "095ea7b3" + rc + "00", "data is short"},
		{"approve trailing word", tokenAddr, 0, "095ea7b3" + rc + w32("0a") + w32("0"), "trailing"},
		{"approve dirty spender", tokenAddr, 0, "095ea7b3" + dirtyAddr + w32("0a"), "spender"},
		{"increaseAllowance dirty", tokenAddr, 0, "39509351" + dirtyAddr + w32("0a"), "dirty"},
		{"setApprovalForAll bool 2", tokenAddr, 0, "a22cb465" + rc + w32("2"), "neither 0 nor 1"},
		{"setApprovalForAll dirty bool", tokenAddr, 0, "a22cb465" + rc + "01" + strings.Repeat("0", 62), "neither 0 nor 1"},
		{"setApprovalForAll dirty operator", tokenAddr, 0, "a22cb465" + dirtyAddr + w32("1"), "operator"},
		{"permit2 dirty uint160", Permit2Address.Hex(), 0, "87517c45" + rc + rc + w32("01"+strings.Repeat("0", 40)) + w32("0"), "does not fit 160"},
		{"permit2 dirty uint48", Permit2Address.Hex(), 0, "87517c45" + rc + rc + w32("1") + w32("01"+strings.Repeat("0", 12)), "does not fit 48"},
		{"permit2 dirty token", Permit2Address.Hex(), 0, "87517c45" + dirtyAddr + rc + w32("1") + w32("0"), "token"},
		{"permit2 short", Permit2Address.Hex(), 0, "87517c45" + rc + rc + w32("1"), "data is short"},
		{"bad to", "0x1234", 0, "", "not 0x followed by 40 hex"},
		{"bad checksum", "0xa0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 0, "", "checksum"},
		{"negative value", rcptAddr, -1, "", "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeCall(testChain, testFrom, policies.Call{To: tt.to, Value: big.NewInt(tt.value), Data: hx(tt.data)}, lookupUSDC)
			var de *DecodeError
			if !errors.As(err, &de) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want a *DecodeError containing %q", err, tt.want)
			}
		})
	}
	if _, err := DecodeCall(testChain, "nope", policies.Call{To: rcptAddr}, nil); err == nil {
		t.Fatal("bad from accepted")
	}
	over := new(big.Int).Lsh(big.NewInt(1), 256)
	if _, err := DecodeCall(testChain, testFrom, policies.Call{To: rcptAddr, Value: over}, nil); err == nil {
		t.Fatal("value over uint256 accepted")
	}
}

func TestPermit2At(t *testing.T) {
	mine := common.HexToAddress("0x3333333333333333333333333333333333333333")
	data, err := EncodePermit2Approve(common.HexToAddress(tokenAddr), common.HexToAddress(rcptAddr), big.NewInt(5), 100)
	if err != nil {
		t.Fatal(err)
	}
	call := policies.Call{To: mine.Hex(), Data: data}
	in, _ := DecodeCall(testChain, testFrom, call, nil)
	if in.Kind() != policies.KindCall {
		t.Fatalf("without Permit2At: %s", in.Kind())
	}
	in, err = DecodeCall(testChain, testFrom, call, nil, Permit2At(mine))
	if err != nil || in.Kind() != policies.KindApprove {
		t.Fatalf("with Permit2At: %v %v", in, err)
	}
	roundTrip(t, call, in)
}

func TestEncodeErrors(t *testing.T) {
	a := common.HexToAddress(rcptAddr)
	if _, err := EncodeTransfer(a, big.NewInt(-1)); err == nil {
		t.Fatal("negative amount encoded")
	}
	if _, err := EncodeApprove(a, new(big.Int).Lsh(big.NewInt(1), 256)); err == nil {
		t.Fatal("2^256 encoded")
	}
	if _, err := EncodePermit2Approve(a, a, new(big.Int).Lsh(big.NewInt(1), 160), 0); err == nil {
		t.Fatal("2^160 encoded as uint160")
	}
	if _, err := EncodePermit2Approve(a, a, big.NewInt(1), 1<<48); err == nil {
		t.Fatal("2^48 encoded as uint48")
	}
	if _, err := EncodeCall(policies.Swap{}); err == nil {
		t.Fatal("swap encoded from fields")
	}
}

// FuzzDecodeCall: no input panics the decoder, and every accepted input
// re-encodes from the intent's fields to the identical call.
func FuzzDecodeCall(f *testing.F) {
	rc := w32("2222222222222222222222222222222222222222")
	f.Add(hx(rcptAddr), []byte{}, []byte{}, false)
	f.Add(hx(tokenAddr), []byte{}, hx("a9059cbb"+rc+w32("0a")), false)
	f.Add(hx(tokenAddr), []byte{1}, hx("a9059cbb"+rc+w32("0a")), false)
	f.Add(hx(tokenAddr), []byte{}, hx("095ea7b3"+rc+strings.Repeat("f", 64)), false)
	f.Add(hx(tokenAddr), []byte{}, hx("39509351"+rc+w32("0a")), false)
	f.Add(hx(tokenAddr), []byte{}, hx("a22cb465"+rc+w32("1")), false)
	f.Add(hx(tokenAddr), []byte{}, hx("23b872dd"+rc+rc+w32("0a")), false)
	f.Add(Permit2Address.Bytes(), []byte{}, hx("87517c45"+rc+rc+w32("1")+w32("2")), true)
	f.Add(hx(tokenAddr), []byte{}, hx("87517c45"+rc+rc+w32("1")+w32("2")), false)
	f.Add(hx(tokenAddr), []byte{}, hx("a9059c"), false)
	f.Fuzz(func(t *testing.T, to, value, data []byte, permit2 bool) {
		if len(to) != 20 || len(value) > 33 {
			return
		}
		addr := common.BytesToAddress(to)
		call := policies.Call{To: addr.Hex(), Value: new(big.Int).SetBytes(value), Data: data}
		var opts []DecodeOption
		if permit2 {
			opts = append(opts, Permit2At(addr))
		}
		in, err := DecodeCall(testChain, testFrom, call, lookupUSDC, opts...)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error is not a *DecodeError: %v", err)
			}
			return
		}
		if x, ok := in.(policies.Transfer); ok && !x.Token.Native() && call.Value.Sign() != 0 {
			t.Fatal("a token transfer hides ETH")
		}
		roundTrip(t, call, in)
		if _, err := policies.Digest(in); err != nil {
			t.Fatalf("decoded intent does not digest: %v", err)
		}
	})
}

// BenchmarkDecodeCall times decoding each kind of call the decoder reads:
// the wallet decodes every transfer and approval it sends again, and the
// co-signer every inner call of a Safe batch.
func BenchmarkDecodeCall(b *testing.B) {
	rc := w32("2222222222222222222222222222222222222222")
	calls := []struct {
		name, to string
		value    int64
		data     string
	}{
		{"native", rcptAddr, 5, ""},
		{"transfer", tokenAddr, 0, "a9059cbb" + rc + w32("0a")},
		{"approve", tokenAddr, 0, "095ea7b3" + rc + w32("0a")},
		{"permit2", Permit2Address.Hex(), 0, "87517c45" + w32(strings.ToLower(tokenAddr[2:])) + rc + w32("0a") + w32("0b")},
		{"call", tokenAddr, 0, "deadbeef" + rc},
	}
	for _, c := range calls {
		call := policies.Call{To: c.to, Value: big.NewInt(c.value), Data: hx(c.data)}
		if _, err := DecodeCall(testChain, testFrom, call, lookupUSDC); err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeCall(testChain, testFrom, call, lookupUSDC); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
