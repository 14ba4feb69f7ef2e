package policies

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestParseUnits(t *testing.T) {
	tests := []struct {
		in   string
		dec  uint8
		want string // base units, or "" for an error
		err  string
	}{
		{"1.5", 6, "1500000", ""},
		{"1", 18, "1000000000000000000", ""},
		{"0.000001", 6, "1", ""},
		{"1.50", 6, "1500000", ""},
		{"007", 0, "7", ""},
		{"0", 6, "0", ""},
		{"1000000", 0, "1000000", ""},
		{"115792089237316195423570985008687907853269984665640564039457584007913129639935", 0, maxUint256.String(), ""},
		{"115792089237316195423570985008687907853269984665640564039457584007913129639936", 0, "", "larger than any amount"},
		{"1.0000001", 6, "", "has 7 decimal places but this token has 6; write at most 6"},
		{"1.5", 0, "", "has decimals but this token has none"},
		{"", 6, "", "the amount is empty"},
		{"-1", 6, "", "is negative"},
		{"+1", 6, "", "not a plain decimal number"},
		{"1e3", 6, "", "has an exponent"},
		{"1.5E-2", 6, "", "has an exponent"},
		{"1.", 6, "", `ends with a point; write 1`},
		{".5", 6, "", `starts with a point; write 0.5`},
		{".", 6, "", "not a plain decimal number"},
		{"1,000", 6, "", "not a plain decimal number"},
		{"1_000", 6, "", "not a plain decimal number"},
		{" 1", 6, "", "not a plain decimal number"},
		{"1.2.3", 6, "", "not a plain decimal number"},
		{"0x10", 6, "", "not a plain decimal number"},
		{"١", 6, "", "not a plain decimal number"}, // Arabic-Indic digit one
		{"hello", 6, "", "not a plain decimal number"},
		{strings.Repeat("9", 300), 0, "", "too long"},
	}
	for _, tt := range tests {
		got, err := ParseUnits(tt.in, tt.dec)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrBadAmount) {
				t.Errorf("ParseUnits(%q, %d) error %v, want %q", tt.in, tt.dec, err, tt.err)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("ParseUnits(%q, %d) = %v, %v; want %s", tt.in, tt.dec, got, err, tt.want)
		}
	}
}

func TestFormatUnits(t *testing.T) {
	tests := []struct {
		v    *big.Int
		dec  uint8
		want string
	}{
		{big.NewInt(1200000000), 6, "1,200"},
		{big.NewInt(1500000), 6, "1.5"},
		{big.NewInt(1), 6, "0.000001"},
		{big.NewInt(0), 18, "0"},
		{nil, 6, "0"},
		{units("2.5", 18), 18, "2.5"},
		{units("1234567.891", 18), 18, "1,234,567.891"},
		{big.NewInt(123), 0, "123"},
		{big.NewInt(1234), 0, "1,234"},
		{big.NewInt(-1234500), 3, "-1,234.5"},
		{maxUint256, 18, "115,792,089,237,316,195,423,570,985,008,687,907,853,269,984,665,640,564,039,457.584007913129639935"},
	}
	for _, tt := range tests {
		if got := FormatUnits(tt.v, tt.dec); got != tt.want {
			t.Errorf("FormatUnits(%v, %d) = %q, want %q", tt.v, tt.dec, got, tt.want)
		}
	}
}

// FuzzParseUnits: no panics; what parses formats back to the same value.
func FuzzParseUnits(f *testing.F) {
	for _, s := range []string{"1.5", "0", "1.", ".5", "-1", "1e3", "0.000001", "115792089237316195423570985008687907853269984665640564039457584007913129639935"} {
		f.Add(s, uint8(6))
	}
	f.Fuzz(func(t *testing.T, s string, dec uint8) {
		dec %= 78
		v, err := ParseUnits(s, dec)
		if err != nil {
			if !errors.Is(err, ErrBadAmount) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q", err)
			}
			return
		}
		if v.Sign() < 0 || v.Cmp(maxUint256) > 0 {
			t.Fatalf("ParseUnits(%q) = %s out of range", s, v)
		}
		plain := formatUnits(v, dec, false)
		back, err := ParseUnits(plain, dec)
		if err != nil || back.Cmp(v) != 0 {
			t.Fatalf("ParseUnits(%q) = %s, formats as %q, which parses to %v (%v)", s, v, plain, back, err)
		}
		if strings.ReplaceAll(FormatUnits(v, dec), ",", "") != plain {
			t.Fatalf("FormatUnits and the plain form differ for %s", v)
		}
	})
}
