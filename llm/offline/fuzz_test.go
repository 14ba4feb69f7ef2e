package offline

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/tmc/langchaingo/llms"
)

// FuzzParse checks that any owner message yields an answer without a panic,
// and that any tool call carries arguments the tools can decode: a JSON
// object whose values are all strings, never empty, amounts never floats.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"balance", "send 10 USDC to " + lowercase, "swap 0.5 ETH to USDC with 0.3% slippage",
		"approve unlimited USDC for " + checksummed, "status " + txHash, "1,000,000.5", "0x", ".",
		"swap 1 ETH to USDC 1e3 bps", "send \x00 to \xff", "how much DAI for 1 WETH?",
		"send 1.000 ETH to " + lowercase, "send 1,000 USDC to " + lowercase, "swap 1,5 ETH to USDC",
		"buy ETH with 300 USDC when ETH is below 2.900", "send 1.000.000usdc to " + lowercase,
	} {
		f.Add(s)
	}
	m := New()
	f.Fuzz(func(t *testing.T, s string) {
		in := parse(s)
		if (in.Tool == "") == (in.Text == "") {
			t.Fatalf("parse(%q) = %+v: want exactly one of a tool or a text", s, in)
		}
		if in.Tool != "" {
			// A number with more than one reading never becomes a call.
			if q, unclear := unclearNumber(normalize(s)); unclear {
				t.Fatalf("parse(%q) proposed %s %v although %q", s, in.Tool, in.Args, q)
			}
			if a, ok := in.Args["amount"]; ok && a != "unlimited" && !plainDecimal.MatchString(a) {
				t.Fatalf("parse(%q) proposed the amount %q", s, a)
			}
		}
		resp, err := m.GenerateContent(context.Background(), []llms.MessageContent{human(s)})
		if err != nil {
			t.Fatalf("GenerateContent(%q): %v", s, err)
		}
		for _, tc := range resp.Choices[0].ToolCalls {
			var args map[string]any
			if err := json.Unmarshal([]byte(tc.FunctionCall.Arguments), &args); err != nil {
				t.Fatalf("%q: arguments %q are not a JSON object: %v", s, tc.FunctionCall.Arguments, err)
			}
			for k, v := range args {
				if str, ok := v.(string); !ok || str == "" {
					t.Fatalf("%q: argument %s = %#v, want a non-empty string", s, k, v)
				}
			}
		}
	})
}
