package offline

import (
	"regexp"
	"strings"
)

// normalize turns what a person typed into the canonical form the grammar
// matches: lower case, single spaces, punctuation and politeness removed.
// Hex tokens (addresses, hashes) keep their case exactly as typed, because
// an EIP-55 checksum lives in the case and the tool, not this model, checks it.
func normalize(s string) string {
	s = strings.NewReplacer("\u2019", "'", "\u2018", "'", "\u201c", `"`, "\u201d", `"`).Replace(s)
	fields := strings.Fields(s)
	out := make([]string, 0, len(fields)+2)
	for _, f := range fields {
		f = trimPunct(f)
		if f == "" {
			continue
		}
		if isHexToken(f) || isBase58Address(f) {
			out = append(out, f)
			continue
		}
		f = strings.ToLower(f)
		if exp, ok := contractions[f]; ok {
			out = append(out, exp...)
			continue
		}
		// "10usdc" and "30bps" are one word as typed but two to the grammar.
		if m := numberWord.FindStringSubmatch(f); m != nil {
			out = append(out, m[1], m[2])
			continue
		}
		out = append(out, f)
	}
	return stripPoliteness(strings.Join(out, " "))
}

// numberWord splits an amount glued to a symbol or unit.
var numberWord = regexp.MustCompile(`^` + amountPattern + `([a-z][a-z0-9]*)$`)

func isHexToken(f string) bool {
	return len(f) > 2 && f[0] == '0' && (f[1] == 'x' || f[1] == 'X')
}

// base58Alphabet is Bitcoin's, which Solana addresses use: no 0, O, I or l.
const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// isBase58Address reports whether f looks like a Solana address (a 32-byte
// key in base58 is 32 to 44 characters). No word of a command is that long,
// and the case is the address, so it is kept exactly as typed; whether the
// key is valid is the tool's to say.
func isBase58Address(f string) bool {
	if len(f) < 32 || len(f) > 44 {
		return false
	}
	for i := 0; i < len(f); i++ {
		if strings.IndexByte(base58Alphabet, f[i]) < 0 {
			return false
		}
	}
	return true
}

// trimPunct removes sentence punctuation around a word. A leading dot is
// kept before a digit so ".5" stays an amount; "%" is kept for slippage.
func trimPunct(f string) string {
	f = strings.TrimRight(f, `.,;:!?"')]}…`)
	for f != "" {
		c := f[0]
		if c == '.' && len(f) > 1 && f[1] >= '0' && f[1] <= '9' {
			break
		}
		if !strings.ContainsRune(`.,;:!?"'([{/`, rune(c)) {
			break
		}
		f = f[1:]
	}
	return f
}

var contractions = map[string][]string{
	"what's": {"what", "is"}, "whats": {"what", "is"},
	"where's": {"where", "is"}, "i'd": {"i", "would"}, "let's": {"let", "us"}, "lets": {"let", "us"},
	"wanna": {"want", "to"}, "gimme": {"give", "me"}, "how's": {"how", "is"},
}

// politePrefixes and politeSuffixes are stripped repeatedly, longest first,
// so "hey, could you please send…" reaches the grammar as "send…". They
// carry no intent; anything that might (like "don't") is left in place and
// makes the message unmatched, which is the safe outcome.
var politePrefixes = []string{
	"i would like you to", "i would like to", "i want you to", "i want to", "i need you to", "i need to",
	"would you please", "could you please", "can you please",
	"go ahead and", "could you", "can you", "would you", "will you", "could u", "can u",
	"let us", "let me", "tell me", "show me", "give me",
	"please", "pls", "plz", "kindly", "hey", "hi", "hello", "yo", "ok", "okay", "so", "now",
	"just", "mandate", "bot", "show", "check", "get", "display", "and",
}

var politeSuffixes = []string{
	"thank you very much", "thank you", "thanks a lot", "right now", "for me",
	"please", "pls", "plz", "thanks", "thx", "ty", "now", "asap",
}

func stripPoliteness(s string) string {
	for changed := true; changed; {
		changed = false
		for _, p := range politePrefixes {
			if s == p {
				return ""
			}
			if strings.HasPrefix(s, p+" ") {
				s, changed = s[len(p)+1:], true
				break
			}
		}
		for _, p := range politeSuffixes {
			if s == p {
				return ""
			}
			if strings.HasSuffix(s, " "+p) {
				s, changed = s[:len(s)-len(p)-1], true
				break
			}
		}
	}
	return s
}
