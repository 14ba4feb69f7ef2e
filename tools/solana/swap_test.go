package soltools_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"

	"github.com/mandatehq/mandate/chains/solana"
	"github.com/mandatehq/mandate/chains/solana/devnet/soltest"
	"github.com/mandatehq/mandate/chains/solana/jupiter"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	soltools "github.com/mandatehq/mandate/tools/solana"
)

const swapPolicyYAML = `version: 1
chains: [solana-local]
tokens:
  USDC: {chain: solana-local, mint: "MINT", decimals: 6}
limits:
  per_tx: {SOL: "5", USDC: "100"}
  daily: {SOL: "50", USDC: "1000"}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800}
`

// swapEnv is the tools over a LiteSVM wallet with a Jupiter API serving
// recorded-shape answers. The local runtime has no Jupiter program, so
// sol_swap stops once it has signed (WithSwapSignOnly).
type swapEnv struct {
	*env
	jw *jupWorld
}

func newSwapEnv(t testing.TB) *swapEnv {
	t.Helper()
	st := memtest.SQLite(t)
	d := soltest.Shared(t)
	e := &env{d: d, acct: soltest.Account(t, d), j: st.Store.Journal()}
	p, err := policies.Parse([]byte(strings.Replace(swapPolicyYAML, "MINT", d.Mints()["USDC"].String(), 1)))
	if err != nil {
		t.Fatal(err)
	}
	if e.c, err = solana.NewClient(d.RPC()); err != nil {
		t.Fatal(err)
	}
	kp, err := solana.KeypairFromBase58(e.acct.SecretKey.String())
	if err != nil {
		t.Fatal(err)
	}
	if e.w, err = solana.NewWallet(context.Background(), e.c, solana.NewKeySigner(kp), e.j,
		solana.WithLookup(withNativeMint{e.c}), solana.WithLogger(slog.New(slog.DiscardHandler))); err != nil {
		t.Fatal(err)
	}
	jw := newJupWorld(t, e.w.Address(), d.Mints()["USDC"])
	jw.height = func() uint64 {
		h, err := e.c.BlockHeight(context.Background())
		if err != nil {
			t.Error(err)
		}
		return h
	}
	srv := jw.server(t)
	e.reg = tools.NewRegistry(soltools.New(e.w, policies.NewEngine(p, st.Store.Ledger()), nil,
		soltools.WithJupiter(jupiter.NewClient(jupiter.WithBaseURL(srv.URL)), jupiter.WithTables(jw.tables)),
		soltools.WithSwapSignOnly()))
	return &swapEnv{env: e, jw: jw}
}

// withNativeMint is the devnet's state plus the native mint, which every
// public cluster has at its fixed address and the local runtime lacks.
type withNativeMint struct{ solana.Lookup }

func (l withNativeMint) Mint(ctx context.Context, addr sol.PublicKey) (solana.Mint, error) {
	if addr.Equals(sol.WrappedSol) {
		return solana.Mint{Address: addr, Program: sol.TokenProgramID, Decimals: 9}, nil
	}
	return l.Lookup.Mint(ctx, addr)
}

// journaled is the wallet's open journal rows (signed, not yet landed).
func (e *swapEnv) journaled(t testing.TB) int {
	t.Helper()
	rows, err := e.j.Open(context.Background(), e.w.JournalChain(), e.w.Address().String())
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

// A recorded swap is verified, approved by the policy and signed: the
// signature is the wallet's over exactly the message Jupiter sent.
func TestSwapVerifiedAndSigned(t *testing.T) {
	e := newSwapEnv(t)
	res, err := e.call(t, "sol_swap", map[string]any{"from": "SOL", "to": "USDC", "amount": "1", "idempotency_key": "swap-1"})
	if err != nil {
		t.Fatalf("sol_swap: %v", err)
	}
	out := res.Outcome
	if out == nil || out.Tx == nil || out.Decision != policies.DecisionApprove {
		t.Fatalf("outcome %+v (%s)", out, res.Text)
	}
	in, err := policies.Unmarshal(out.Intent)
	if err != nil {
		t.Fatal(err)
	}
	sw, ok := in.(policies.Swap)
	if !ok || sw.Venue != "jupiter" || !sw.TokenIn.Native() || sw.AmountIn.Int64() != 1_000_000_000 ||
		sw.TokenOut.Address != e.d.Mints()["USDC"].String() || sw.Quoted.Int64() != 150_000_000 || sw.MinOut.Int64() != 149_250_000 {
		t.Fatalf("intent %s", out.Intent)
	}
	rec, found, err := e.j.ByHash(context.Background(), e.w.JournalChain(), out.Tx.Hash)
	if err != nil || !found {
		t.Fatalf("the signed swap is not journaled: %v", err)
	}
	signed, err := sol.TransactionFromBytes(rec.Raw)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := signed.Message.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(ed25519.PublicKey(e.w.Address().Bytes()), msg, signed.Signatures[0][:]) {
		t.Fatal("the signature does not verify against the wallet's key")
	}
	wire := e.jw.served()
	if len(wire) != 1 {
		t.Fatalf("%d swap transactions served", len(wire))
	}
	sent, err := sol.TransactionFromBase64(wire[0])
	if err != nil {
		t.Fatal(err)
	}
	want, _ := sent.Message.MarshalBinary()
	if string(want) != string(msg) {
		t.Fatal("the signed message is not the one Jupiter sent")
	}
	if !strings.Contains(res.Text, "sign-only") {
		t.Errorf("text %q does not say the swap was not broadcast", res.Text)
	}
}

// Tampered answers are refused before anything is signed or journaled.
func TestSwapTamperedRefused(t *testing.T) {
	e := newSwapEnv(t)
	usdc := e.d.Mints()["USDC"]
	cases := []struct {
		name   string
		tamper func(*swapSpec)
	}{
		{"amount in changed", func(s *swapSpec) { s.inAmount, s.wrap = 2*s.inAmount, 2*s.wrap }},
		{"extra transfer to a stranger", func(s *swapSpec) {
			s.extra = append(s.extra, system.NewTransferInstruction(1_000_000, e.jw.wallet, e.jw.stranger).Build())
		}},
		{"min out lowered", func(s *swapSpec) { s.quotedOut /= 2 }},
		{"slippage raised", func(s *swapSpec) { s.slippageBps = 5000 }},
		{"other mint sold", func(s *swapSpec) {
			s.in, s.source, s.wrap = usdc, e.jw.ata(e.jw.wallet, usdc), 0
			s.out, s.dest = sol.WrappedSol, e.jw.ata(e.jw.wallet, sol.WrappedSol)
		}},
		{"output to a stranger", func(s *swapSpec) { s.dest = e.jw.ata(e.jw.stranger, s.out) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.jw.setTamper(c.tamper)
			key := "tampered-" + strings.ReplaceAll(c.name, " ", "-")
			res, err := e.call(t, "sol_swap", map[string]any{"from": "SOL", "to": "USDC", "amount": "1", "idempotency_key": key})
			if err == nil {
				t.Fatalf("a tampered swap was accepted: %s", res.Text)
			}
			if len(e.jw.served()) != 1 {
				t.Fatalf("the API was not asked for the swap (%v)", err)
			}
			if res.Outcome != nil && res.Outcome.Tx != nil {
				t.Fatalf("a transaction was reported: %+v", res.Outcome.Tx)
			}
			if _, ok, _ := e.w.ByKey(context.Background(), key); ok {
				t.Fatal("the refused swap was journaled under its key")
			}
			if n := e.journaled(t); n != 0 {
				t.Fatalf("%d journal rows after a refusal (%v)", n, err)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// Over the policy's limit or slippage, a verified swap is denied by the
// policy with its rule, and nothing is signed.
func TestSwapDeniedByPolicy(t *testing.T) {
	e := newSwapEnv(t)
	cases := []struct {
		args map[string]any
		rule string
	}{
		{map[string]any{"from": "SOL", "to": "USDC", "amount": "6"}, "limits.per_tx.SOL"},
		{map[string]any{"from": "SOL", "to": "USDC", "amount": "1", "slippage_bps": 300}, "swaps.max_slippage_bps"},
		{map[string]any{"from": "USDC", "to": "SOL", "amount": "150", "slippage_bps": "30"}, "limits.per_tx.USDC"},
	}
	for _, c := range cases {
		res, err := e.call(t, "sol_swap", c.args)
		d, ok := errors.AsType[*policies.Denied](err)
		if !ok {
			t.Fatalf("%v: %v (%s), want denied by %s", c.args, err, res.Text, c.rule)
		}
		rules := []string{}
		for _, r := range d.Reasons {
			rules = append(rules, r.Rule)
		}
		if !slices.Contains(rules, c.rule) {
			t.Fatalf("%v: denied by %v, want %s", c.args, rules, c.rule)
		}
		if res.Outcome == nil || res.Outcome.Decision != policies.DecisionDeny || res.Outcome.Tx != nil {
			t.Fatalf("%v: outcome %+v", c.args, res.Outcome)
		}
	}
	if n := e.journaled(t); n != 0 {
		t.Fatalf("%d journal rows after denials", n)
	}
}

// A dry run says what the policy would decide and signs nothing.
func TestSwapDryRun(t *testing.T) {
	e := newSwapEnv(t)
	for _, c := range []struct {
		amount string
		want   policies.Decision
	}{{"1", policies.DecisionApprove}, {"6", policies.DecisionDeny}} {
		raw, _ := json.Marshal(map[string]any{"from": "SOL", "to": "USDC", "amount": c.amount})
		res, err := e.reg.Call(tools.WithDryRun(context.Background()), "sol_swap", raw)
		if err != nil {
			t.Fatal(err)
		}
		if res.Outcome == nil || !res.Outcome.DryRun() || res.Outcome.Decision != c.want || res.Outcome.Tx != nil {
			t.Fatalf("%s SOL: outcome %+v", c.amount, res.Outcome)
		}
	}
	if n := e.journaled(t); n != 0 {
		t.Fatalf("a dry run journaled %d rows", n)
	}
}

// A key that swapped once answers a retry with that swap, and refuses a
// different swap.
func TestSwapKeyReuse(t *testing.T) {
	e := newSwapEnv(t)
	args := map[string]any{"from": "SOL", "to": "USDC", "amount": "1", "idempotency_key": "k"}
	first, err := e.call(t, "sol_swap", args)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.call(t, "sol_swap", args)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Outcome.Duplicate || again.Outcome.Tx.Hash != first.Outcome.Tx.Hash {
		t.Fatalf("retry: %+v, want the first swap %s", again.Outcome, first.Outcome.Tx.Hash)
	}
	args["amount"] = "2"
	_, err = e.call(t, "sol_swap", args)
	if err == nil || !strings.Contains(err.Error(), "different action") {
		t.Fatalf("a different swap under a used key: %v", err)
	}
	if n := e.journaled(t); n != 1 {
		t.Fatalf("%d journal rows, want the first swap's", n)
	}
}

func TestQuote(t *testing.T) {
	e := newSwapEnv(t)
	res, err := e.call(t, "sol_quote", map[string]any{"from": "SOL", "to": "USDC", "amount": "2.5"})
	if err != nil {
		t.Fatal(err)
	}
	q := res.Data.(soltools.Quote)
	if q.ExpectedOut != "375" || q.MinimumOut != "373.125" || q.SlippageBps != 50 || q.AmountInBase != "2500000000" {
		t.Fatalf("quote %+v", q)
	}
	res, err = e.call(t, "sol_quote", map[string]any{"from": "SOL", "to": "USDC", "amount": "1", "slippage_bps": "300"})
	if err != nil || !strings.Contains(res.Text, "would be denied") {
		t.Fatalf("a quote above the policy's slippage: %v %q", err, res.Text)
	}
	if n := e.journaled(t); n != 0 {
		t.Fatalf("a quote journaled %d rows", n)
	}
	for _, bad := range []map[string]any{
		{"from": "SOL", "to": "SOL", "amount": "1"},
		{"from": "SOL", "to": "USDC", "amount": "1.0000000001"},
		{"from": "SOL", "to": "nope", "amount": "1"},
		{"from": "SOL", "to": "USDC", "amount": "1", "slippage_bps": 10001},
	} {
		if _, err := e.call(t, "sol_quote", bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// Without a Jupiter API the swap tools say so, and on the local runtime
// why: it has no Jupiter program.
func TestSwapWithoutJupiter(t *testing.T) {
	e := newEnv(t, memtest.SQLite(t))
	for _, name := range []string{"sol_quote", "sol_swap"} {
		_, err := e.call(t, name, map[string]any{"from": "SOL", "to": "USDC", "amount": "1"})
		if !errors.Is(err, soltools.ErrNoJupiter) || !strings.Contains(err.Error(), "no Jupiter program") {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
