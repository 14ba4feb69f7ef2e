package policies_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/mandatehq/mandate/policies"
)

// The gate: parse the owner's policy, decide an intent, and hand the
// Approval to the signer, which claims it. A denial carries every reason.
func Example() {
	pol, err := policies.Parse([]byte(`
version: 1
chains: [1]
recipients: {allow: ["0x1111111111111111111111111111111111111111"]}
limits:
  per_tx: {ETH: "1"}
  daily: {ETH: "3"}
rules:
  - {name: no-weekend-swaps, deny_if: 'intent.kind == "swap" && now.getDayOfWeek() in [0, 6]', reason: "no swaps at weekends"}
`)) // or policies.Load("policy.yaml")
	if err != nil {
		log.Fatal(err)
	}
	now := func() time.Time { return time.Date(2025, 1, 8, 12, 0, 0, 0, time.UTC) }
	eng := policies.NewEngine(pol, policies.NewMemLedger(), policies.WithClock(now))
	ctx := context.Background()

	amount, err := policies.ParseUnits("0.5", 18) // exact: 500000000000000000 wei
	if err != nil {
		log.Fatal(err)
	}
	send := policies.Transfer{
		Header: policies.Header{Chain: "1", From: "0x3333333333333333333333333333333333333333"},
		To:     "0x1111111111111111111111111111111111111111",
		Token:  policies.Token{Symbol: "ETH", Decimals: 18},
		Amount: amount,
	}
	approval, err := eng.Decide(ctx, send)
	if err != nil {
		log.Fatal(err)
	}
	// The signer claims the approval once, and signs what it approves.
	in, err := approval.Claim()
	if err != nil {
		log.Fatal(err)
	}
	t := in.(policies.Transfer)
	fmt.Printf("approved: %s %s ETH to %s\n", in.Kind(), policies.FormatUnits(t.Amount, 18), t.To)
	_, err = approval.Claim()
	fmt.Println("again:", err)

	// Too much, to a stranger, on a chain the policy does not allow.
	send.Amount, _ = policies.ParseUnits("2.5", 18)
	send.To = "0x4444444444444444444444444444444444444444"
	send.Chain = "5"
	_, err = eng.Decide(ctx, send)
	if denied, ok := errors.AsType[*policies.Denied](err); ok {
		for _, r := range denied.Reasons {
			fmt.Println("denied:", r)
		}
	}
	// Output:
	// approved: transfer 0.5 ETH to 0x1111111111111111111111111111111111111111
	// again: policies: approval already used: an approval is spent once
	// denied: chain 5 is not in chains (rule chains)
	// denied: recipient 0x4444444444444444444444444444444444444444 is not in recipients.allow (rule recipients.allow)
}

// Evaluate is the dry run behind --dry-run and `mandate policy eval`: the
// same decision, nothing charged or recorded.
func ExampleEngine_Evaluate() {
	pol, err := policies.Parse([]byte("version: 1\nchains: [1]\nlimits: {per_tx: {ETH: \"1\"}}\n"))
	if err != nil {
		log.Fatal(err)
	}
	eng := policies.NewEngine(pol, policies.NewMemLedger())
	amount, _ := policies.ParseUnits("2.5", 18)
	report, err := eng.Evaluate(context.Background(), policies.Transfer{
		Header: policies.Header{Chain: "1", From: "0x3333333333333333333333333333333333333333"},
		To:     "0x1111111111111111111111111111111111111111",
		Token:  policies.Token{Symbol: "ETH", Decimals: 18},
		Amount: amount,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(report.Decision, report.Reasons[0])
	// Output:
	// deny amount 2.5 ETH exceeds per-tx limit 1 ETH (rule limits.per_tx.ETH)
}

func ExampleParseUnits() {
	v, _ := policies.ParseUnits("1.5", 6)
	fmt.Println(v, policies.FormatUnits(v, 6))
	_, err := policies.ParseUnits("1.5e3", 6)
	fmt.Println(err)
	// Output:
	// 1500000 1.5
	// bad amount: "1.5e3" has an exponent; write all the digits, e.g. 1000 for 1e3
}
