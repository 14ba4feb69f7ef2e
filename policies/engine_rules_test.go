package policies

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestApprovalKeepsApprovedBytes: changing the caller's intent after Decide
// changes nothing the approval hands out, and an intent whose encoding does
// not survive a round trip cannot be claimed.
func TestApprovalKeepsApprovedBytes(t *testing.T) {
	usdcTx := func(amount string) *Call {
		d, _ := abiCall(selTransfer, alice, units(amount, 6))
		return &Call{To: usdcAddr, Value: new(big.Int), Data: d}
	}
	tests := []struct {
		name    string
		in      func() Intent
		mutate  func(Intent)
		wantErr string // Claim's error, when it must fail closed
	}{
		{
			name: "amount and tx data changed in place",
			in: func() Intent {
				x := transfer(usdc, alice, "5")
				x.Tx = usdcTx("5")
				return x
			},
			mutate: func(in Intent) {
				x := in.(Transfer)
				x.Amount.SetInt64(999_000_000)                         // shared *big.Int
				copy(x.Tx.Data[len(x.Tx.Data)-4:], "\xff\xff\xff\xff") // shared slice
				x.Tx.To = stranger                                     // shared *Call
			},
		},
		{
			name: "intent by pointer",
			in: func() Intent {
				x := transfer(usdc, alice, "5")
				x.Tx = usdcTx("5")
				return &x
			},
			mutate: func(in Intent) {
				x := in.(*Transfer)
				x.Amount = units("999", 6)
				x.Tx.Data = HexBytes{1, 2, 3}
			},
		},
		{
			name: "invalid UTF-8 fails closed",
			in: func() Intent {
				x := transfer(usdc, alice, "5")
				x.Tx = usdcTx("5")
				x.Key = "order-\xff"
				return x
			},
			mutate:  func(Intent) {},
			wantErr: "not valid UTF-8",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, _ := newTestEngine(t, mustPolicy(t), wednesday)
			in := tt.in()
			want, err := Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			a, err := eng.Decide(context.Background(), in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || a.Intent() != nil {
					t.Fatalf("Decide: %v, want %q and no approval", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(in)
			if err := a.Use(in); tt.wantErr == "" && !errors.Is(err, ErrApprovalMismatch) {
				t.Fatalf("Use of the mutated intent: %v, want ErrApprovalMismatch", err)
			}
			if tt.wantErr != "" {
				if a.Intent() != nil {
					t.Fatal("Intent of an undecodable approval must be nil")
				}
				if _, err := a.Claim(); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Claim: %v, want %q", err, tt.wantErr)
				}
				return
			}
			// Intent hands out a fresh copy each time.
			peek := a.Intent().(Transfer)
			peek.Amount.SetInt64(1)
			peek.Tx.Data[0] = 0
			got, err := a.Claim()
			if err != nil {
				t.Fatal(err)
			}
			x := got.(Transfer)
			if x.Amount.Cmp(units("5", 6)) != 0 || !bytes.Equal(x.Tx.Data, usdcTx("5").Data) || x.Tx.To != usdcAddr {
				t.Fatalf("claimed %+v %+v, want the approved intent", x, x.Tx)
			}
			if raw, _ := Marshal(got); !bytes.Equal(raw, want) {
				t.Fatalf("claimed %s\nwant    %s", raw, want)
			}
		})
	}
}

// TestLimitsFailClosed: an asset spent with no per-tx, daily or USD limit
// over it is denied. (Approvals are spends: see TestApprovalsAreSpends.)
func TestLimitsFailClosed(t *testing.T) {
	const base = `version: 1
chains: [1]
tokens:
  USDC: {chain: 1, address: "` + usdcAddr + `", decimals: 6}
recipients: {allow: ["` + alice + `"]}
contracts: {allow: ["` + router + `"]}
approvals: {max: {USDC: "1000"}}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800}
safe: {delegatecall: ["` + multisend + `"]}
`
	const usdcOnly = "limits: {per_tx: {USDC: \"1000\"}}\n"
	ethSwap := swapETHForUSDC(wednesday)
	tests := []struct {
		name   string
		limits string
		in     Intent
		deny   bool
	}{
		{"ETH transfer without ETH or USD limit", usdcOnly, transfer(eth, alice, "0.1"), true},
		{"ETH call value without limit", usdcOnly, ContractCall{Header: hdr(), To: router, Value: units("0.1", 18)}, true},
		{"ETH swap in without limit", usdcOnly, ethSwap, true},
		{"ETH in a Safe batch without limit", usdcOnly, safeBatch(OpDelegateCall, multisend, transfer(eth, alice, "0.1"), transfer(usdc, alice, "1")), true},
		{"USDC transfer with its limit", usdcOnly, transfer(usdc, alice, "1"), false},
		{"USDC approval charged under its limit", usdcOnly, approveUSDC(router, "5"), false},
		{"zero-value call spends nothing", usdcOnly, ContractCall{Header: hdr(), To: router, Data: HexBytes{1, 2, 3, 4}}, false},
		{"ETH with a daily limit only", "limits: {daily: {ETH: \"1\"}}\n", transfer(eth, alice, "0.1"), false},
		{"ETH under per_tx_usd", "limits: {per_tx_usd: 1000}\n", transfer(eth, alice, "0.1"), false},
		{"ETH under daily_usd", "limits: {daily_usd: 1000}\n", transfer(eth, alice, "0.1"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(base + tt.limits))
			if err != nil {
				t.Fatal(err)
			}
			eng, _ := newTestEngine(t, p, wednesday)
			_, err = eng.Decide(context.Background(), tt.in)
			d, rules := outcome(t, err)
			if !tt.deny {
				if d != DecisionApprove {
					t.Fatalf("got %s: %v", d, err)
				}
				return
			}
			want := "no limit covers ETH: add limits.per_tx.ETH or limits.daily.ETH, or a USD limit"
			if d != DecisionDeny || !slices.Equal(rules, []string{"limits"}) || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %s %v (%v), want a limits denial saying %q", d, rules, err, want)
			}
		})
	}
}

func TestIncreaseAllowance(t *testing.T) {
	inc := func() Approve {
		a := approveUSDC(router, "5")
		a.Method = MethodIncreaseAllowance
		d, _ := abiCall(selIncreaseAllowance, router, a.Amount)
		a.Tx = &Call{To: usdcAddr, Value: new(big.Int), Data: d}
		return a
	}
	tests := []struct {
		name    string
		replace []string
		in      Intent
		want    Decision
	}{
		{"increaseAllowance denied", nil, inc(), DecisionDeny},
		{"increaseAllowance with unlimited approvals allowed", []string{"unlimited: false", "unlimited: true"}, inc(), DecisionApprove},
		{"approve with an exact amount", nil, approveUSDC(router, "5"), DecisionApprove},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, _ := newTestEngine(t, mustPolicy(t, tt.replace...), wednesday)
			_, err := eng.Decide(context.Background(), tt.in)
			d, rules := outcome(t, err)
			if d != tt.want {
				t.Fatalf("got %s %v (%v), want %s", d, rules, err, tt.want)
			}
			if d == DecisionDeny && (!slices.Equal(rules, []string{"approvals.unlimited"}) || !strings.Contains(err.Error(), "use approve with an exact amount")) {
				t.Fatalf("reason: %v", err)
			}
		})
	}
}

func TestConfirmOnce(t *testing.T) {
	tests := []struct {
		name     string
		confirms int
	}{
		{"sequential", 1},
		{"concurrent", 16},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, _ := newTestEngine(t, mustPolicy(t, "above_usd: 1500", "above_usd: 50"), wednesday)
			ctx := context.Background()
			_, err := eng.Decide(ctx, transfer(eth, alice, "0.1"))
			ask, ok := errors.AsType[*Ask](err)
			if !ok {
				t.Fatalf("want *Ask, got %v", err)
			}
			if tt.confirms == 1 {
				if _, err := eng.Confirm(ctx, ask); err != nil {
					t.Fatal(err)
				}
				cp := *ask // a copy is the same ask
				a, err := eng.Confirm(ctx, &cp)
				if !errors.Is(err, ErrAskUsed) || a.Valid() {
					t.Fatalf("second Confirm: %v (valid approval %v), want ErrAskUsed", err, a.Valid())
				}
				return
			}
			var (
				wg        sync.WaitGroup
				mu        sync.Mutex
				approvals int
				used      int
			)
			for range tt.confirms {
				wg.Go(func() {
					a, err := eng.Confirm(ctx, ask)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil && a.Valid():
						approvals++
					case errors.Is(err, ErrAskUsed):
						used++
					default:
						t.Errorf("Confirm: %v", err)
					}
				})
			}
			wg.Wait()
			if approvals != 1 || used != tt.confirms-1 {
				t.Fatalf("%d approvals and %d ErrAskUsed, want 1 and %d", approvals, used, tt.confirms-1)
			}
		})
	}
}

type fixedPrice struct{ usd *big.Rat }

func (f fixedPrice) PriceUSD(context.Context, string, Token) (Price, error) {
	return Price{USD: f.usd, Source: "oracle-x"}, nil
}

func TestNonPositivePrice(t *testing.T) {
	tests := []struct {
		name  string
		price *big.Rat
		in    Intent
		want  string // the reason's text; "" to approve
	}{
		{"zero price", new(big.Rat), transfer(eth, alice, "0.1"), "the price source oracle-x gave 0 USD for ETH on chain 1"},
		{"negative price", big.NewRat(-1, 2), transfer(eth, alice, "0.1"), "the price source oracle-x gave -0.5 USD for ETH on chain 1"},
		{"nil price", nil, transfer(eth, alice, "0.1"), "the price source oracle-x gave no price for ETH on chain 1"},
		{"positive price", big.NewRat(1000, 1), transfer(eth, alice, "0.1"), ""},
		{"zero amount is not priced", new(big.Rat), ContractCall{Header: hdr(), To: router, Data: HexBytes{1, 2, 3, 4}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, _ := newTestEngine(t, mustPolicy(t), wednesday, WithPrices(fixedPrice{tt.price}))
			_, err := eng.Decide(context.Background(), tt.in)
			d, rules := outcome(t, err)
			if tt.want == "" {
				if d != DecisionApprove {
					t.Fatalf("got %s %v: %v", d, rules, err)
				}
				return
			}
			if d != DecisionDeny || !slices.Equal(rules, []string{"limits.per_tx_usd"}) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %s %v (%v), want a denial saying %q", d, rules, err, tt.want)
			}
		})
	}
}

// countingLedger counts Release calls.
type countingLedger struct {
	*MemLedger
	mu       sync.Mutex
	releases int
}

func (l *countingLedger) Release(ctx context.Context, id, reason string) error {
	l.mu.Lock()
	l.releases++
	l.mu.Unlock()
	return l.MemLedger.Release(ctx, id, reason)
}

func TestReleaseAfterSent(t *testing.T) {
	tests := []struct {
		name         string
		steps        []string // "sent", "release"
		wantErr      error    // of the last Release
		wantReleases int
	}{
		{"release before sent", []string{"release"}, nil, 1},
		{"release twice before sent", []string{"release", "release"}, nil, 2},
		{"release after sent", []string{"sent", "release"}, ErrApprovalSent, 0},
		{"sent twice then release", []string{"sent", "sent", "release"}, ErrApprovalSent, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &countingLedger{MemLedger: NewMemLedger()}
			eng := NewEngine(mustPolicy(t), l, WithClock(func() time.Time { return wednesday }), WithPrices(defaultPrices()))
			ctx := context.Background()
			a, err := eng.Decide(ctx, transfer(eth, alice, "1"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Claim(); err != nil {
				t.Fatal(err)
			}
			var last error
			for _, s := range tt.steps {
				switch s {
				case "sent":
					a.Sent()
				case "release":
					last = a.Release(ctx, "refused")
				}
			}
			if !errors.Is(last, tt.wantErr) || (tt.wantErr == nil && last != nil) {
				t.Fatalf("Release: %v, want %v", last, tt.wantErr)
			}
			if l.releases != tt.wantReleases {
				t.Fatalf("ledger released %d times, want %d", l.releases, tt.wantReleases)
			}
			spent, _ := l.Spent(ctx, "default/1/native", wednesday.Add(-window))
			wantSpent := units("1", 18)
			if tt.wantReleases > 0 {
				wantSpent = new(big.Int)
			}
			if spent.Cmp(wantSpent) != 0 {
				t.Fatalf("ETH spent %s, want %s", spent, wantSpent)
			}
		})
	}
	var zero Approval
	zero.Sent() // does nothing
}

func TestSafeTxMatchesInner(t *testing.T) {
	batch := func() SafeTx {
		return safeBatch(OpDelegateCall, multisend, transfer(eth, alice, "0.1"), approveUSDC(router, "5"))
	}
	single := func() SafeTx { return safeBatch(OpCall, alice, transfer(eth, alice, "0.1")) }
	const what = "the Safe transaction does not do what its inner calls say"
	tests := []struct {
		name string
		in   func() SafeTx
		want string // a reason's text; "" to approve
	}{
		{"MultiSend batch of two calls", batch, ""},
		{"MultiSend target in other case", func() SafeTx { s := batch(); s.To = strings.ToLower(multisend); return s }, ""},
		{"extra trailing bytes", func() SafeTx {
			s := batch()
			s.Data = append(slices.Clone(s.Data), 0)
			return s
		}, what},
		{"extra trailing word", func() SafeTx {
			s := batch()
			s.Data = append(slices.Clone(s.Data), make([]byte, 32)...)
			return s
		}, what},
		{"one inner call swapped", func() SafeTx {
			s := batch()
			other := safeBatch(OpCall, alice, transfer(eth, bob, "0.1")).Inner[0]
			s.Inner = []Intent{other, s.Inner[1]}
			return s
		}, what},
		{"inner calls in another order", func() SafeTx {
			s := batch()
			s.Inner = []Intent{s.Inner[1], s.Inner[0]}
			return s
		}, what},
		{"data of one inner call only", func() SafeTx {
			s := batch()
			s.Data, _ = multiSendData([]*Call{innerCall(s.Inner[0])})
			return s
		}, what},
		{"inner call without tx", func() SafeTx {
			s := batch()
			x := s.Inner[1].(Approve)
			x.Tx = nil
			s.Inner[1] = x
			return s
		}, "inner call 1: the inner call carries no transaction (tx)"},
		{"single call", single, ""},
		{"single call to in other case", func() SafeTx { s := single(); s.To = strings.ToUpper("0x") + strings.ToUpper(alice[2:]); return s }, ""},
		{"single call outer to differs", func() SafeTx { s := single(); s.To = bob; return s }, what},
		{"single call outer value differs", func() SafeTx { s := single(); s.Value = units("1", 18); return s }, what},
		{"single call outer data differs", func() SafeTx { s := single(); s.Data = HexBytes{0xa9, 0x05, 0x9c, 0xbb}; return s }, what},
		{"call with two inner calls", func() SafeTx {
			s := batch()
			s.Operation, s.To, s.Data = OpCall, alice, nil
			return s
		}, what},
		{"self call to another address", func() SafeTx {
			s := safeBatch(OpCall, stranger)
			s.SelfCall, s.Value = "changeThreshold", units("0.1", 18)
			return s
		}, what},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, _ := newTestEngine(t, mustPolicy(t, "self_calls: false", "self_calls: true"), wednesday)
			_, err := eng.Decide(context.Background(), tt.in())
			d, rules := outcome(t, err)
			if tt.want == "" {
				if d != DecisionApprove {
					t.Fatalf("got %s %v: %v", d, rules, err)
				}
				return
			}
			if d != DecisionDeny || !slices.Contains(rules, "safe") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %s %v (%v), want a denial saying %q", d, rules, err, tt.want)
			}
		})
	}
}

// TestMultiSendEncoding pins the encoding to a hand-built one.
func TestMultiSendEncoding(t *testing.T) {
	calls := []*Call{
		{To: alice, Value: big.NewInt(5)},
		{To: usdcAddr, Data: HexBytes{0xde, 0xad, 0xbe, 0xef, 0x01}},
	}
	packed := "00" + strings.Repeat("11", 20) + fmt.Sprintf("%064x", 5) + fmt.Sprintf("%064x", 0) +
		"00" + strings.ToLower(usdcAddr[2:]) + fmt.Sprintf("%064x", 0) + fmt.Sprintf("%064x", 5) + "deadbeef01"
	n := len(packed) / 2
	want := "8d80ff0a" + fmt.Sprintf("%064x", 32) + fmt.Sprintf("%064x", n) + packed + strings.Repeat("00", (32-n%32)%32)
	got, ok := multiSendData(calls)
	if !ok || fmt.Sprintf("%x", got) != want {
		t.Fatalf("got  %x\nwant %s", got, want)
	}
}

func TestDuplicateErrorDigest(t *testing.T) {
	tests := []struct {
		name   string
		second func(first Transfer) Transfer
	}{
		{"same intent again", func(f Transfer) Transfer { return f }},
		{"other intent, same key", func(f Transfer) Transfer { f.Amount = units("0.2", 18); return f }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng, _ := newTestEngine(t, mustPolicy(t), wednesday)
			ctx := context.Background()
			first := transfer(eth, alice, "0.1")
			first.Key = "order-1"
			a, err := eng.Decide(ctx, first)
			if err != nil {
				t.Fatal(err)
			}
			_, err = eng.Decide(ctx, tt.second(first))
			dup, ok := errors.AsType[*DuplicateError](err)
			if !ok || dup.Digest != a.Digest() || dup.ApprovalID != a.ID() {
				t.Fatalf("got %v (%+v), want a *DuplicateError with digest %s", err, dup, a.Digest())
			}
		})
	}
}
