package soltools_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/rpc"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/solana"
	"github.com/mandatehq/mandate/chains/solana/devnet"
	"github.com/mandatehq/mandate/chains/solana/devnet/soltest"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	soltools "github.com/mandatehq/mandate/tools/solana"
)

const policyYAML = `version: 1
chains: [solana-local]
tokens:
  USDC: {chain: solana-local, mint: "MINT", decimals: 6}
limits:
  per_tx: {SOL: "5", USDC: "100"}
  daily: {SOL: "50", USDC: "1000"}
`

type env struct {
	d    *devnet.Devnet
	c    *solana.Client
	w    *solana.Wallet
	j    evm.Journal
	reg  *tools.Registry
	acct devnet.Account
}

func newEnv(t testing.TB, st memtest.Named, opts ...soltools.Option) *env {
	t.Helper()
	return newEnvWith(t, st, policyYAML, nil, nil, opts...)
}

// newEnvWith builds the tools over a policy (MINT stands for the devnet's
// USDC mint), a price source and an approver.
func newEnvWith(t testing.TB, st memtest.Named, policy string, prices policies.PriceSource, approver tools.Approver, opts ...soltools.Option) *env {
	t.Helper()
	d := soltest.Shared(t)
	e := &env{d: d, acct: soltest.Account(t, d), j: st.Store.Journal()}
	p, err := policies.Parse([]byte(strings.Replace(policy, "MINT", d.Mints()["USDC"].String(), 1)))
	if err != nil {
		t.Fatal(err)
	}
	var engOpts []policies.Option
	if prices != nil {
		engOpts = append(engOpts, policies.WithPrices(prices))
	}
	eng := policies.NewEngine(p, st.Store.Ledger(), engOpts...)
	if e.c, err = solana.NewClient(d.RPC()); err != nil {
		t.Fatal(err)
	}
	kp, err := solana.KeypairFromBase58(e.acct.SecretKey.String())
	if err != nil {
		t.Fatal(err)
	}
	if e.w, err = solana.NewWallet(context.Background(), e.c, solana.NewKeySigner(kp), e.j,
		solana.WithPollInterval(20*time.Millisecond), solana.WithLogger(slog.New(slog.DiscardHandler))); err != nil {
		t.Fatal(err)
	}
	e.reg = tools.NewRegistry(soltools.New(e.w, eng, approver, opts...))
	return e
}

func (e *env) call(t testing.TB, name string, args any) (tools.Result, error) {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return e.reg.Call(context.Background(), name, raw)
}

func (e *env) usdcOf(t testing.TB, owner sol.PublicKey) int64 {
	t.Helper()
	m, err := e.c.Mint(context.Background(), e.d.Mints()["USDC"])
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.c.TokenBalance(context.Background(), owner, m)
	if err != nil {
		t.Fatal(err)
	}
	return v.Int64()
}

func (e *env) lamports(t testing.TB, a sol.PublicKey) int64 {
	t.Helper()
	v, err := e.c.Balance(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return v.Int64()
}

func newRecipient() sol.PublicKey { return sol.NewWallet().PublicKey() }

func TestTraitsAndAddress(t *testing.T) {
	e := newEnv(t, memtest.SQLite(t))
	for _, tl := range e.reg.List() {
		if got, want := tools.MovesValue(tl), tl.Name() == "sol_transfer" || tl.Name() == "sol_swap"; got != want {
			t.Errorf("%s: moves value %v", tl.Name(), got)
		}
	}
	if len(e.reg.List()) != 6 {
		t.Fatalf("%d tools", len(e.reg.List()))
	}
	r, err := e.call(t, "sol_address", map[string]any{})
	if err != nil || !strings.Contains(r.Text, e.acct.Address.String()) || !strings.Contains(r.Text, "solana-local") {
		t.Fatalf("sol_address: %q %v", r.Text, err)
	}
	// Listed without a wallet, refused when called.
	bare := tools.NewRegistry(soltools.New(nil, nil, nil))
	if _, err := bare.Call(context.Background(), "sol_address", nil); !errors.Is(err, tools.ErrNoWallet) {
		t.Fatalf("no wallet: %v", err)
	}
}

func TestTransfers(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			e := newEnv(t, st)
			to := newRecipient()
			r, err := e.call(t, "sol_transfer", map[string]string{"to": to.String(), "token": "SOL", "amount": "1.5"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Outcome == nil || r.Outcome.Decision != policies.DecisionApprove || r.Outcome.Tx == nil || r.Outcome.Tx.Status != tools.TxMined {
				t.Fatalf("outcome %+v", r.Outcome)
			}
			if got := e.lamports(t, to); got != 1_500_000_000 {
				t.Fatalf("recipient has %d lamports", got)
			}
			// USDC to a recipient with no token account: created, rent paid.
			r, err = e.call(t, "sol_transfer", map[string]string{"to": to.String(), "token": "usdc", "amount": "25.5", "idempotency_key": "pay-1"})
			if err != nil {
				t.Fatal(err)
			}
			if got := e.usdcOf(t, to); got != 25_500_000 {
				t.Fatalf("recipient holds %d USDC base units", got)
			}
			if !strings.Contains(r.Text, "25.5 USDC") {
				t.Fatalf("text %q", r.Text)
			}
			// The same key again: the first outcome, nothing sent.
			again, err := e.call(t, "sol_transfer", map[string]string{"to": to.String(), "token": "USDC", "amount": "25.5", "idempotency_key": "pay-1"})
			if err != nil {
				t.Fatal(err)
			}
			if !again.Outcome.Duplicate || again.Outcome.Tx.Hash != r.Outcome.Tx.Hash {
				t.Fatalf("retry: %+v", again.Outcome)
			}
			if got := e.usdcOf(t, to); got != 25_500_000 {
				t.Fatalf("paid twice: recipient holds %d", got)
			}
			// Another amount under the key is the caller's mistake.
			_, err = e.call(t, "sol_transfer", map[string]string{"to": to.String(), "token": "USDC", "amount": "26", "idempotency_key": "pay-1"})
			var ae *tools.ArgError
			if !errors.As(err, &ae) || !strings.Contains(err.Error(), "different action") {
				t.Fatalf("another action under the key: %v", err)
			}
			// By mint address too.
			if _, err := e.call(t, "sol_transfer", map[string]string{"to": to.String(), "token": e.d.Mints()["USDC"].String(), "amount": "1"}); err != nil {
				t.Fatal(err)
			}
			if got := e.usdcOf(t, to); got != 26_500_000 {
				t.Fatalf("recipient holds %d", got)
			}
		})
	}
}

func TestOverLimitRefused(t *testing.T) {
	st := memtest.SQLite(t)
	e := newEnv(t, st)
	to := newRecipient()
	before := e.usdcOf(t, e.acct.Address)
	r, err := e.call(t, "sol_transfer", map[string]string{"to": to.String(), "token": "USDC", "amount": "100.000001", "idempotency_key": "too-much"})
	if _, denied := errors.AsType[*policies.Denied](err); !denied {
		t.Fatalf("over the limit: %v", err)
	}
	if r.Outcome == nil || r.Outcome.Decision != policies.DecisionDeny || r.Outcome.Tx != nil {
		t.Fatalf("outcome %+v", r.Outcome)
	}
	open, err := e.j.Open(context.Background(), e.w.JournalChain(), e.w.Address().String())
	if err != nil || len(open) != 0 {
		t.Fatalf("journaled %d rows (%v)", len(open), err)
	}
	if _, ok, _ := e.j.ByKey(context.Background(), e.w.JournalChain(), e.w.Address().String(), "too-much"); ok {
		t.Fatal("the refused transfer was journaled")
	}
	if got := e.usdcOf(t, e.acct.Address); got != before {
		t.Fatalf("the wallet's USDC moved: %d -> %d", before, got)
	}
	if got := e.usdcOf(t, to); got != 0 {
		t.Fatalf("recipient holds %d", got)
	}
	// A dry run signs nothing and says what the policy would do.
	dr, err := e.reg.Call(tools.WithDryRun(context.Background()), "sol_transfer", json.RawMessage(`{"to":"`+to.String()+`","token":"USDC","amount":"10"}`))
	if err != nil || dr.Outcome.Report == nil || dr.Outcome.Decision != policies.DecisionApprove || dr.Outcome.Tx != nil {
		t.Fatalf("dry run: %+v %v", dr.Outcome, err)
	}
	if got := e.usdcOf(t, to); got != 0 {
		t.Fatalf("the dry run sent: recipient holds %d", got)
	}
}

func TestBadArguments(t *testing.T) {
	e := newEnv(t, memtest.SQLite(t))
	pda, _, _ := sol.FindProgramAddress([][]byte{[]byte("vault")}, sol.SystemProgramID)
	good := newRecipient().String()
	for name, args := range map[string]map[string]string{
		"not base58":         {"to": "0xd8dA6BF26964aF9D7eEd9e03E53415D37aA96045", "token": "SOL", "amount": "1"},
		"base58 of 31 bytes": {"to": "1111111111111111111111111111111", "token": "SOL", "amount": "1"},
		"off curve":          {"to": pda.String(), "token": "SOL", "amount": "1"},
		"beyond decimals":    {"to": good, "token": "USDC", "amount": "1.0000001"},
		"SOL decimals":       {"to": good, "token": "SOL", "amount": "0.0000000001"},
		"negative":           {"to": good, "token": "SOL", "amount": "-1"},
		"zero":               {"to": good, "token": "SOL", "amount": "0"},
		"beyond u64":         {"to": good, "token": "SOL", "amount": "18446744073.709551616"},
		"unknown symbol":     {"to": good, "token": "BONK", "amount": "1"},
		"not a mint":         {"to": good, "token": good, "amount": "1"},
		"to a mint":          {"to": e.d.Mints()["USDC"].String(), "token": "SOL", "amount": "1"},
		"missing amount":     {"to": good, "token": "SOL"},
		"key with a slash":   {"to": good, "token": "SOL", "amount": "1", "idempotency_key": "a/rent"},
	} {
		_, err := e.call(t, "sol_transfer", args)
		var ae *tools.ArgError
		if !errors.As(err, &ae) {
			t.Errorf("%s: %v (want an argument error)", name, err)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: not one line: %q", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if _, err := e.call(t, "sol_transfer", map[string]string{"to": good, "token": "SOL", "amount": "1", "extra": "x"}); err == nil {
		t.Error("an unknown argument was accepted")
	}
}

// feeMint creates a Token-2022 mint with a 1% transfer fee.
func feeMint(t testing.TB, d *devnet.Devnet, payer devnet.Account) sol.PublicKey {
	t.Helper()
	ctx := context.Background()
	mint := sol.NewWallet()
	const size = 165 + 1 + 4 + 108
	rent, err := d.Client().GetMinimumBalanceForRentExemption(ctx, size, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	auth := payer.Address
	create := system.NewCreateAccountInstruction(rent, size, sol.Token2022ProgramID, auth, mint.PublicKey()).Build()
	fee := append([]byte{26, 0, 1}, auth[:]...)
	fee = append(append(fee, 1), auth[:]...)
	fee = binary.LittleEndian.AppendUint16(fee, 100)
	fee = binary.LittleEndian.AppendUint64(fee, 1_000_000)
	initFee := sol.NewInstruction(sol.Token2022ProgramID, sol.AccountMetaSlice{sol.Meta(mint.PublicKey()).WRITE()}, fee)
	initMint := append(append([]byte{20, 6}, auth[:]...), 0)
	im := sol.NewInstruction(sol.Token2022ProgramID, sol.AccountMetaSlice{sol.Meta(mint.PublicKey()).WRITE()}, initMint)
	if _, err := d.Send(ctx, []sol.Instruction{create, initFee, im}, payer.SecretKey, mint.PrivateKey); err != nil {
		t.Fatalf("create a transfer-fee mint: %v", err)
	}
	return mint.PublicKey()
}

func TestTransferFeeMint(t *testing.T) {
	e := newEnv(t, memtest.SQLite(t))
	m := feeMint(t, e.d, e.acct)
	r, err := e.call(t, "sol_token_info", map[string]string{"token": m.String()})
	if err != nil {
		t.Fatal(err)
	}
	info := r.Data.(soltools.TokenInfo)
	if info.Transferable || info.Program != "token-2022" || !strings.Contains(info.Refusal, "transfer fee") {
		t.Fatalf("info %+v", info)
	}
	_, err = e.call(t, "sol_transfer", map[string]string{"to": newRecipient().String(), "token": m.String(), "amount": "1"})
	if !errors.Is(err, solana.ErrRiskyMint) {
		t.Fatalf("transfer of a transfer-fee mint: %v", err)
	}
}

func TestBalanceAndInfo(t *testing.T) {
	e := newEnv(t, memtest.SQLite(t))
	r, err := e.call(t, "sol_balance", map[string]any{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "100 SOL") || !strings.Contains(r.Text, "1000000 USDC") {
		t.Fatalf("balance: %q", r.Text)
	}
	r, err = e.call(t, "sol_balance", map[string]string{"token": "USDC"})
	if err != nil || !strings.Contains(r.Text, "1000000 USDC") || strings.Contains(r.Text, "SOL") {
		t.Fatalf("USDC balance: %q %v", r.Text, err)
	}
	r, err = e.call(t, "sol_token_info", map[string]string{"token": "USDC"})
	if err != nil {
		t.Fatal(err)
	}
	info := r.Data.(soltools.TokenInfo)
	if info.Decimals != 6 || info.Program != "token" || !info.Transferable || info.Symbol != "USDC" || info.MintAuthority == "" {
		t.Fatalf("info %+v", info)
	}
	if v, ok := new(big.Int).SetString(strings.ReplaceAll(info.Supply, ".", ""), 10); !ok || v.Sign() <= 0 {
		t.Fatalf("supply %q", info.Supply)
	}
}

// solPrice prices SOL at $150, as a price feed would.
type solPrice struct{}

func (solPrice) PriceUSD(_ context.Context, _ string, t policies.Token) (policies.Price, error) {
	if t.Native() {
		return policies.Price{USD: big.NewRat(150, 1), Source: "test"}, nil
	}
	return policies.Price{USD: big.NewRat(1, 1), Source: "test"}, nil
}

// person answers confirmations and remembers what was asked.
type person struct {
	yes   bool
	asked []policies.Intent
}

func (p *person) Approve(_ context.Context, in policies.Intent, _ []string) (bool, error) {
	p.asked = append(p.asked, in)
	return p.yes, nil
}

func TestAskAPerson(t *testing.T) {
	const policy = `version: 1
chains: [solana-local]
tokens:
  USDC: {chain: solana-local, mint: "MINT", decimals: 6}
limits:
  per_tx: {SOL: "5"}
ask: {above_usd: 100}
`
	for _, yes := range []bool{true, false} {
		p := &person{yes: yes}
		e := newEnvWith(t, memtest.SQLite(t), policy, solPrice{}, p)
		to := newRecipient()
		r, err := e.call(t, "sol_transfer", map[string]string{"to": to.String(), "token": "SOL", "amount": "1"})
		if len(p.asked) != 1 {
			t.Fatalf("asked %d times", len(p.asked))
		}
		if yes {
			if err != nil || e.lamports(t, to) != 1_000_000_000 {
				t.Fatalf("confirmed: %v, recipient has %d", err, e.lamports(t, to))
			}
			continue
		}
		if !errors.Is(err, tools.ErrNotConfirmed) || r.Outcome.Decision != policies.DecisionDeny || e.lamports(t, to) != 0 {
			t.Fatalf("declined: %v, %+v", err, r.Outcome)
		}
	}
}
