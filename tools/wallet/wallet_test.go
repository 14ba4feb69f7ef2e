package wallet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"text/template"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/wallet"
)

// chain returns the package's shared devnet; each test uses accounts of its
// own (NewAccount), so tests do not see each other's balances or nonces.
func chain(t testing.TB) *devnet.Devnet { return devnettest.Shared(t) }

const policyTmpl = `version: 1
chains: [{{.Chain}}]
tokens:
  USDC: {chain: {{.Chain}}, address: "{{.USDC}}", decimals: 6}
  DAI: {chain: {{.Chain}}, address: "{{.DAI}}", decimals: 18}
recipients:
  deny: ["0x000000000000000000000000000000000000dEaD"]
limits:
  per_tx: {ETH: "1", USDC: "1000", DAI: "1000"}
  daily: {ETH: "3", USDC: "2000", DAI: "5000"}
approvals:
  max: {USDC: "1000"}
  unlimited: false
`

func policy(t testing.TB, d *devnet.Devnet, chainID int) *policies.Policy {
	t.Helper()
	var buf bytes.Buffer
	tm := template.Must(template.New("p").Parse(policyTmpl))
	err := tm.Execute(&buf, map[string]any{"Chain": chainID, "USDC": d.Address("USDC").Hex(), "DAI": d.Address("DAI").Hex()})
	if err != nil {
		t.Fatal(err)
	}
	p, err := policies.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type env struct {
	d     *devnet.Devnet
	w     *evm.Wallet
	store *memory.Store
	reg   *tools.Registry
	acct  devnet.Account
	to    common.Address // another funded account
}

func setup(t testing.TB, store *memory.Store, chainID int, opts ...evm.WalletOption) *env {
	t.Helper()
	d := chain(t)
	w, acct := devnettest.Wallet(t, d, append([]evm.WalletOption{evm.WithJournal(store.Journal())}, opts...)...)
	other, _ := devnettest.Account(t, d)
	list, err := d.Deployment().TokenList()
	if err != nil {
		t.Fatal(err)
	}
	eng := policies.NewEngine(policy(t, d, chainID), store.Ledger())
	reg := tools.NewRegistry(wallet.Tools(w, eng, wallet.WithTokenList(list)))
	return &env{d: d, w: w, store: store, reg: reg, acct: acct, to: other.Address}
}

func (e *env) call(t *testing.T, ctx context.Context, name string, args any) (tools.Result, error) {
	t.Helper()
	b, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	return e.reg.Call(ctx, name, b)
}

func (e *env) usdc(t *testing.T, who common.Address) *big.Int {
	t.Helper()
	v, err := e.w.Client().TokenBalance(context.Background(), e.d.Address("USDC"), who)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (e *env) journalCount(t *testing.T) int {
	t.Helper()
	_, ok, err := e.store.Journal().MaxNonce(context.Background(), e.w.JournalChain(), e.w.Address().Hex())
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return 0
	}
	open, err := e.store.Journal().Open(context.Background(), e.w.JournalChain(), e.w.Address().Hex())
	if err != nil {
		t.Fatal(err)
	}
	return 1 + len(open)
}

func usdc(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), big.NewInt(1_000_000)) }

func TestTransferThroughPolicy(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			e := setup(t, st.Store, 1337)
			before := e.usdc(t, e.to)

			res, err := e.call(t, ctx, "wallet_transfer", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "250.5"})
			if err != nil {
				t.Fatalf("allowed transfer: %v", err)
			}
			out := res.Outcome
			if out.Tx == nil || out.Tx.Status != string(evm.TxMined) {
				t.Fatalf("transfer not mined: %+v", out)
			}
			want := new(big.Int).Add(before, big.NewInt(250_500_000))
			if got := e.usdc(t, e.to); got.Cmp(want) != 0 {
				t.Fatalf("recipient USDC = %s, want %s", got, want)
			}

			// Over the per-tx limit: denied with the reason, nothing sent.
			_, err = e.call(t, ctx, "wallet_transfer", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "1000.000001"})
			var denied *policies.Denied
			if !errors.As(err, &denied) || !strings.Contains(err.Error(), "limits.per_tx.USDC") {
				t.Fatalf("want a per-tx denial, got %v", err)
			}
			// Two more within per-tx fit the daily 2,000 only once more (250.5 + 1000 = 1250.5; +1000 > 2000).
			if _, err := e.call(t, ctx, "wallet_transfer", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "1000"}); err != nil {
				t.Fatalf("second transfer: %v", err)
			}
			_, err = e.call(t, ctx, "wallet_transfer", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "1000"})
			if !errors.As(err, &denied) || !strings.Contains(err.Error(), "daily") {
				t.Fatalf("want a daily-limit denial, got %v", err)
			}
			want.Add(want, usdc(1000))
			if got := e.usdc(t, e.to); got.Cmp(want) != 0 {
				t.Fatalf("recipient USDC = %s after denials, want %s", got, want)
			}
			decs, err := st.Store.Decisions(ctx, memory.DecisionFilter{Wallet: e.w.Address().Hex()})
			if err != nil {
				t.Fatal(err)
			}
			var approved, deniedN int
			for _, d := range decs {
				switch d.Decision {
				case policies.DecisionApprove:
					approved++
				case policies.DecisionDeny:
					deniedN++
				}
			}
			if approved != 2 || deniedN != 2 {
				t.Fatalf("audit has %d approvals and %d denials, want 2 and 2", approved, deniedN)
			}
		})
	}
}

func TestBadInputLeavesNothing(t *testing.T) {
	st := memtest.SQLite(t)
	e := setup(t, st.Store, 1337)
	ctx := context.Background()
	// 0x5f37D445AA287390a0795f71bF8633BC3241171C with one letter's case
	// flipped: still mixed case, so its checksum counts. (Built from the
	// setup's random recipient, the case flips sometimes gave an address
	// in one case only, which has no checksum to be wrong.)
	const badSum = "0x5F37D445AA287390a0795f71bF8633BC3241171C"
	cases := []struct {
		name string
		args any
		want string
	}{
		{"wrong checksum", map[string]string{"to": badSum, "token": "USDC", "amount": "1"}, "checksum"},
		{"too many decimals", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "1.0000001"}, "amount"},
		{"negative", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "-1"}, "amount"},
		{"not a number", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "ten"}, "amount"},
		{"exponent", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "1e3"}, "amount"},
		{"zero", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "0"}, "greater than zero"},
		{"unknown symbol", map[string]string{"to": e.to.Hex(), "token": "NOPE", "amount": "1"}, "unknown token symbol"},
		{"missing to", map[string]string{"token": "USDC", "amount": "1"}, `"to" is required`},
		{"unknown field", map[string]any{"to": e.to.Hex(), "token": "USDC", "amount": "1", "memo": "x"}, "unknown argument"},
		{"number amount", map[string]any{"to": e.to.Hex(), "token": "USDC", "amount": 1}, "must be a string"},
		{"not an address", map[string]string{"to": "0x1234", "token": "USDC", "amount": "1"}, "not an address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.call(t, ctx, "wallet_transfer", tc.args)
			var ae *tools.ArgError
			if !errors.As(err, &ae) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an argument error containing %q, got %v", tc.want, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
	if n := e.journalCount(t); n != 0 {
		t.Fatalf("bad input left %d journal rows", n)
	}
	decs, err := st.Store.Decisions(ctx, memory.DecisionFilter{Wallet: e.w.Address().Hex()})
	if err != nil || len(decs) != 0 {
		t.Fatalf("bad input reached the gate: %d decisions, %v", len(decs), err)
	}
}

func TestPolicyRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("recipient denied", func(t *testing.T) {
		e := setup(t, memtest.SQLite(t).Store, 1337)
		_, err := e.call(t, ctx, "wallet_transfer", map[string]string{"to": "0x000000000000000000000000000000000000dEaD", "token": "ETH", "amount": "0.1"})
		var denied *policies.Denied
		if !errors.As(err, &denied) || !strings.Contains(err.Error(), "recipients.deny") {
			t.Fatalf("want a recipients.deny denial, got %v", err)
		}
	})
	t.Run("chain not allowed", func(t *testing.T) {
		e := setup(t, memtest.SQLite(t).Store, 1)
		_, err := e.call(t, ctx, "wallet_transfer", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "1"})
		var denied *policies.Denied
		if !errors.As(err, &denied) || !strings.Contains(err.Error(), "chain") {
			t.Fatalf("want a chain denial, got %v", err)
		}
		if n := e.journalCount(t); n != 0 {
			t.Fatalf("denied transfer left %d journal rows", n)
		}
	})
	t.Run("unlimited approval", func(t *testing.T) {
		e := setup(t, memtest.SQLite(t).Store, 1337)
		_, err := e.call(t, ctx, "token_approve", map[string]string{"token": "USDC", "spender": e.to.Hex(), "amount": "unlimited"})
		var denied *policies.Denied
		if !errors.As(err, &denied) || !strings.Contains(err.Error(), "unlimited") {
			t.Fatalf("want a denial of an unlimited approval, got %v", err)
		}
		if _, err := e.call(t, ctx, "token_approve", map[string]string{"token": "USDC", "spender": e.to.Hex(), "amount": "100"}); err != nil {
			t.Fatalf("approval within approvals.max: %v", err)
		}
		got, err := e.w.Client().Allowance(ctx, e.d.Address("USDC"), e.w.Address(), e.to)
		if err != nil || got.Cmp(usdc(100)) != 0 {
			t.Fatalf("allowance = %v, %v; want 100 USDC", got, err)
		}
	})
}

func TestInsufficientBalanceSignsNothing(t *testing.T) {
	st := memtest.SQLite(t)
	e := setup(t, st.Store, 1337)
	ctx := context.Background()
	nonce, _ := e.w.Client().PendingNonce(ctx, e.w.Address())
	// A token the policy does not list is refused.
	_, err := e.call(t, ctx, "wallet_transfer", map[string]string{"to": e.to.Hex(), "token": e.d.Address("DEFL").Hex(), "amount": "1"})
	if err == nil {
		t.Fatal("a token the policy does not list was transferred")
	}
	// More ETH than the account holds (10,000): refused before the gate.
	_, err = e.call(t, ctx, "wallet_transfer", map[string]string{"to": e.to.Hex(), "token": "ETH", "amount": "20000"})
	var ib *evm.InsufficientBalanceError
	if !errors.As(err, &ib) {
		t.Fatalf("want InsufficientBalanceError, got %v", err)
	}
	after, _ := e.w.Client().PendingNonce(ctx, e.w.Address())
	if after != nonce || e.journalCount(t) != 0 {
		t.Fatalf("nonce moved %d → %d or journal written", nonce, after)
	}
}

func TestIdempotencyKeySendsOnce(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			e := setup(t, st.Store, 1337)
			before := e.usdc(t, e.to)
			args := map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "7", "idempotency_key": "invoice-42"}
			r1, err := e.call(t, ctx, "wallet_transfer", args)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := e.call(t, ctx, "wallet_transfer", args)
			if err != nil {
				t.Fatalf("retry with the same key: %v", err)
			}
			h1, h2 := r1.Outcome.Tx.Hash, r2.Outcome.Tx.Hash
			if h1 != h2 || !r2.Outcome.Duplicate {
				t.Fatalf("retry sent again: %s vs %s (%s)", h1, h2, r2.Text)
			}
			if got := e.usdc(t, e.to); new(big.Int).Sub(got, before).Cmp(usdc(7)) != 0 {
				t.Fatalf("recipient got %s base units, want 7 USDC once", new(big.Int).Sub(got, before))
			}
			// The same key for a different transfer is refused, not reported as sent.
			args["amount"] = "8"
			_, err = e.call(t, ctx, "wallet_transfer", args)
			var ae *tools.ArgError
			if !errors.As(err, &ae) || !strings.Contains(err.Error(), "different action") {
				t.Fatalf("reused key for another amount: %v", err)
			}
		})
	}
}

func TestDryRunSignsNothing(t *testing.T) {
	st := memtest.SQLite(t)
	e := setup(t, st.Store, 1337)
	ctx := tools.WithDryRun(context.Background())
	res, err := e.call(t, ctx, "wallet_transfer", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "5000"})
	if err != nil {
		t.Fatal(err)
	}
	out := res.Outcome
	if out.Report == nil || out.Report.Decision != policies.DecisionDeny || out.Tx != nil || out.Gas == 0 {
		t.Fatalf("dry run = %+v", out)
	}
	if e.journalCount(t) != 0 {
		t.Fatal("dry run wrote the journal")
	}
}

func TestReadTools(t *testing.T) {
	st := memtest.SQLite(t)
	e := setup(t, st.Store, 1337)
	ctx := context.Background()
	res, err := e.call(t, ctx, "wallet_balance", map[string]string{})
	if err != nil || !strings.Contains(res.Text, "USDC") || !strings.Contains(res.Text, "ETH") {
		t.Fatalf("wallet_balance = %q, %v", res.Text, err)
	}
	res, err = e.call(t, ctx, "token_info", map[string]string{"token": "USDC"})
	if err != nil {
		t.Fatal(err)
	}
	if info := res.Data.(wallet.TokenInfo); info.Decimals != 6 || !info.Listed {
		t.Fatalf("token_info = %+v", info)
	}
	res, err = e.call(t, ctx, "wallet_transfer", map[string]string{"to": e.to.Hex(), "token": "DAI", "amount": "1.25"})
	if err != nil {
		t.Fatal(err)
	}
	hash := res.Outcome.Tx.Hash
	res, err = e.call(t, ctx, "tx_status", map[string]string{"hash": hash})
	if err != nil || res.Data.(wallet.TxStatus).Status != "mined" {
		t.Fatalf("tx_status = %+v, %v", res.Data, err)
	}
	if _, err := e.call(t, ctx, "tx_status", map[string]string{"hash": "0x12"}); err == nil {
		t.Fatal("tx_status accepted a short hash")
	}
}

func TestConcurrentTransfers(t *testing.T) {
	st := memtest.SQLite(t)
	e := setup(t, st.Store, 1337)
	ctx := context.Background()
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	hashes := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := e.call(t, ctx, "wallet_transfer", map[string]string{"to": e.to.Hex(), "token": "USDC", "amount": "1"})
			if err != nil {
				errs <- err
				return
			}
			hashes <- res.Outcome.Tx.Hash
		}()
	}
	wg.Wait()
	close(errs)
	close(hashes)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for h := range hashes {
		seen[h] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct transactions, want %d", len(seen), n)
	}
	nonce, err := e.w.Client().Nonce(ctx, e.w.Address())
	if err != nil || nonce != n {
		t.Fatalf("account nonce %d (%v), want %d: a gap or a duplicate", nonce, err, n)
	}
}

func TestRPCFailures(t *testing.T) {
	ctx := context.Background()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	if _, err := evm.Dial(ctx, closed); err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("dial of a closed port: %v", err)
	}
	junk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":"not a number"}`))
	}))
	defer junk.Close()
	if _, err := evm.Dial(ctx, junk.URL); err == nil {
		t.Fatal("dial of a node answering garbage succeeded")
	}
}
