package render

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

func TestResult(t *testing.T) {
	mined := &tools.Outcome{Decision: policies.DecisionApprove, Tx: &tools.Tx{Hash: "0xabc", Status: "mined"}}
	for _, tc := range []struct {
		name string
		res  tools.Result
		err  error
		want string
	}{
		{"nothing to say", tools.Result{}, nil, "Done."},
		{"text and outcome", tools.Result{Text: "Swapped.", Outcome: mined}, nil, "Swapped.\nPolicy: approve, tx 0xabc mined"},
		{"the outcome once when the text has it", tools.Result{Text: "Policy: approve, tx 0xabc mined", Outcome: mined}, nil, "Policy: approve, tx 0xabc mined"},
		{"a wrong argument", tools.Result{}, fmt.Errorf("dex_swap: %w", &tools.ArgError{Tool: "dex_swap", Msg: "amount must be positive"}),
			"That did not work: amount must be positive"},
		{"a denial, a reason a line", tools.Result{Outcome: &tools.Outcome{Decision: policies.DecisionDeny}},
			&policies.Denied{Reasons: []policies.Reason{{Rule: "limits.per_tx.ETH", Text: "too much\nreally"}, {Rule: "recipients.allow", Text: "stranger"}}},
			"Denied by the policy:\n- too much; really (rule limits.per_tx.ETH)\n- stranger (rule recipients.allow)"},
		{"not approved", tools.Result{}, fmt.Errorf("timed out: %w", tools.ErrNotConfirmed), "Not done: an owner did not approve it ("},
		{"a sent transaction that failed keeps its hash", tools.Result{Outcome: mined}, errors.New("receipt\nlost"),
			"Policy: approve, tx 0xabc mined\nFailed: receipt; lost"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Result(tc.res, tc.err)
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("Result = %q, want it to start %q", got, tc.want)
			}
		})
	}
}

func TestHeadline(t *testing.T) {
	eth := policies.Token{Symbol: "ETH", Decimals: 18}
	usdc := policies.Token{Address: "0xA0b8", Decimals: 6}
	swap := policies.Swap{Venue: "uniswap-v2", TokenIn: eth, AmountIn: big.NewInt(5e17), TokenOut: usdc, MinOut: big.NewInt(1_500_250_000)}
	if got, want := Headline(&swap), "Swap 0.5 ETH for at least 1,500.25 0xA0b8 on uniswap-v2"; got != want {
		t.Fatalf("swap: %q, want %q", got, want)
	}
	send := policies.Transfer{To: "0xBob", Token: eth, Amount: big.NewInt(1)}
	if got, want := Headline(send), "Send 0.000000000000000001 ETH to 0xBob"; got != want {
		t.Fatalf("transfer: %q, want %q", got, want)
	}
	if !strings.Contains(Exact(send), `"to":"0xBob"`) {
		t.Fatalf("Exact(transfer) = %s, want its JSON with the recipient", Exact(send))
	}
}
