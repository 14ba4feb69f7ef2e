package policies

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

// outcome summarises a decision for comparison: the decision and the sorted
// rules of its reasons.
func outcome(t *testing.T, err error) (Decision, []string) {
	t.Helper()
	var rules []string
	switch {
	case err == nil:
		return DecisionApprove, nil
	case errors.As(err, new(*Denied)):
		d, _ := errors.AsType[*Denied](err)
		for _, r := range d.Reasons {
			rules = append(rules, r.Rule)
		}
		slices.Sort(rules)
		return DecisionDeny, rules
	case errors.As(err, new(*Ask)):
		a, _ := errors.AsType[*Ask](err)
		for _, r := range a.Reasons {
			rules = append(rules, r.Rule)
		}
		return DecisionAsk, rules
	}
	t.Fatalf("unexpected error: %v", err)
	return "", nil
}

func TestDecideChecks(t *testing.T) {
	now := wednesday
	with := func(in Swap, f func(*Swap)) Swap {
		if in.Tx != nil {
			tx := *in.Tx
			in.Tx = &tx
		}
		f(&in)
		return in
	}
	swap := swapETHForUSDC(now)
	usdcTransferTx := func(to string, amount *big.Int) *Call {
		data, _ := abiCall(selTransfer, to, amount)
		return &Call{To: usdcAddr, Value: new(big.Int), Data: data}
	}

	tests := []struct {
		name    string
		replace []string // edits to testdata/policy.yaml
		clock   time.Time
		prices  PriceSource // default: defaultPrices; noPrices for none
		in      Intent
		want    Decision
		rules   []string
	}{
		// transfer
		{name: "transfer ETH to allowed recipient", in: transfer(eth, alice, "0.1"), want: DecisionApprove},
		{name: "transfer ETH exactly per-tx limit", in: transfer(eth, alice, "1"), want: DecisionApprove},
		{name: "transfer ETH per-tx limit plus one wei", in: transfer(eth, alice, "1.000000000000000001"), want: DecisionDeny, rules: []string{"limits.per_tx.ETH"}},
		{name: "transfer USDC exactly per-tx limit", in: transfer(usdc, bob, "1000"), want: DecisionApprove},
		{name: "transfer USDC per-tx limit plus one unit", in: transfer(usdc, bob, "1000.000001"), want: DecisionDeny, rules: []string{"limits.per_tx.USDC"}},
		{name: "transfer to recipient not in allow list", in: transfer(eth, stranger, "0.1"), want: DecisionDeny, rules: []string{"recipients.allow"}},
		{name: "transfer to denied recipient", in: transfer(eth, dead, "0.1"), want: DecisionDeny, rules: []string{"recipients.allow", "recipients.deny"}},
		{name: "transfer to denied recipient, no allow list", replace: []string{`  allow: ["0x1111111111111111111111111111111111111111", "0x2222222222222222222222222222222222222222"]` + "\n", ""}, in: transfer(eth, dead, "0.1"), want: DecisionDeny, rules: []string{"recipients.deny"}},
		{name: "transfer to anyone, no allow list", replace: []string{`  allow: ["0x1111111111111111111111111111111111111111", "0x2222222222222222222222222222222222222222"]` + "\n", ""}, in: transfer(eth, stranger, "0.1"), want: DecisionApprove},
		{name: "transfer recipient matched case-insensitively", in: transfer(usdc, strings.ToLower(dead), "1"), want: DecisionDeny, rules: []string{"recipients.allow", "recipients.deny"}},
		{name: "transfer on chain not in chains", in: func() Intent { x := transfer(eth, alice, "0.1"); x.Chain = "5"; return x }(), want: DecisionDeny, rules: []string{"chains"}},
		{name: "transfer of token not in tokens", in: transfer(Token{Symbol: "PEPE", Address: stranger, Decimals: 18}, alice, "1"), want: DecisionDeny, rules: []string{"tokens"}},
		{name: "transfer token matched case-insensitively", in: transfer(Token{Address: strings.ToLower(usdcAddr), Decimals: 6}, alice, "1"), want: DecisionApprove},
		{name: "transfer with wrong decimals", in: transfer(Token{Symbol: "USDC", Address: usdcAddr, Decimals: 18}, alice, "1"), want: DecisionDeny, rules: []string{"tokens"}},
		{name: "transfer without amount", in: Transfer{Header: hdr(), To: alice, Token: eth}, want: DecisionDeny, rules: []string{"intent"}},
		{name: "transfer negative amount", in: Transfer{Header: hdr(), To: alice, Token: eth, Amount: big.NewInt(-1)}, want: DecisionDeny, rules: []string{"intent"}},
		{name: "transfer denied when policy lacks limits and recipients", replace: []string{"drop:recipients", "", "drop:limits", ""}, in: transfer(eth, alice, "0.1"), want: DecisionDeny, rules: []string{"limits"}},
		{name: "transfer with matching ERC-20 tx", in: func() Intent { x := transfer(usdc, alice, "5"); x.Tx = usdcTransferTx(alice, x.Amount); return x }(), want: DecisionApprove},
		{name: "transfer whose tx pays someone else", in: func() Intent { x := transfer(usdc, alice, "5"); x.Tx = usdcTransferTx(stranger, x.Amount); return x }(), want: DecisionDeny, rules: []string{"intent"}},
		{name: "transfer native whose tx sends more", in: func() Intent {
			x := transfer(eth, alice, "0.1")
			x.Tx = &Call{To: alice, Value: units("0.2", 18)}
			return x
		}(), want: DecisionDeny, rules: []string{"intent"}},
		{name: "DAI above the owner's CEL rule", in: transfer(dai, alice, "500.500000000000000001"), want: DecisionDeny, rules: []string{"rules.small-dai-only"}},
		{name: "DAI at the owner's CEL rule", in: transfer(dai, alice, "500.5"), want: DecisionApprove},
		{name: "intent by pointer", in: func() Intent { x := transfer(eth, alice, "0.1"); return &x }(), want: DecisionApprove},

		// USD limits, prices and ask
		{name: "USD per-tx limit exceeded by one micro-dollar", replace: []string{"per_tx_usd: 2000", "per_tx_usd: 999.999999"}, in: transfer(usdc, alice, "1000"), want: DecisionDeny, rules: []string{"limits.per_tx_usd"}},
		{name: "USD per-tx limit exactly", replace: []string{"per_tx_usd: 2000", "per_tx_usd: 1000"}, in: transfer(usdc, alice, "1000"), want: DecisionApprove},
		{name: "USD value rounds up", replace: []string{"per_tx_usd: 2000", "per_tx_usd: 0.000001"}, in: transfer(eth, alice, "0.000000001000000001"), want: DecisionDeny, rules: []string{"limits.per_tx_usd"}},
		{name: "no price source fails closed", prices: noPrices{}, in: transfer(eth, alice, "0.1"), want: DecisionDeny, rules: []string{"limits.per_tx_usd"}},
		{name: "token without price fails closed", prices: testPrices{"ETH": big.NewRat(1000, 1)}, in: transfer(usdc, alice, "1"), want: DecisionDeny, rules: []string{"limits.per_tx_usd"}},
		{name: "no USD rules needs no price", replace: []string{"  per_tx_usd: 2000\n  daily_usd: 5000\n", "", "ask: {above_usd: 1500}\n", ""}, prices: noPrices{}, in: transfer(eth, alice, "0.1"), want: DecisionApprove},
		{name: "ask above threshold", replace: []string{"above_usd: 1500", "above_usd: 500"}, in: transfer(eth, alice, "0.6"), want: DecisionAsk, rules: []string{"ask.above_usd"}},
		{name: "ask exactly at threshold approves", replace: []string{"above_usd: 1500", "above_usd: 600"}, in: transfer(eth, alice, "0.6"), want: DecisionApprove},
		{name: "deny wins over ask", replace: []string{"above_usd: 1500", "above_usd: 500"}, in: transfer(eth, stranger, "0.6"), want: DecisionDeny, rules: []string{"recipients.allow"}},

		// approve
		{name: "approve USDC up to max", in: approveUSDC(router, "1000"), want: DecisionApprove},
		{name: "approve USDC max plus one unit", in: approveUSDC(router, "1000.000001"), want: DecisionDeny, rules: []string{"approvals.max.USDC", "limits.per_tx.USDC"}},
		{name: "approve to allowed recipient", in: approveUSDC(alice, "1"), want: DecisionApprove},
		{name: "approve token without max", in: Approve{Header: hdr(), Method: MethodApprove, Token: weth, Spender: router, Amount: big.NewInt(1)}, want: DecisionDeny, rules: []string{"approvals.max"}},
		{name: "approve unknown spender", in: approveUSDC(stranger, "1"), want: DecisionDeny, rules: []string{"approvals.spender"}},
		{name: "approve denied spender", in: approveUSDC(dead, "1"), want: DecisionDeny, rules: []string{"approvals.spender", "recipients.deny"}},
		{name: "approve unlimited", in: func() Intent { a := approveUSDC(router, "1"); a.Amount, a.Unlimited = maxUint256, true; return a }(), want: DecisionDeny, rules: []string{"approvals.unlimited"}},
		{name: "approve huge amount is unlimited even unflagged", in: func() Intent {
			a := approveUSDC(router, "1")
			a.Amount = new(big.Int).Lsh(big.NewInt(1), 255)
			return a
		}(), want: DecisionDeny, rules: []string{"approvals.unlimited"}},
		{name: "approve unlimited when the policy allows it but a limit bounds the token", replace: []string{"unlimited: false", "unlimited: true"}, in: func() Intent { a := approveUSDC(router, "1"); a.Amount, a.Unlimited = maxUint256, true; return a }(), want: DecisionDeny, rules: []string{"limits.per_tx.USDC"}},
		{name: "setApprovalForAll is unlimited", in: Approve{Header: hdr(), Method: MethodSetApprovalForAll, Token: usdc, Spender: router}, want: DecisionDeny, rules: []string{"approvals.unlimited"}},
		{name: "setApprovalForAll(false) revokes", in: Approve{Header: hdr(), Method: MethodSetApprovalForAll, Token: usdc, Spender: router, Amount: big.NewInt(0)}, want: DecisionApprove},
		{name: "setApprovalForAll(true) is unlimited", in: Approve{Header: hdr(), Method: MethodSetApprovalForAll, Token: usdc, Spender: router, Amount: big.NewInt(0), Unlimited: true}, want: DecisionDeny, rules: []string{"approvals.unlimited"}},
		{name: "permit2 max is unlimited", in: Approve{Header: hdr(), Method: MethodPermit2, Token: usdc, Spender: router, Amount: new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 160), big.NewInt(1)), Unlimited: true}, want: DecisionDeny, rules: []string{"approvals.unlimited"}},
		{name: "permit2 max is unlimited even unflagged", in: Approve{Header: hdr(), Method: MethodPermit2, Token: usdc, Spender: router, Amount: new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 160), big.NewInt(1))}, want: DecisionDeny, rules: []string{"approvals.unlimited"}},
		{name: "approve native coin", in: Approve{Header: hdr(), Method: MethodApprove, Token: eth, Spender: router, Amount: big.NewInt(1)}, want: DecisionDeny, rules: []string{"approvals"}},
		{name: "approve denied without approvals section", replace: []string{"drop:approvals", ""}, in: approveUSDC(router, "1"), want: DecisionDeny, rules: []string{"approvals", "approvals.max"}},
		{name: "approve with matching tx", in: func() Intent {
			a := approveUSDC(router, "10")
			d, _ := abiCall(selApprove, router, a.Amount)
			a.Tx = &Call{To: usdcAddr, Data: d}
			return a
		}(), want: DecisionApprove},
		{name: "approve whose tx approves more", in: func() Intent {
			a := approveUSDC(router, "10")
			d, _ := abiCall(selApprove, router, maxUint256)
			a.Tx = &Call{To: usdcAddr, Data: d}
			return a
		}(), want: DecisionDeny, rules: []string{"intent"}},

		// swap
		{name: "swap within bounds", in: swap, want: DecisionApprove},
		{name: "swap slippage above max", in: with(swap, func(s *Swap) { s.SlippageBps = 101 }), want: DecisionDeny, rules: []string{"swaps.max_slippage_bps"}},
		{name: "swap min_out one unit below floor", in: with(swap, func(s *Swap) { s.Quoted = units("300.000001", 6); s.MinOut = units("297", 6) }), want: DecisionDeny, rules: []string{"swaps.max_slippage_bps"}},
		{name: "swap min_out at rounded-up floor", in: with(swap, func(s *Swap) { s.Quoted = units("300.000001", 6); s.MinOut = units("297.000001", 6) }), want: DecisionApprove},
		{name: "swap min_out zero", in: with(swap, func(s *Swap) { s.MinOut = new(big.Int) }), want: DecisionDeny, rules: []string{"swaps.max_slippage_bps"}},
		{name: "swap without quote", in: with(swap, func(s *Swap) { s.Quoted = nil }), want: DecisionDeny, rules: []string{"swaps.max_slippage_bps"}},
		{name: "swap deadline now", in: with(swap, func(s *Swap) { s.Deadline = now.Unix() }), want: DecisionDeny, rules: []string{"swaps.max_deadline_seconds"}},
		{name: "swap deadline at max", in: with(swap, func(s *Swap) { s.Deadline = now.Unix() + 1800 }), want: DecisionApprove},
		{name: "swap deadline past max", in: with(swap, func(s *Swap) { s.Deadline = now.Unix() + 1801 }), want: DecisionDeny, rules: []string{"swaps.max_deadline_seconds"}},
		{name: "swap output to stranger", in: with(swap, func(s *Swap) { s.Recipient = stranger }), want: DecisionDeny, rules: []string{"recipients.allow"}},
		{name: "swap output to allowed recipient", in: with(swap, func(s *Swap) { s.Recipient = alice }), want: DecisionApprove},
		{name: "swap output to wallet in other case", in: with(swap, func(s *Swap) { s.Recipient = strings.ToUpper(wallet) }), want: DecisionApprove},
		{name: "swap token_out not in tokens", in: with(swap, func(s *Swap) { s.TokenOut = Token{Address: stranger, Decimals: 18} }), want: DecisionDeny, rules: []string{"tokens"}},
		{name: "swap amount_in over per-tx", in: with(swap, func(s *Swap) { s.AmountIn = units("1.5", 18); s.Tx.Value = s.AmountIn }), want: DecisionDeny, rules: []string{"limits.per_tx.ETH"}},
		{name: "swap tx value differs", in: with(swap, func(s *Swap) { s.Tx = &Call{To: router, Value: units("1", 18)} }), want: DecisionDeny, rules: []string{"intent"}},
		{name: "swap at the weekend", clock: saturday, in: swapETHForUSDC(saturday), want: DecisionDeny, rules: []string{"rules.no-weekend-swaps"}},
		{name: "transfer at the weekend", clock: saturday, in: transfer(eth, alice, "0.1"), want: DecisionApprove},
		{name: "swap denied without swaps section", replace: []string{"drop:swaps", ""}, in: swap, want: DecisionDeny, rules: []string{"swaps"}},
		{name: "swap with exact embedded approval", in: usdcSwap(now, "100", "100", false), want: DecisionApprove},
		{name: "swap with larger embedded approval checked as approve", in: usdcSwap(now, "100", "1000", false), want: DecisionApprove},
		{name: "swap with embedded approval over max", in: usdcSwap(now, "100", "1000.000001", false), want: DecisionDeny, rules: []string{"approvals.max.USDC", "limits.per_tx.USDC"}},
		{name: "swap with unlimited embedded approval", in: usdcSwap(now, "100", "100", true), want: DecisionDeny, rules: []string{"approvals.unlimited"}},

		// call
		{name: "call allowed contract", in: ContractCall{Header: hdr(), To: router, Data: HexBytes{1, 2, 3, 4, 5}, Selector: "0x01020304"}, want: DecisionApprove},
		{name: "call contract not allowed", in: ContractCall{Header: hdr(), To: stranger, Data: HexBytes{1, 2, 3, 4}}, want: DecisionDeny, rules: []string{"contracts.allow"}},
		{name: "call value counts as ETH", in: ContractCall{Header: hdr(), To: router, Value: units("1.000000000000000001", 18)}, want: DecisionDeny, rules: []string{"limits.per_tx.ETH"}},
		{name: "call selector mismatch", in: ContractCall{Header: hdr(), To: router, Data: HexBytes{1, 2, 3, 4}, Selector: "0xdeadbeef"}, want: DecisionDeny, rules: []string{"intent"}},
		{name: "call tx mismatch", in: ContractCall{Header: hdr(), To: router, Data: HexBytes{1}, Tx: &Call{To: router, Data: HexBytes{2}}}, want: DecisionDeny, rules: []string{"intent"}},
		{name: "call denied without contracts section", replace: []string{"drop:contracts", ""}, in: ContractCall{Header: hdr(), To: router}, want: DecisionDeny, rules: []string{"contracts"}},

		// safe_tx
		{name: "safe batch via MultiSendCallOnly", in: safeBatch(OpDelegateCall, multisend, transfer(eth, alice, "0.1"), approveUSDC(router, "5")), want: DecisionApprove},
		{name: "safe delegatecall elsewhere", in: safeBatch(OpDelegateCall, stranger, transfer(eth, alice, "0.1")), want: DecisionDeny, rules: []string{"safe.delegatecall"}},
		{name: "safe self call", in: func() Intent { s := safeBatch(OpCall, safeAddr); s.SelfCall = "addOwnerWithThreshold"; return s }(), want: DecisionDeny, rules: []string{"safe.self_calls"}},
		{name: "safe self call allowed", replace: []string{"self_calls: false", "self_calls: true"}, in: func() Intent { s := safeBatch(OpCall, safeAddr); s.SelfCall = "changeThreshold"; return s }(), want: DecisionApprove},
		{name: "safe gas refund", in: func() Intent {
			s := safeBatch(OpCall, alice, transfer(eth, alice, "0.1"))
			s.GasPrice = big.NewInt(1)
			return s
		}(), want: DecisionDeny, rules: []string{"safe.refund"}},
		{name: "safe refund receiver", in: func() Intent {
			s := safeBatch(OpCall, alice, transfer(eth, alice, "0.1"))
			s.RefundReceiver = stranger
			return s
		}(), want: DecisionDeny, rules: []string{"safe.refund"}},
		{name: "safe refund allowed", replace: []string{"refund: false", "refund: true"}, in: func() Intent {
			s := safeBatch(OpCall, alice, transfer(eth, alice, "0.1"))
			s.GasToken = usdcAddr
			return s
		}(), want: DecisionApprove},
		{name: "safe inner call denied", in: safeBatch(OpDelegateCall, multisend, transfer(eth, alice, "0.1"), transfer(eth, stranger, "0.1")), want: DecisionDeny, rules: []string{"recipients.allow"}},
		{name: "safe inner spends are summed", in: safeBatch(OpDelegateCall, multisend, transfer(eth, alice, "0.6"), transfer(eth, bob, "0.6")), want: DecisionDeny, rules: []string{"limits.per_tx.ETH"}},
		{name: "safe without inner calls", in: safeBatch(OpCall, alice), want: DecisionDeny, rules: []string{"safe"}},
		{name: "safe inner swap at the weekend", clock: saturday, in: safeBatch(OpDelegateCall, multisend, with(swapETHForUSDC(saturday), func(s *Swap) { s.From, s.Recipient = safeAddr, safeAddr })), want: DecisionDeny, rules: []string{"rules.no-weekend-swaps"}},
		{name: "safe denied without safe section", replace: []string{"drop:safe", ""}, in: safeBatch(OpCall, alice, transfer(eth, alice, "0.1")), want: DecisionDeny, rules: []string{"safe"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := tt.clock
			if clock.IsZero() {
				clock = now
			}
			var prices PriceSource = defaultPrices()
			if tt.prices != nil {
				prices = tt.prices
			}
			if _, ok := prices.(noPrices); ok {
				prices = nil
			}
			p := mustPolicy(t, tt.replace...)
			eng, ledger := newTestEngine(t, p, clock, WithPrices(prices))
			ctx := context.Background()

			report, err := eng.Evaluate(ctx, tt.in)
			if err != nil {
				t.Fatalf("Evaluate: %v", err)
			}
			if len(ledger.Entries()) != 0 {
				t.Fatalf("Evaluate recorded %d entries", len(ledger.Entries()))
			}
			a, err := eng.Decide(ctx, tt.in)
			got, rules := outcome(t, err)
			if got != tt.want || !slices.Equal(uniq(rules), tt.rules) {
				t.Fatalf("Decide = %s %v, want %s %v (err: %v)", got, rules, tt.want, tt.rules, err)
			}
			if report.Decision != got {
				t.Fatalf("Evaluate decided %s, Decide %s (%v)", report.Decision, got, report.Reasons)
			}
			if got == DecisionApprove && !a.Valid() {
				t.Fatal("approval not valid")
			}
			// Every decision is recorded with the intent and its digest.
			entries := ledger.Entries()
			if len(entries) != 1 {
				t.Fatalf("%d ledger entries, want 1", len(entries))
			}
			e := entries[0]
			raw, _ := Marshal(tt.in)
			d, _ := Digest(tt.in)
			if e.Decision != got || string(e.Intent) != string(raw) || e.Digest != hex.EncodeToString(d[:]) || e.Digest != report.Digest {
				t.Fatalf("entry %+v does not match decision %s", e, got)
			}
			if got == DecisionApprove && (e.ApprovalID != a.ID() || a.Digest() != e.Digest) {
				t.Fatalf("entry approval %q, approval %q", e.ApprovalID, a.ID())
			}
			if got != DecisionApprove && (e.ApprovalID != "" || len(e.Reasons) == 0) {
				t.Fatalf("entry for %s has approval id %q and reasons %v", got, e.ApprovalID, e.Reasons)
			}
		})
	}
}

type noPrices struct{}

func (noPrices) PriceUSD(context.Context, string, Token) (Price, error) {
	return Price{}, errors.New("unused")
}

func uniq(s []string) []string {
	return slices.Compact(s)
}

// usdcSwap swaps amountIn USDC for ETH with an embedded approval of
// approveAmount USDC to the router.
func usdcSwap(now time.Time, amountIn, approveAmount string, unlimited bool) Swap {
	a := approveUSDC(router, approveAmount)
	a.Unlimited = unlimited
	return Swap{
		Header: hdr(), Venue: "uniswap-v3",
		TokenIn: usdc, AmountIn: units(amountIn, 6),
		TokenOut: eth, Quoted: units("0.1", 18), MinOut: units("0.099", 18),
		Recipient: wallet, SlippageBps: 100, Deadline: now.Unix() + 60,
		Approval: &a,
		Tx:       &Call{To: router, Value: new(big.Int), Data: HexBytes{0x5a, 0xe4, 0x01, 0xdc}},
	}
}

// safeBatch is a Safe transaction whose outer call does what its inner
// calls say: for a call, the one inner call's Tx; for a delegatecall,
// multiSend of the inner calls' Txs. Inner transfers and approvals without a
// Tx get the one their fields describe.
func safeBatch(op SafeOperation, to string, inner ...Intent) SafeTx {
	calls := make([]*Call, len(inner))
	for i, x := range inner {
		switch v := x.(type) {
		case Transfer:
			v.From = safeAddr
			if v.Tx == nil {
				v.Tx = &Call{To: v.To, Value: v.Amount}
				if !v.Token.Native() {
					d, _ := abiCall(selTransfer, v.To, v.Amount)
					v.Tx = &Call{To: v.Token.Address, Value: new(big.Int), Data: d}
				}
			}
			inner[i] = v
		case Approve:
			v.From = safeAddr
			if v.Tx == nil && v.Method == MethodApprove {
				d, _ := abiCall(selApprove, v.Spender, v.Amount)
				v.Tx = &Call{To: v.Token.Address, Value: new(big.Int), Data: d}
			}
			inner[i] = v
		case ContractCall:
			if v.Tx == nil {
				v.Tx = &Call{To: v.To, Value: v.Value, Data: v.Data}
			}
			inner[i] = v
		}
		calls[i] = innerCall(inner[i])
	}
	s := SafeTx{
		Header: Header{Chain: "1", From: safeAddr}, To: to, Value: new(big.Int), Operation: op,
		SafeTxGas: new(big.Int), BaseGas: new(big.Int), GasPrice: new(big.Int),
		GasToken: "0x0000000000000000000000000000000000000000", RefundReceiver: "0x0000000000000000000000000000000000000000",
		Nonce: 7, SafeTxHash: "0x" + strings.Repeat("ab", 32), Inner: inner,
	}
	switch {
	case slices.Contains(calls, nil):
	case op == OpCall && len(calls) == 1:
		s.Value, s.Data = calls[0].Value, calls[0].Data
	case op == OpDelegateCall:
		s.Data, _ = multiSendData(calls)
	}
	return s
}

func TestReasonTexts(t *testing.T) {
	p, err := Parse([]byte(`version: 1
chains: [1]
recipients: {allow: ["0x1111111111111111111111111111111111111111"]}
limits:
  per_tx: {ETH: "1"}
  per_tx_usd: 1000
`))
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := newTestEngine(t, p, wednesday, WithPrices(testPrices{"ETH": big.NewRat(480, 1)}))
	in := transfer(eth, "0xAbcdEF0000000000000000000000000000000001", "2.5")
	in.Chain = "5"
	_, err = eng.Decide(context.Background(), in)
	want := "denied: chain 5 is not in chains (rule chains); recipient 0xAbcdEF0000000000000000000000000000000001 is not in recipients.allow (rule recipients.allow)"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	in.Chain = "1"
	_, err = eng.Decide(context.Background(), in)
	want = "denied: recipient 0xAbcdEF0000000000000000000000000000000001 is not in recipients.allow (rule recipients.allow); " +
		"amount 2.5 ETH exceeds per-tx limit 1 ETH (rule limits.per_tx.ETH); " +
		"value 1,200 USD exceeds per-tx limit 1,000 USD (rule limits.per_tx_usd)"
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
}

// TestDailyLimits commits up to a daily limit exactly, then refuses one base
// unit more, and lets it through once the window has moved past.
func TestDailyLimits(t *testing.T) {
	now := wednesday
	clock := func() time.Time { return now }
	p := mustPolicy(t)
	l := NewMemLedger()
	eng := NewEngine(p, l, WithClock(clock), WithPrices(defaultPrices()))
	ctx := context.Background()
	for i := range 3 {
		now = wednesday.Add(time.Duration(i) * time.Hour)
		if _, err := eng.Decide(ctx, transfer(eth, alice, "1")); err != nil {
			t.Fatalf("transfer %d: %v", i, err)
		}
	}
	_, err := eng.Decide(ctx, transfer(eth, alice, "0.000000000000000001"))
	if d, rules := outcome(t, err); d != DecisionDeny || !slices.Equal(rules, []string{"limits.daily.ETH"}) {
		t.Fatalf("4th transfer: %s %v", d, rules)
	}
	if want := "amount 0.000000000000000001 ETH would bring the last 24h to 3.000000000000000001 ETH, over the daily limit 3 ETH (rule limits.daily.ETH)"; !strings.Contains(err.Error(), want) {
		t.Fatalf("reason %q lacks %q", err, want)
	}
	r, err := eng.Evaluate(ctx, transfer(eth, alice, "0.000000000000000001"))
	if err != nil || r.Decision != DecisionDeny {
		t.Fatalf("Evaluate: %+v %v", r, err)
	}
	// Other buckets are untouched: USDC still has its whole daily limit.
	if _, err := eng.Decide(ctx, transfer(usdc, alice, "1000")); err != nil {
		t.Fatal(err)
	}
	// Just over 24h after the first transfer, its spend has left the window.
	now = wednesday.Add(24*time.Hour + time.Second)
	if _, err := eng.Decide(ctx, transfer(eth, alice, "1")); err != nil {
		t.Fatalf("after the window moved: %v", err)
	}
	// A second engine with the same scope shares the counters; another scope does not.
	same := NewEngine(p, l, WithClock(clock), WithPrices(defaultPrices()))
	if _, err := same.Decide(ctx, transfer(eth, alice, "1")); err == nil {
		t.Fatal("same scope: want a daily-limit denial")
	}
	other := NewEngine(p, l, WithClock(clock), WithPrices(defaultPrices()), WithScope("agent-2"))
	if _, err := other.Decide(ctx, transfer(eth, alice, "1")); err != nil {
		t.Fatalf("other scope: %v", err)
	}
}

func TestDailyUSDLimit(t *testing.T) {
	p := mustPolicy(t, "daily_usd: 5000", "daily_usd: 1500")
	eng, _ := newTestEngine(t, p, wednesday)
	ctx := context.Background()
	if _, err := eng.Decide(ctx, transfer(eth, alice, "1")); err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Decide(ctx, transfer(usdc, alice, "500")); err != nil {
		t.Fatal(err)
	}
	_, err := eng.Decide(ctx, transfer(usdc, alice, "0.000001"))
	if d, rules := outcome(t, err); d != DecisionDeny || !slices.Equal(rules, []string{"limits.daily_usd"}) {
		t.Fatalf("got %s %v", d, rules)
	}
}

func TestReleaseReturnsSpend(t *testing.T) {
	eng, _ := newTestEngine(t, mustPolicy(t), wednesday)
	ctx := context.Background()
	var approvals []Approval
	for range 3 {
		a, err := eng.Decide(ctx, transfer(eth, alice, "1"))
		if err != nil {
			t.Fatal(err)
		}
		approvals = append(approvals, a)
	}
	if _, err := eng.Decide(ctx, transfer(eth, alice, "1")); err == nil {
		t.Fatal("want a daily-limit denial")
	}
	if err := approvals[1].Release(ctx, "broadcast failed"); err != nil {
		t.Fatal(err)
	}
	if approvals[1].Valid() {
		t.Fatal("a released approval stays spent")
	}
	if _, err := eng.Decide(ctx, transfer(eth, alice, "1")); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

func TestAskConfirm(t *testing.T) {
	p := mustPolicy(t, "above_usd: 1500", "above_usd: 500")
	eng, l := newTestEngine(t, p, wednesday)
	ctx := context.Background()
	_, err := eng.Decide(ctx, transfer(eth, alice, "0.6"))
	ask, ok := errors.AsType[*Ask](err)
	if !ok {
		t.Fatalf("want *Ask, got %v", err)
	}
	if want := "a person must confirm: value 600 USD is above ask.above_usd 500 USD (rule ask.above_usd)"; ask.Error() != want {
		t.Fatalf("ask: %q", ask.Error())
	}
	a, err := eng.Confirm(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	in, err := a.Claim()
	if err != nil || in.(Transfer).Amount.Cmp(units("0.6", 18)) != 0 {
		t.Fatalf("claim: %v %v", in, err)
	}
	e := l.Entries()
	if len(e) != 2 || e[0].Decision != DecisionAsk || e[1].Decision != DecisionApprove || !strings.HasPrefix(e[1].Reasons[0], "confirmed by a person: ") {
		t.Fatalf("entries: %+v", e)
	}
	// An ask is confirmed once.
	if _, err := eng.Confirm(ctx, ask); !errors.Is(err, ErrAskUsed) {
		t.Fatalf("second Confirm: %v, want ErrAskUsed", err)
	}
	// Confirm re-checks: a confirmed intent that now breaks a limit is denied.
	newAsk := func() *Ask {
		t.Helper()
		_, err := eng.Decide(ctx, transfer(eth, alice, "0.6"))
		ask, ok := errors.AsType[*Ask](err)
		if !ok {
			t.Fatalf("want *Ask, got %v", err)
		}
		return ask
	}
	asks := make([]*Ask, 5)
	for i := range asks {
		asks[i] = newAsk()
	}
	for _, ask := range asks[:4] {
		if _, err := eng.Confirm(ctx, ask); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := eng.Confirm(ctx, asks[4]); err == nil {
		t.Fatal("want the daily ETH limit to deny the 6th confirmation")
	}
	if _, err := eng.Confirm(ctx, nil); err == nil {
		t.Fatal("Confirm(nil) must fail")
	}
	if _, err := eng.Confirm(ctx, &Ask{}); err == nil {
		t.Fatal("Confirm of a forged Ask must fail")
	}
}

func TestIdempotencyKey(t *testing.T) {
	eng, l := newTestEngine(t, mustPolicy(t), wednesday)
	ctx := context.Background()
	in := transfer(eth, alice, "0.1")
	in.Key = "order-1"
	first, err := eng.Decide(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = eng.Decide(ctx, in)
	dup, ok := errors.AsType[*DuplicateError](err)
	if !ok || dup.ApprovalID != first.ID() {
		t.Fatalf("want *DuplicateError naming %s, got %v", first.ID(), err)
	}
	// A denied attempt does not use a key up.
	bad := transfer(eth, stranger, "0.1")
	bad.Key = "order-2"
	if _, err := eng.Decide(ctx, bad); err == nil {
		t.Fatal("want denial")
	}
	good := transfer(eth, alice, "0.1")
	good.Key = "order-2"
	if _, err := eng.Decide(ctx, good); err != nil {
		t.Fatalf("key of a denied attempt: %v", err)
	}
	// The key is per wallet.
	other := transfer(eth, alice, "0.1")
	other.Key, other.From = "order-1", bob
	if _, err := eng.Decide(ctx, other); err != nil {
		t.Fatalf("same key, other wallet: %v", err)
	}
	last := l.Entries()[len(l.Entries())-1]
	if last.Key != "order-1" || last.Decision != DecisionApprove {
		t.Fatalf("entry: %+v", last)
	}
}

func TestDecideNilAndCanceled(t *testing.T) {
	eng, _ := newTestEngine(t, mustPolicy(t), wednesday)
	if _, err := eng.Decide(context.Background(), nil); err == nil {
		t.Fatal("nil intent must fail")
	}
	if _, err := eng.Decide(context.Background(), (*Transfer)(nil)); err == nil {
		t.Fatal("nil *Transfer must fail")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := eng.Decide(ctx, transfer(eth, alice, "0.1")); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

func TestLogger(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	eng, _ := newTestEngine(t, mustPolicy(t), wednesday, WithLogger(log), WithPrices(nil))
	_, err := eng.Decide(context.Background(), transfer(eth, alice, "0.1"))
	if err == nil {
		t.Fatal("want a denial without prices")
	}
	out := buf.String()
	for _, want := range []string{`"msg":"policy decision"`, `"decision":"deny"`, `"kind":"transfer"`, "no USD price for ETH"} {
		if !strings.Contains(out, want) {
			t.Fatalf("log lacks %s:\n%s", want, out)
		}
	}
}
