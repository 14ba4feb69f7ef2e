package tokenlist

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultParses(t *testing.T) {
	l := Default()
	tok, err := l.Lookup(1, "usdc")
	if err != nil {
		t.Fatal(err)
	}
	if tok.Decimals != 6 || tok.Address != "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48" {
		t.Fatalf("USDC on mainnet = %+v", tok)
	}
}

func TestLookupErrors(t *testing.T) {
	l, err := Parse([]byte(`{"name":"t","tokens":[
	 {"chainId":1337,"address":"0x1111111111111111111111111111111111111111","symbol":"USDC","name":"A","decimals":6},
	 {"chainId":1337,"address":"0x2222222222222222222222222222222222222222","symbol":"usdc","name":"B","decimals":6}]}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = l.Lookup(1337, "USDC")
	var amb *AmbiguousError
	if !errors.As(err, &amb) || len(amb.Candidates) != 2 || !strings.Contains(err.Error(), "0x2222") {
		t.Fatalf("want ambiguity naming both addresses, got %v", err)
	}
	if _, err := l.Lookup(1337, "NOPE"); !errors.Is(err, ErrUnknownSymbol) {
		t.Fatalf("want ErrUnknownSymbol, got %v", err)
	}
	if _, err := l.Lookup(1, "USDC"); !errors.Is(err, ErrUnknownSymbol) {
		t.Fatalf("other chain: want ErrUnknownSymbol, got %v", err)
	}
}

func TestParseAddress(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", ""},
		{"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", ""},
		{"0xA0B86991C6218B36C1D19D4A2E9EB0CE3606EB48", ""},
		{"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eb48", "wrong checksum"},
		{"0x1234", "not an address"},
		{"A0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "not an address"},
		{"0xZZb86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "not an address"},
		{"", "not an address"},
	} {
		_, err := ParseAddress(tc.in)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseAddress(%q) = %v, want %q", tc.in, err, tc.err)
		}
	}
}

func TestParseRejects(t *testing.T) {
	for _, in := range []string{
		`{`,
		`{"tokens":[{"chainId":1,"address":"0xbad","symbol":"X","decimals":1}]}`,
		`{"tokens":[{"chainId":1,"address":"0x1111111111111111111111111111111111111111","symbol":"","decimals":1}]}`,
		`{"tokens":[{"chainId":1,"address":"0x1111111111111111111111111111111111111111","symbol":"X","decimals":78}]}`,
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%s) accepted", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(defaultJSON)
	f.Add([]byte(`{"tokens":[{"chainId":1,"address":"0x1111111111111111111111111111111111111111","symbol":"X","decimals":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Parse(data)
		if err != nil {
			return
		}
		for _, tok := range l.Tokens {
			if _, err := ParseAddress(tok.Address); err != nil {
				t.Fatalf("accepted list holds a bad address %q", tok.Address)
			}
		}
	})
}
