package policies

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// maxUint256 bounds every amount: nothing on chain holds more, so a larger
// number in a policy or from a user is a mistake, not a limit.
var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// ErrBadAmount is wrapped by every error ParseUnits returns, so callers can
// tell bad input from other failures with errors.Is.
var ErrBadAmount = errors.New("bad amount")

// ParseUnits converts a decimal string in token units ("1.5") into base units
// (1500000 for 6 decimals), exactly.
//
// The accepted form is deliberately narrow, because an amount that could be
// read two ways must not move money: one or more digits, optionally a point
// followed by one or more digits. So "1", "0.5", "1.50" and "007" are
// accepted; the empty string, a sign ("-1", "+1"), an exponent ("1e3"),
// separators ("1,000", "1_000"), spaces, a bare leading or trailing point
// (".5", "1.") and more fractional digits than the token has are rejected
// with an error saying what to write instead. Values above 2^256-1 base
// units are rejected as well.
func ParseUnits(s string, decimals uint8) (*big.Int, error) {
	whole, frac, err := splitDecimal(s)
	if err != nil {
		return nil, err
	}
	if len(frac) > int(decimals) {
		if decimals == 0 {
			return nil, fmt.Errorf("%w: %q has decimals but this token has none; write a whole number", ErrBadAmount, s)
		}
		return nil, fmt.Errorf("%w: %q has %d decimal places but this token has %d; write at most %d", ErrBadAmount, s, len(frac), decimals, decimals)
	}
	digits := whole + frac + strings.Repeat("0", int(decimals)-len(frac))
	v, ok := new(big.Int).SetString(digits, 10)
	if !ok { // unreachable: splitDecimal admits digits only
		return nil, fmt.Errorf("%w: %q is not a decimal number", ErrBadAmount, s)
	}
	if v.Cmp(maxUint256) > 0 {
		return nil, fmt.Errorf("%w: %q is larger than any amount a chain can hold", ErrBadAmount, s)
	}
	return v, nil
}

// splitDecimal checks the grammar ParseUnits documents and returns the digits
// before and after the point.
func splitDecimal(s string) (whole, frac string, err error) {
	if s == "" {
		return "", "", fmt.Errorf("%w: the amount is empty; write a decimal such as 1.5", ErrBadAmount)
	}
	if len(s) > 200 {
		return "", "", fmt.Errorf("%w: %.20q… is too long to be an amount", ErrBadAmount, s)
	}
	whole, frac, point := strings.Cut(s, ".")
	switch {
	case s[0] == '-':
		return "", "", fmt.Errorf("%w: %q is negative; amounts are never below zero", ErrBadAmount, s)
	case point && whole == "" && isDigits(frac):
		return "", "", fmt.Errorf("%w: %q starts with a point; write 0%s", ErrBadAmount, s, s)
	case point && frac == "" && isDigits(whole):
		return "", "", fmt.Errorf("%w: %q ends with a point; write %s", ErrBadAmount, s, whole)
	case !isDigits(whole) || (point && !isDigits(frac)):
		if looksExponent(s) {
			return "", "", fmt.Errorf("%w: %q has an exponent; write all the digits, e.g. 1000 for 1e3", ErrBadAmount, s)
		}
		return "", "", fmt.Errorf("%w: %q is not a plain decimal number; write digits with at most one point, e.g. 1.5", ErrBadAmount, s)
	}
	return whole, frac, nil
}

// looksExponent reports whether s is a number in scientific notation, so the
// error can say so.
func looksExponent(s string) bool {
	i := strings.IndexAny(s, "eE")
	if i <= 0 {
		return false
	}
	mant, exp := strings.Replace(s[:i], ".", "", 1), strings.TrimLeft(s[i+1:], "+-")
	return isDigits(mant) && isDigits(exp)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FormatUnits writes base units as a decimal in token units for people:
// thousands separated by commas, trailing fractional zeros dropped
// (1200000000 with 6 decimals is "1,200"; 1500000 is "1.5"). It is exact;
// ParseUnits does not read its output back when it has separators.
func FormatUnits(v *big.Int, decimals uint8) string {
	return formatUnits(v, decimals, true)
}

// DecimalUnits writes base units as a plain decimal in token units, with no
// separators ("1200.5"): the form for JSON and scripts, which ParseUnits
// reads back exactly.
func DecimalUnits(v *big.Int, decimals uint8) string {
	return formatUnits(v, decimals, false)
}

// formatUnits is FormatUnits with the separators optional: CEL rules and
// JSON get the plain form, which decimal() and ParseUnits read back.
func formatUnits(v *big.Int, decimals uint8, separators bool) string {
	if v == nil {
		return "0"
	}
	neg := v.Sign() < 0
	digits := new(big.Int).Abs(v).String()
	d := int(decimals)
	if len(digits) <= d {
		digits = strings.Repeat("0", d-len(digits)+1) + digits
	}
	whole, frac := digits[:len(digits)-d], strings.TrimRight(digits[len(digits)-d:], "0")
	var b strings.Builder
	b.Grow(len(digits) + len(digits)/3 + 2)
	if neg {
		b.WriteByte('-')
	}
	for i := 0; i < len(whole); i++ {
		if separators && i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(whole[i])
	}
	if frac != "" {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}
