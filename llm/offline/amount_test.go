package offline

import (
	"context"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/tmc/langchaingo/llms"
)

func TestUnambiguous(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		// one reading
		{"1", true}, {"1000", true}, {"1.5", true}, {"0.001", true}, {"0.000001", true},
		{".5", true}, {".500", true}, {"1000.000", true}, {"1.0000", true}, {"1.00", true},
		{"12.5", true}, {"1,000.50", true}, {"1,000.5", true}, {"12,345,678.9", true}, {"999,999.999", true},
		{"00.001", true}, {"007", true},
		// a dot and three digits after one to three digits: thousands to many
		{"1.000", false}, {"12.500", false}, {"999.999", false}, {"5.125", false},
		// commas without a decimal point
		{"1,000", false}, {"1,000,000", false}, {"1,5", false}, {"12,50", false}, {"0,5", false}, {"10,000", false},
		// dot groups, decimal commas after them, malformed groups
		{"1.000.000", false}, {"1.000,50", false}, {"1,00.5", false}, {"1..5", false}, {"1,,5", false},
		{"1,000.5.5", false}, {"01,000.5", false}, {"1.5,000", false}, {".5,3", false},
	} {
		if got := unambiguous(tt.in); got != tt.want {
			t.Errorf("unambiguous(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestAmbiguousNumberQuestion(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string // the question's core
	}{
		{"1.000", "Did you mean 1000 or 1.0?"},
		{"1,000", "Did you mean 1000 or 1.0?"},
		{"12.500", "Did you mean 12500 or 12.5?"},
		{"1,5", "Did you mean 1.5?"},
		{"0,5", "Did you mean 0.5?"},
		{"1,000,000", "Did you mean 1000000?"},
		{"1.000.000", "Did you mean 1000000?"},
		{"1.000,50", "Did you mean 1000.5?"},
		{"1,,5", `cannot read "1,,5"`},
	} {
		q, unclear := unclearNumber("send " + tt.in + " usdc to " + lowercase)
		if !unclear || !strings.Contains(q, tt.want) || !strings.HasPrefix(q, "I did nothing") || !strings.Contains(q, "without thousands separators") {
			t.Errorf("%s: %q, want a question with %q", tt.in, q, tt.want)
		}
	}
}

// A command whose number has more than one reading is answered with a
// question, whatever the number is for; with a plain number the same
// command is proposed.
func TestAmbiguousNumbersAreAskedNotGuessed(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{"send 1.000 ETH to " + lowercase, "Did you mean 1000 or 1.0?"},
		{"send 1,000 USDC to " + lowercase, "Did you mean 1000 or 1.0?"},
		{"send 1,5 ETH to " + lowercase, "Did you mean 1.5?"},
		{"pay " + checksummed + " 1.000.000 DAI", "Did you mean 1000000?"},
		{"send 1,000,000 USDC to " + lowercase, "Did you mean 1000000?"},
		{"send 1.000usdc to " + lowercase, "Did you mean 1000 or 1.0?"},
		{"swap 1.000 ETH to USDC", "Did you mean 1000 or 1.0?"},
		{"swap 1 ETH to USDC with 0,5% slippage", "Did you mean 0.5?"},
		{"buy USDC with 2,5 ETH", "Did you mean 2.5?"},
		{"quote 1.000 WETH in DAI", "Did you mean 1000 or 1.0?"},
		{"approve 1,000 USDC for " + checksummed, "Did you mean 1000 or 1.0?"},
		{"buy ETH with 300 USDC when ETH is below 2.900", "Did you mean 2900 or 2.9?"},
		{"buy ETH with 1,000 USDC when ETH is below 2900", "Did you mean 1000 or 1.0?"},
		{"buy 1,000 USDC of WETH every day for a week", "Did you mean 1000 or 1.0?"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got := parse(tt.in)
			if got.Tool != "" || !strings.Contains(got.Text, tt.want) {
				t.Fatalf("parse(%q) = tool %q %v, text %q; want the question %q", tt.in, got.Tool, got.Args, got.Text, tt.want)
			}
		})
	}
	for _, tt := range []struct {
		in, amount string
	}{
		{"send 1.5 ETH to " + lowercase, "1.5"},
		{"send 1000 USDC to " + lowercase, "1000"},
		{"send 0.001 ETH to " + lowercase, "0.001"},
		{"send 1,000.50 USDC to " + lowercase, "1000.50"},
		{"send 1000.000 USDC to " + lowercase, "1000.000"},
		{"send .5 ETH to " + lowercase, "0.5"},
	} {
		if got := parse(tt.in); got.Tool != toolTransfer || got.Args["amount"] != tt.amount {
			t.Errorf("parse(%q) = tool %q %v (text %q), want a transfer of %s", tt.in, got.Tool, got.Args, got.Text, tt.amount)
		}
	}
}

// Through the model: the question is the answer, and no tool call is
// proposed.
func TestModelAsksAboutAmbiguousAmount(t *testing.T) {
	resp, err := New().GenerateContent(context.Background(), []llms.MessageContent{human("send 1,000 USDC to " + lowercase)})
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	want := `Did you mean 1000 or 1.0? Write the amount without thousands separators, with a dot for decimals, e.g. "1000" or "1.0".`
	if len(ch.ToolCalls) != 0 || !strings.Contains(ch.Content, want) {
		t.Fatalf("answer %q with %d tool calls, want %q and none", ch.Content, len(ch.ToolCalls), want)
	}
}

var plainDecimal = regexp.MustCompile(`^\d+(?:\.\d+)?$`)

// FuzzAmountReading: a number taken as unambiguous means what it says with
// commas as thousands separators and a dot as the decimal point, and has no
// other reading; one refused gets a question whose offered values are plain
// decimals.
func FuzzAmountReading(f *testing.F) {
	for _, s := range []string{"1", "1.5", "1.000", "1,000", "1,5", "1,000,000", "1.000.000", "1,000.50", "0.001", ".5", "1..5", "1,00.5", "999.999", "1000.000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !numberPrefix.MatchString(s) || numberPrefix.FindString(s) != s {
			return // not a number as the grammar captures one
		}
		if !unambiguous(s) {
			q := ambiguousText(s, readings(s))
			if !strings.HasPrefix(q, "I did nothing") {
				t.Fatalf("%q: question %q", s, q)
			}
			for _, r := range readings(s) {
				if !plainDecimal.MatchString(r) {
					t.Fatalf("%q: offered reading %q is not a plain decimal", s, r)
				}
			}
			return
		}
		canon := canonicalAmount(s)
		got, ok := new(big.Rat).SetString(canon)
		want, ok2 := new(big.Rat).SetString(strings.ReplaceAll(s, ",", ""))
		if !ok || !ok2 || got.Cmp(want) != 0 || !plainDecimal.MatchString(canon) {
			t.Fatalf("%q taken as %q", s, canon)
		}
		if strings.Contains(s, ",") && !strings.Contains(s[strings.LastIndex(s, ","):], ".") {
			t.Fatalf("%q taken with a comma not settled by a decimal point", s)
		}
		if rs := readings(s); len(rs) > 1 {
			t.Fatalf("%q taken, yet it reads as %v", s, rs)
		}
		if i := strings.Index(s, "."); i >= 1 && i <= 3 && s[0] != '0' && len(s)-i-1 == 3 && !strings.Contains(s, ",") {
			t.Fatalf("%q taken, yet the dot may group thousands", s)
		}
	})
}
