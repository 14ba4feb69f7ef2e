package evm

import (
	"bytes"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
)

func TestDecodeAnswers(t *testing.T) {
	word := func(s string) []byte { return hx(w32(s)) }
	t.Run("uint8", func(t *testing.T) {
		for _, tt := range []struct {
			in   []byte
			want uint8
			err  string
		}{
			{word("06"), 6, ""},
			{word("ff"), 255, ""},
			{word("0100"), 0, "more than 255"},
			{append(word("06"), 0, 0, 0, 0, 0, 0, 0, 0), 0, "40 bytes"},
			{word("06")[:31], 0, "31 bytes"},
			{nil, 0, "no contract code"},
		} {
			got, err := decodeUint8Answer(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("%x: err %v, want %q", tt.in, err, tt.err)
				}
				continue
			}
			if err != nil || got != tt.want {
				t.Errorf("%x: %d %v", tt.in, got, err)
			}
		}
	})
	t.Run("uint256", func(t *testing.T) {
		if v, err := decodeUint256Answer(word("0a")); err != nil || v.Int64() != 10 {
			t.Fatal(v, err)
		}
		if _, err := decodeUint256Answer(append(word("0a"), 0)); err == nil {
			t.Fatal("33 bytes accepted")
		}
	})
	t.Run("string", func(t *testing.T) {
		ok := encodeABIString("USD Coin")
		for _, tt := range []struct {
			name string
			in   []byte
			want string
			err  string
		}{
			{"abi", ok, "USD Coin", ""},
			{"empty abi", encodeABIString(""), "", ""},
			{"long abi", encodeABIString(strings.Repeat("x", 40)), strings.Repeat("x", 40), ""},
			{"bytes32", append([]byte("MKR"), make([]byte, 29)...), "MKR", ""},
			{"bytes32 NUL inside", append([]byte("M\x00R"), make([]byte, 29)...), "", "NUL"},
			{"trailing word", append(append([]byte{}, ok...), make([]byte, 32)...), "", "want exactly 96"},
			{"bad offset", append(word("40"), bytes.Clone(ok[32:])...), "", "offset"},
			{"length past end", append(append(word("20"), word("41")...), ok[64:]...), "", "exceeds"},
			{"dirty padding", append(bytes.Clone(ok[:len(ok)-1]), 1), "", "padding"},
			{"not utf8", encodeABIString("\xff\xfe"), "", "UTF-8"},
			{"huge length", append(append(word("20"), hx(strings.Repeat("f", 64))...), ok[64:]...), "", "exceeds"},
			{"odd size", ok[:70], "", "multiple of 32"},
			{"empty", nil, "", "no contract code"},
		} {
			got, err := decodeStringAnswer(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("%s: err %v, want %q", tt.name, err, tt.err)
				}
				continue
			}
			if err != nil || got != tt.want {
				t.Errorf("%s: %q %v", tt.name, got, err)
			}
		}
	})
	t.Run("checkText", func(t *testing.T) {
		if err := checkText("symbol", "USDC", 32); err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"US\nDC", "USDC\u202e", strings.Repeat("A", 33)} {
			if err := checkText("symbol", bad, 32); err == nil {
				t.Errorf("%q accepted", bad)
			}
		}
	})
}

func TestDecodeRevert(t *testing.T) {
	reason := append(selErrorString[:], encodeABIString("ERC20: transfer amount exceeds balance")...)
	panic11 := append(selPanic[:], hx(w32("11"))...)
	custom := hx("fb8f41b2" + w32("01") + w32("02"))
	for _, tt := range []struct {
		data []byte
		want string
	}{
		{reason, `execution reverted: "ERC20: transfer amount exceeds balance"`},
		{panic11, "panic 0x11 (arithmetic overflow or underflow)"},
		{append(selPanic[:], hx(w32("99"))...), "unknown panic code"},
		{custom, "custom error 0xfb8f41b2 (64 bytes of arguments)"},
		{nil, "without a reason"},
		{append(selErrorString[:], 1, 2, 3), "malformed Error(string)"},
		{[]byte{1, 2}, "undecodable data 0x0102"},
	} {
		if got := DecodeRevert(tt.data).Error(); !strings.Contains(got, tt.want) {
			t.Errorf("%x: %q, want %q", tt.data, got, tt.want)
		}
	}
}

func TestWordCodecs(t *testing.T) {
	a := common.HexToAddress(rcptAddr)
	if got, err := decodeAddressWord(encodeAddressWord(a)); err != nil || got != a {
		t.Fatal(got, err)
	}
	w, err := encodeUintWord(maxUint160, 160)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := decodeUintWord(w, 160); err != nil || v.Cmp(maxUint160) != 0 {
		t.Fatal(v, err)
	}
	if _, err := encodeUintWord(new(big.Int).Add(maxUint160, big.NewInt(1)), 160); err == nil {
		t.Fatal("2^160 encoded as uint160")
	}
	if b, err := decodeBoolWord(encodeBoolWord(true)); err != nil || !b {
		t.Fatal(b, err)
	}
}

// FuzzDecodeAnswer: the decoders of contract answers (string, uint8,
// uint256) never panic, and what they accept re-encodes to the same bytes.
func FuzzDecodeAnswer(f *testing.F) {
	f.Add(encodeABIString("USD Coin"))
	f.Add(encodeABIString(""))
	f.Add(append([]byte("MKR"), make([]byte, 29)...))
	f.Add(hx(w32("06")))
	f.Add(hx(w32("0100")))
	f.Add(append(hx(w32("20")), hx(strings.Repeat("f", 64))...))
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := decodeStringAnswer(b); err == nil {
			var re []byte
			if len(b) == wordSize {
				re = append([]byte(s), make([]byte, wordSize-len(s))...)
			} else {
				re = encodeABIString(s)
			}
			if !bytes.Equal(re, b) {
				t.Fatalf("string %q from %x re-encodes to %x", s, b, re)
			}
		}
		if d, err := decodeUint8Answer(b); err == nil {
			if !bytes.Equal(common.LeftPadBytes([]byte{d}, 32), b) {
				t.Fatalf("uint8 %d from %x", d, b)
			}
		}
		if v, err := decodeUint256Answer(b); err == nil {
			if !bytes.Equal(common.LeftPadBytes(v.Bytes(), 32), b) {
				t.Fatalf("uint256 %s from %x", v, b)
			}
		}
		_ = DecodeRevert(b).Error()
	})
}
