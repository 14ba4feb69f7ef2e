package offline

import (
	"fmt"
	"math/big"
	"regexp"
	"strings"
)

// amountPattern captures a number as typed, separators and all: "10",
// "0.000001", ".5", "1,000.5", and also "1,000", "1,5" or "1.000.000". The
// grammar takes any of them so that a command with an unclear number is
// recognised as a command and answered with a question (unclearNumber),
// rather than misread or dismissed as not understood.
const amountPattern = `(\.?\d(?:[\d.,]*\d)?)`

// numberPrefix finds a number at the start of a word, as amountPattern
// captures it.
var numberPrefix = regexp.MustCompile(`^\.?\d(?:[\d.,]*\d)?`)

// Shapes of a number that has one reading.
var (
	plainNumber   = regexp.MustCompile(`^(?:\d+(?:\.\d+)?|\.\d+)$`)
	dotThousands  = regexp.MustCompile(`^[1-9]\d{0,2}\.\d{3}$`)
	commaThenDot  = regexp.MustCompile(`^[1-9]\d{0,2}(?:,\d{3})+\.\d+$`)
	allDigits     = regexp.MustCompile(`^\d+$`)
	thousandGroup = regexp.MustCompile(`^\d{3}$`)
	leadingGroup  = regexp.MustCompile(`^[1-9]\d{0,2}$`)
)

// unambiguous reports whether a number as typed has exactly one reading,
// in any of the world's conventions for writing numbers. Money is not
// guessed at, so the offline model takes only these shapes:
//
//   - digits, with or without a decimal part after a dot: "1000", "1.5",
//     "0.001", "1000.000", "1.0000";
//   - a decimal part alone: ".5";
//   - comma thousands groups followed by a decimal part after a dot:
//     "1,000.50", "12,345,678.9" (the dot fixes the commas as thousands).
//
// Except, among the first: a dot followed by exactly three digits after an
// integer part of one to three digits not starting with 0 ("1.000",
// "12.500", "999.999"), because in much of the world that dot groups
// thousands and "1.000" is one thousand. ("0.001" and "1000.000" are fine:
// no thousands group follows a 0 or four digits.)
//
// Everything else that has a comma or more than one dot is ambiguous:
// commas without a decimal point ("1,000", "1,000,000": thousands to some
// readers, and "1,5" or "12,50" are decimal commas to others; a comma is
// read only beside a dot that settles it), several dots ("1.000.000"), a
// decimal comma after dot groups ("1.000,50"), malformed groups ("1,00.5",
// "1..5").
func unambiguous(s string) bool {
	switch {
	case plainNumber.MatchString(s):
		return !dotThousands.MatchString(s)
	default:
		return commaThenDot.MatchString(s)
	}
}

// readings are the values an ambiguous number may mean, in the order they
// are offered: read with thousands separators (comma or dot groups, the
// other sign as the decimal point), then with its one separator as a
// decimal point. Each is an exact decimal with a dot and no separators.
func readings(s string) []string {
	var out []string
	add := func(v string) {
		v = tidyDecimal(v)
		for _, have := range out {
			if have == v {
				return
			}
		}
		out = append(out, v)
	}
	for _, sep := range []struct{ group, dec string }{{",", "."}, {".", ","}} {
		intPart, frac, hasFrac := strings.Cut(s, sep.dec)
		groups := strings.Split(intPart, sep.group)
		if len(groups) < 2 || !leadingGroup.MatchString(groups[0]) || (hasFrac && !allDigits.MatchString(frac)) {
			continue
		}
		ok := true
		for _, g := range groups[1:] {
			ok = ok && thousandGroup.MatchString(g)
		}
		if !ok {
			continue
		}
		v := strings.Join(groups, "")
		if hasFrac {
			v += "." + frac
		}
		add(v)
	}
	if strings.Count(s, ",")+strings.Count(s, ".") == 1 {
		i := strings.IndexAny(s, ",.")
		intPart, frac := s[:i], s[i+1:]
		if (intPart == "" || allDigits.MatchString(intPart)) && allDigits.MatchString(frac) {
			add(intPart + "." + frac)
		}
	}
	return out
}

// tidyDecimal writes an exact decimal plainly: no leading zeros, no
// trailing zeros in the decimal part beyond the first ("1.000" → "1.0",
// so a reader sees at once that it is one, not one thousand).
func tidyDecimal(v string) string {
	intPart, frac, hasFrac := strings.Cut(v, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	if !hasFrac {
		return intPart
	}
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		frac = "0"
	}
	return intPart + "." + frac
}

// unclearNumber finds the first number in a normalized message that is not
// unambiguous and returns the question to ask instead of acting. Hex
// tokens (addresses, hashes) are not numbers.
func unclearNumber(s string) (string, bool) {
	for _, w := range strings.Fields(s) {
		if isHexToken(w) {
			continue
		}
		if n := numberPrefix.FindString(w); n != "" && !unambiguous(n) {
			return ambiguousText(n, readings(n)), true
		}
	}
	return "", false
}

// ambiguousText asks which value was meant.
func ambiguousText(typed string, rs []string) string {
	const how = "Write the amount without thousands separators, with a dot for decimals"
	switch len(rs) {
	case 0:
		return fmt.Sprintf("I did nothing: I cannot read %q as a number. %s, e.g. \"1000\" or \"1.5\".", typed, how)
	case 1:
		return fmt.Sprintf("I did nothing: %q uses separators I do not guess at. Did you mean %s? %s, e.g. %q.", typed, rs[0], how, rs[0])
	}
	quoted := make([]string, len(rs))
	for i, r := range rs {
		quoted[i] = fmt.Sprintf("%q", r)
	}
	return fmt.Sprintf("I did nothing: %q can be read more than one way. Did you mean %s? %s, e.g. %s.",
		typed, strings.Join(rs, " or "), how, strings.Join(quoted, " or "))
}

// canonicalAmount returns an unambiguous amount as an exact decimal string:
// thousands separators removed, a leading zero added or redundant ones
// dropped, every significant digit kept. It never goes through float64, so
// "0.000001" stays itself.
func canonicalAmount(s string) string {
	s = strings.ReplaceAll(s, ",", "")
	intPart, frac, hasFrac := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	if hasFrac {
		return intPart + "." + frac
	}
	return intPart
}

// slippageBps converts a slippage written as a percentage or in basis points
// into whole basis points, exactly. ok is false when the value is not a whole
// number of basis points (e.g. "0.005%"), which the tools cannot express.
func slippageBps(value, unit string) (bps string, ok bool) {
	r, good := new(big.Rat).SetString(canonicalAmount(value))
	if !good {
		return "", false
	}
	if unit == "%" || unit == "percent" {
		r.Mul(r, big.NewRat(100, 1))
	}
	if !r.IsInt() {
		return "", false
	}
	return r.Num().String(), true
}
