package solana_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
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
)

// env is one test's wallet on the shared devnet, over a real store.
type env struct {
	d    *devnet.Devnet
	c    *solana.Client
	w    *solana.Wallet
	j    evm.Journal
	eng  *policies.Engine
	usdc policies.Token
	acct devnet.Account
}

const testPolicy = `version: 1
chains: [solana-local]
tokens:
  USDC: {chain: solana-local, mint: "MINT", decimals: 6}
limits:
  per_tx: {SOL: "5", USDC: "100"}
  daily: {SOL: "10", USDC: "150"}
`

func newEnv(t *testing.T, j evm.Journal, ledger policies.Ledger) *env {
	t.Helper()
	d := soltest.Shared(t)
	e := &env{d: d, j: j, acct: soltest.Account(t, d)}
	mint := d.Mints()["USDC"]
	p, err := policies.Parse([]byte(strings.Replace(testPolicy, "MINT", mint.String(), 1)))
	if err != nil {
		t.Fatal(err)
	}
	e.eng = policies.NewEngine(p, ledger)
	e.usdc = policies.Token{Symbol: "USDC", Address: mint.String(), Decimals: 6}
	if e.c, err = solana.NewClient(d.RPC()); err != nil {
		t.Fatal(err)
	}
	e.w = e.open(t, e.c)
	return e
}

func (e *env) open(t *testing.T, c *solana.Client) *solana.Wallet {
	t.Helper()
	kp, err := solana.KeypairFromBase58(e.acct.SecretKey.String())
	if err != nil {
		t.Fatal(err)
	}
	w, err := solana.NewWallet(context.Background(), c, solana.NewKeySigner(kp), e.j, solana.WithPollInterval(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// decide asks the engine about every intent of p, deferred as the tools do.
func (e *env) decide(t *testing.T, p *solana.Prepared) ([]policies.Approval, error) {
	t.Helper()
	var out []policies.Approval
	for _, in := range p.Intents {
		ap, err := e.eng.Decide(policies.DeferCommit(context.Background()), in)
		if err != nil {
			return nil, err
		}
		out = append(out, ap)
	}
	return out, nil
}

// transfer prepares, decides, sends and confirms one transfer.
func (e *env) transfer(t *testing.T, to sol.PublicKey, tok policies.Token, amount int64, key string) (evm.TxRecord, error) {
	t.Helper()
	ctx := context.Background()
	p, err := e.w.PrepareTransfer(ctx, to, tok, big.NewInt(amount), key)
	if err != nil {
		return evm.TxRecord{}, err
	}
	aps, err := e.decide(t, p)
	if err != nil {
		return evm.TxRecord{}, err
	}
	rec, err := e.w.Send(ctx, p, aps)
	if err != nil {
		return rec, err
	}
	return e.w.Confirm(ctx, rec.Hash)
}

func newRecipient() sol.PublicKey { return sol.NewWallet().PublicKey() }

func lamports(t *testing.T, c *solana.Client, a sol.PublicKey) int64 {
	t.Helper()
	v, err := c.Balance(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return v.Int64()
}

func tokens(t *testing.T, c *solana.Client, owner sol.PublicKey, tok policies.Token) int64 {
	t.Helper()
	m, err := c.Mint(context.Background(), sol.MustPublicKeyFromBase58(tok.Address))
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.TokenBalance(context.Background(), owner, m)
	if err != nil {
		t.Fatal(err)
	}
	return v.Int64()
}

// forStores runs f on SQLite and, when configured, PostgreSQL.
func forStores(t *testing.T, f func(t *testing.T, e *env)) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) { f(t, newEnv(t, st.Store.Journal(), st.Store.Ledger())) })
	}
}

func TestSOLTransfer(t *testing.T) {
	forStores(t, func(t *testing.T, e *env) {
		to := newRecipient()
		rec, err := e.transfer(t, to, solana.SOL, 1_500_000_000, "sol-1")
		if err != nil {
			t.Fatal(err)
		}
		if rec.Status != evm.TxMined || rec.Block == 0 {
			t.Fatalf("record %+v", rec)
		}
		if got := lamports(t, e.c, to); got != 1_500_000_000 {
			t.Fatalf("recipient has %d lamports", got)
		}
		row, ok, err := e.j.ByKey(context.Background(), e.w.JournalChain(), e.w.Address().String(), "sol-1")
		if err != nil || !ok {
			t.Fatalf("journal row: %v %v", ok, err)
		}
		if row.Nonce == 0 || len(row.Raw) == 0 || !strings.HasPrefix(row.Chain, "solana/") || row.Action == "" {
			t.Fatalf("journal row %+v", row.LogValue())
		}
	})
}

func TestUSDCToNewTokenAccount(t *testing.T) {
	forStores(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		to := newRecipient()
		before := lamports(t, e.c, e.w.Address())
		p, err := e.w.PrepareTransfer(ctx, to, e.usdc, big.NewInt(25_000_000), "usdc-1")
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Intents) != 2 || p.Keys[0] != "usdc-1/rent" || p.Keys[1] != "usdc-1" {
			t.Fatalf("intents %v keys %v", p.Intents, p.Keys)
		}
		rent, ok := p.Intents[0].(policies.Transfer)
		if !ok || !rent.Token.Native() || rent.To != to.String() {
			t.Fatalf("first intent is not the rent in SOL to the recipient: %#v", p.Intents[0])
		}
		// One approval for two intents is refused, and nothing is journaled.
		aps, err := e.decide(t, p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.w.Send(ctx, p, aps[1:]); !errors.Is(err, solana.ErrNotApproved) {
			t.Fatalf("one approval for two intents: %v", err)
		}
		if aps, err = e.decide(t, p); err != nil {
			t.Fatal(err)
		}
		rec, err := e.w.Send(ctx, p, aps)
		if err != nil {
			t.Fatal(err)
		}
		if rec, err = e.w.Confirm(ctx, rec.Hash); err != nil {
			t.Fatal(err)
		}
		if got := tokens(t, e.c, to, e.usdc); got != 25_000_000 {
			t.Fatalf("recipient holds %d", got)
		}
		spent := before - lamports(t, e.c, e.w.Address())
		if spent < rent.Amount.Int64() {
			t.Fatalf("the wallet paid %d lamports, less than the rent %s", spent, rent.Amount)
		}
		// The account exists now: a second transfer has one intent.
		p2, err := e.w.PrepareTransfer(ctx, to, e.usdc, big.NewInt(1), "")
		if err != nil || len(p2.Intents) != 1 {
			t.Fatalf("second transfer: %v, %d intents", err, len(p2.Intents))
		}
	})
}

func TestOverLimitSignsNothing(t *testing.T) {
	forStores(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		to := newRecipient()
		_, err := e.transfer(t, to, e.usdc, 100_000_001, "big")
		if _, denied := errors.AsType[*policies.Denied](err); !denied {
			t.Fatalf("a 100.000001 USDC transfer over a 100 USDC limit: %v", err)
		}
		open, err := e.j.Open(ctx, e.w.JournalChain(), e.w.Address().String())
		if err != nil || len(open) != 0 {
			t.Fatalf("journal has %d open rows (%v)", len(open), err)
		}
		if _, ok, _ := e.w.ByKey(ctx, "big"); ok {
			t.Fatal("the refused key was journaled")
		}
		if got := tokens(t, e.c, to, e.usdc); got != 0 {
			t.Fatalf("recipient holds %d", got)
		}
		// Daily: 90 + 90 USDC passes each per-tx check but not 150 a day.
		if _, err := e.transfer(t, to, e.usdc, 90_000_000, "d1"); err != nil {
			t.Fatal(err)
		}
		_, err = e.transfer(t, to, e.usdc, 90_000_000, "d2")
		if _, denied := errors.AsType[*policies.Denied](err); !denied {
			t.Fatalf("the daily limit let 180 USDC through: %v", err)
		}
		if got := tokens(t, e.c, to, e.usdc); got != 90_000_000 {
			t.Fatalf("recipient holds %d", got)
		}
	})
}

func TestSameKeyPaysOnce(t *testing.T) {
	forStores(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		to := newRecipient()
		first, err := e.transfer(t, to, solana.SOL, 100_000_000, "once")
		if err != nil {
			t.Fatal(err)
		}
		// The retry: prepared and approved again, answered from the journal.
		again, err := e.transfer(t, to, solana.SOL, 100_000_000, "once")
		if err != nil {
			t.Fatal(err)
		}
		if again.Hash != first.Hash {
			t.Fatalf("retry sent %s, first was %s", again.Hash, first.Hash)
		}
		if got := lamports(t, e.c, to); got != 100_000_000 {
			t.Fatalf("recipient has %d lamports after two calls under one key", got)
		}
		rec, ok, err := e.w.ByKey(ctx, "once")
		if err != nil || !ok || rec.Hash != first.Hash || rec.Status != evm.TxMined {
			t.Fatalf("ByKey: %+v %v %v", rec.LogValue(), ok, err)
		}
		// Another action under the key is refused, nothing sent.
		if _, err := e.transfer(t, to, solana.SOL, 200_000_000, "once"); !errors.Is(err, solana.ErrKeyReused) {
			t.Fatalf("another amount under the same key: %v", err)
		}
		if got := lamports(t, e.c, to); got != 100_000_000 {
			t.Fatalf("recipient has %d lamports", got)
		}
	})
}

// dropSends is an RPC proxy to the devnet that loses every
// sendTransaction's answer without forwarding it: the wallet cannot know
// whether its transaction left.
func dropSends(t *testing.T, target string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"sendTransaction"`)) {
			rw.Write([]byte("<html>502 Bad Gateway</html>"))
			return
		}
		resp, err := http.Post(target, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		rw.Header().Set("Content-Type", "application/json")
		io.Copy(rw, resp.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// lostSend journals a transfer whose broadcast answer was lost: signed,
// journaled, never delivered.
func lostSend(t *testing.T, e *env, to sol.PublicKey, amount int64, key string) evm.TxRecord {
	t.Helper()
	ctx := context.Background()
	c, err := solana.NewClient(dropSends(t, e.d.RPC()))
	if err != nil {
		t.Fatal(err)
	}
	lossy := e.open(t, c)
	p, err := lossy.PrepareTransfer(ctx, to, solana.SOL, big.NewInt(amount), key)
	if err != nil {
		t.Fatal(err)
	}
	aps, err := e.decide(t, p)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := lossy.Send(ctx, p, aps)
	var unc *solana.UncertainError
	if !errors.As(err, &unc) || rec.Status != evm.TxSigned {
		t.Fatalf("send through a proxy that loses answers: %v (status %s)", err, rec.Status)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error is not one line: %q", err)
	}
	return rec
}

func TestLostSendIsDeliveredByRetry(t *testing.T) {
	forStores(t, func(t *testing.T, e *env) {
		to := newRecipient()
		first := lostSend(t, e, to, 300_000_000, "lost")
		if got := lamports(t, e.c, to); got != 0 {
			t.Fatalf("the dropped transaction landed: %d", got)
		}
		// The retry, with its blockhash still valid: the journaled bytes
		// are delivered, nothing new is signed.
		rec, err := e.transfer(t, to, solana.SOL, 300_000_000, "lost")
		if err != nil {
			t.Fatal(err)
		}
		if rec.Hash != first.Hash {
			t.Fatalf("the retry signed %s; the journaled one was %s", rec.Hash, first.Hash)
		}
		if got := lamports(t, e.c, to); got != 300_000_000 {
			t.Fatalf("recipient has %d lamports", got)
		}
	})
}

func TestExpiredBlockhashCheckedBeforeFreshSignature(t *testing.T) {
	forStores(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		to := newRecipient()
		first := lostSend(t, e, to, 400_000_000, "exp")
		if _, err := e.d.Advance(ctx, 160); err != nil {
			t.Fatal(err)
		}
		// The key's transaction is checked on chain, found expired, and only
		// then is a fresh one signed under the same key.
		rec, err := e.transfer(t, to, solana.SOL, 400_000_000, "exp")
		if err != nil {
			t.Fatal(err)
		}
		if rec.Hash == first.Hash {
			t.Fatal("the expired transaction was answered, not replaced")
		}
		old, ok, err := e.j.ByHash(ctx, e.w.JournalChain(), first.Hash)
		if err != nil || !ok || old.Status != evm.TxFailed || !strings.Contains(old.Error, "expired") || old.ReplacedBy == "" {
			t.Fatalf("expired row: %+v (%v)", old.LogValue(), err)
		}
		// The old bytes can never land now, and sending them is refused.
		if _, err := e.c.SendRaw(ctx, first.Raw); err == nil {
			t.Fatal("the expired transaction was accepted")
		}
		// A third call answers with the fresh transaction.
		again, err := e.transfer(t, to, solana.SOL, 400_000_000, "exp")
		if err != nil || again.Hash != rec.Hash {
			t.Fatalf("third call: %v, %s vs %s", err, again.Hash, rec.Hash)
		}
		if got := lamports(t, e.c, to); got != 400_000_000 {
			t.Fatalf("recipient has %d lamports: paid %d times", got, got/400_000_000)
		}
	})
}

func TestReconcileOnOpen(t *testing.T) {
	st := memtest.SQLite(t)
	e := newEnv(t, st.Store.Journal(), st.Store.Ledger())
	to := newRecipient()
	lost := lostSend(t, e, to, 123_000_000, "")
	e.open(t, e.c) // a new process opening the wallet delivers it
	row, ok, err := e.j.ByHash(context.Background(), e.w.JournalChain(), lost.Hash)
	if err != nil || !ok || row.Status != evm.TxSent {
		t.Fatalf("row after reopening: %+v %v", row.LogValue(), err)
	}
	if got := lamports(t, e.c, to); got != 123_000_000 {
		t.Fatalf("recipient has %d", got)
	}
	// An unsent row past its blockhash is marked expired on open.
	lost2 := lostSend(t, e, to, 1_000, "")
	if _, err := e.d.Advance(context.Background(), 160); err != nil {
		t.Fatal(err)
	}
	e.open(t, e.c)
	row, _, _ = e.j.ByHash(context.Background(), e.w.JournalChain(), lost2.Hash)
	if row.Status != evm.TxFailed || !strings.Contains(row.Error, "expired") {
		t.Fatalf("row after expiry: %+v", row.LogValue())
	}
}

func TestRPCGarbage(t *testing.T) {
	for name, body := range map[string]string{
		"html":         "<html>oops</html>",
		"wrong result": `{"jsonrpc":"2.0","id":1,"result":"banana"}`,
		"error":        `{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"node is\nbehind"}}`,
		"null":         `{"jsonrpc":"2.0","id":1,"result":null}`,
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { rw.Write([]byte(body)) }))
			defer srv.Close()
			c, err := solana.NewClient(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Balance(context.Background(), newRecipient())
			if err == nil {
				t.Fatal("garbage was read as a balance")
			}
			if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "getBalance") {
				t.Fatalf("not one clear line: %q", err)
			}
			if strings.Contains(err.Error(), srv.URL) {
				t.Fatalf("the RPC URL (which may carry an API key) is in the error: %q", err)
			}
			t.Logf("%v", err)
			_, err = c.LatestBlockhash(context.Background())
			if err == nil || strings.Contains(err.Error(), "\n") {
				t.Fatalf("latest blockhash: %q", err)
			}
			kp, _ := solana.NewKeypair()
			if _, err := solana.NewWallet(context.Background(), c, solana.NewKeySigner(kp), evm.NewMemJournal()); err == nil || strings.Contains(err.Error(), "\n") {
				t.Fatalf("wallet over garbage: %q", err)
			}
		})
	}
	// Nobody listening: one line, no URL, the cause kept for errors.Is.
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	c, _ := solana.NewClient(srv.URL + "/?api-key=secret")
	_, err := c.Balance(context.Background(), newRecipient())
	if err == nil || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("closed server: %q", err)
	}
	if _, err := solana.NewClient("not a url"); err == nil {
		t.Fatal("a bad URL was accepted")
	}
}

// feeMint creates a Token-2022 mint with a transfer fee on the devnet.
func feeMint(t *testing.T, d *devnet.Devnet, payer devnet.Account) sol.PublicKey {
	t.Helper()
	ctx := context.Background()
	mint := sol.NewWallet()
	const size = 165 + 1 + 4 + 108 // base padded, account type, TLV header, TransferFeeConfig
	rent, err := d.Client().GetMinimumBalanceForRentExemption(ctx, size, rpc.CommitmentFinalized)
	if err != nil {
		t.Fatal(err)
	}
	auth := payer.Address
	create := system.NewCreateAccountInstruction(rent, size, sol.Token2022ProgramID, auth, mint.PublicKey()).Build()
	fee := []byte{26, 0, 1}
	fee = append(fee, auth[:]...)
	fee = append(fee, 1)
	fee = append(fee, auth[:]...)
	fee = binary.LittleEndian.AppendUint16(fee, 100)       // 1%
	fee = binary.LittleEndian.AppendUint64(fee, 1_000_000) // at most 1 token
	initFee := sol.NewInstruction(sol.Token2022ProgramID, sol.AccountMetaSlice{sol.Meta(mint.PublicKey()).WRITE()}, fee)
	initMint := append([]byte{20, 6}, auth[:]...) // InitializeMint2: decimals, mint authority, no freeze authority
	initMint = append(initMint, 0)
	im := sol.NewInstruction(sol.Token2022ProgramID, sol.AccountMetaSlice{sol.Meta(mint.PublicKey()).WRITE()}, initMint)
	if _, err := d.Send(ctx, []sol.Instruction{create, initFee, im}, payer.SecretKey, mint.PrivateKey); err != nil {
		t.Fatalf("create a transfer-fee mint: %v", err)
	}
	return mint.PublicKey()
}

func TestTransferFeeMintRefused(t *testing.T) {
	st := memtest.SQLite(t)
	e := newEnv(t, st.Store.Journal(), st.Store.Ledger())
	m := feeMint(t, e.d, e.acct)
	got, err := e.c.Mint(context.Background(), m)
	if err != nil || len(got.Extensions) == 0 {
		t.Fatalf("mint read back: %+v %v", got, err)
	}
	_, err = e.w.PrepareTransfer(context.Background(), newRecipient(), policies.Token{Address: m.String(), Decimals: 6}, big.NewInt(1_000), "")
	if !errors.Is(err, solana.ErrRiskyMint) || !strings.Contains(err.Error(), "transfer fee") {
		t.Fatalf("transfer of a transfer-fee mint: %v", err)
	}
}

func TestRecipientMustBeAWallet(t *testing.T) {
	st := memtest.SQLite(t)
	e := newEnv(t, st.Store.Journal(), st.Store.Ledger())
	pda, _, err := sol.FindProgramAddress([][]byte{[]byte("vault")}, sol.SystemProgramID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.w.PrepareTransfer(context.Background(), pda, solana.SOL, big.NewInt(1), ""); !errors.Is(err, solana.ErrOffCurve) {
		t.Fatalf("off-curve recipient: %v", err)
	}
	// A token account, a mint and a program are not wallets either.
	ata, _, err := sol.FindAssociatedTokenAddress(e.w.Address(), sol.MustPublicKeyFromBase58(e.usdc.Address))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.w.PrepareTransfer(context.Background(), ata, e.usdc, big.NewInt(1), ""); !errors.Is(err, solana.ErrOffCurve) {
		t.Errorf("an associated token account as recipient: %v", err)
	}
	for name, to := range map[string]sol.PublicKey{"mint": sol.MustPublicKeyFromBase58(e.usdc.Address), "program": sol.TokenProgramID} {
		_, err := e.w.PrepareTransfer(context.Background(), to, e.usdc, big.NewInt(1), "")
		if !errors.Is(err, solana.ErrNotWallet) {
			t.Errorf("%s as recipient: %v", name, err)
		}
	}
}

func TestFailingSimulationSignsNothing(t *testing.T) {
	st := memtest.SQLite(t)
	e := newEnv(t, st.Store.Journal(), st.Store.Ledger())
	ctx := context.Background()
	// A wallet holding 0.01 SOL cannot send 1.
	poor, err := solana.NewKeypair()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.transfer(t, poor.Address(), solana.SOL, 10_000_000, ""); err != nil {
		t.Fatal(err)
	}
	w, err := solana.NewWallet(ctx, e.c, solana.NewKeySigner(poor), e.j)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.PrepareTransfer(ctx, newRecipient(), solana.SOL, big.NewInt(1_000_000_000), "poor")
	var se *solana.SimulationError
	if !errors.As(err, &se) {
		t.Fatalf("a transfer beyond the balance: %v", err)
	}
	t.Log(err)
	if open, _ := e.j.Open(ctx, w.JournalChain(), w.Address().String()); len(open) != 0 {
		t.Fatalf("journaled %d rows", len(open))
	}
}

// Several senders of one wallet on one database (as separate processes
// would be) retry one request at once: it is paid once.
func TestConcurrentRetriesPayOnce(t *testing.T) {
	forStores(t, func(t *testing.T, e *env) {
		to := newRecipient()
		const senders = 4
		hashes := make(chan string, senders)
		errs := make(chan error, senders)
		for range senders {
			w := e.open(t, e.c)
			go func() {
				ctx := context.Background()
				p, err := w.PrepareTransfer(ctx, to, e.usdc, big.NewInt(7_000_000), "race")
				if err != nil {
					errs <- err
					return
				}
				var aps []policies.Approval
				for _, in := range p.Intents {
					ap, err := e.eng.Decide(policies.DeferCommit(ctx), in)
					if err != nil {
						errs <- err
						return
					}
					aps = append(aps, ap)
				}
				rec, err := w.Send(ctx, p, aps)
				if err == nil {
					rec, err = w.Confirm(ctx, rec.Hash)
				}
				if err != nil {
					errs <- err
					return
				}
				hashes <- rec.Hash
			}()
		}
		seen := map[string]bool{}
		for range senders {
			select {
			case h := <-hashes:
				seen[h] = true
			case err := <-errs:
				t.Fatal(err)
			case <-time.After(time.Minute):
				t.Fatal("senders did not finish within a minute")
			}
		}
		if len(seen) != 1 {
			t.Fatalf("%d different transactions for one key", len(seen))
		}
		if got := tokens(t, e.c, to, e.usdc); got != 7_000_000 {
			t.Fatalf("recipient holds %d: paid more than once", got)
		}
	})
}

// fixedPrices prices SOL at $150 and USDC at $1, as a price feed would.
type fixedPrices struct{ usdc string }

func (f fixedPrices) PriceUSD(_ context.Context, _ string, t policies.Token) (policies.Price, error) {
	switch {
	case t.Native():
		return policies.Price{USD: big.NewRat(150, 1), Source: "test"}, nil
	case t.Address == f.usdc:
		return policies.Price{USD: big.NewRat(1, 1), Source: "test"}, nil
	}
	return policies.Price{}, errors.New("no price")
}

// The rent of a new token account and the transfer are charged together:
// each fits the daily USD limit alone, both together do not, and the
// transaction is refused whole when the wallet commits them.
func TestDailyLimitCoversRentAndTransferTogether(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, st.Store.Journal(), st.Store.Ledger())
			p, err := policies.Parse([]byte(strings.Replace(`version: 1
chains: [solana-local]
tokens:
  USDC: {chain: solana-local, mint: "MINT", decimals: 6}
limits:
  daily_usd: 100
`, "MINT", e.usdc.Address, 1)))
			if err != nil {
				t.Fatal(err)
			}
			e.eng = policies.NewEngine(p, st.Store.Ledger(), policies.WithPrices(fixedPrices{usdc: e.usdc.Address}))
			to := newRecipient()
			// 0.00203928 SOL of rent ($0.31) and 99.8 USDC: $100.11.
			_, err = e.transfer(t, to, e.usdc, 99_800_000, "both")
			if _, denied := errors.AsType[*policies.Denied](err); !denied {
				t.Fatalf("rent and transfer over the daily USD limit together: %v", err)
			}
			if open, _ := e.j.Open(ctx, e.w.JournalChain(), e.w.Address().String()); len(open) != 0 {
				t.Fatalf("journaled %d rows", len(open))
			}
			if got := tokens(t, e.c, to, e.usdc); got != 0 {
				t.Fatalf("recipient holds %d", got)
			}
			// Nothing stayed charged: 99 USDC and the rent fit.
			if _, err := e.transfer(t, to, e.usdc, 99_000_000, "both-2"); err != nil {
				t.Fatalf("after the refusal: %v", err)
			}
		})
	}
}

func TestToken2022Transfer(t *testing.T) {
	d := soltest.New(t, devnet.WithToken2022(), devnet.WithAccounts(1))
	st := memtest.SQLite(t)
	c, err := solana.NewClient(d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	e := &env{d: d, c: c, j: st.Store.Journal(), acct: d.Accounts()[0]}
	p, err := policies.Parse([]byte(strings.NewReplacer("MINT", d.Mints()["USDC"].String(), "M22", d.Mints()[devnet.Token2022Symbol].String()).Replace(`version: 1
chains: [solana-local]
tokens:
  USDC: {chain: solana-local, mint: "MINT", decimals: 6}
  USDT22: {chain: solana-local, mint: "M22", decimals: 6}
limits:
  per_tx: {SOL: "1", USDT22: "10"}
`)))
	if err != nil {
		t.Fatal(err)
	}
	e.eng = policies.NewEngine(p, st.Store.Ledger())
	e.w = e.open(t, c)
	tok := policies.Token{Symbol: devnet.Token2022Symbol, Address: d.Mints()[devnet.Token2022Symbol].String(), Decimals: 6}
	to := newRecipient()
	if _, err := e.transfer(t, to, tok, 3_000_000, "t22"); err != nil {
		t.Fatal(err)
	}
	if got := tokens(t, c, to, tok); got != 3_000_000 {
		t.Fatalf("recipient holds %d", got)
	}
	m, err := c.Mint(context.Background(), sol.MustPublicKeyFromBase58(tok.Address))
	if err != nil || !m.Program.Equals(sol.Token2022ProgramID) {
		t.Fatalf("mint %+v %v", m, err)
	}
	if _, err := e.transfer(t, to, tok, 10_000_001, ""); err == nil {
		t.Fatal("over the Token-2022 limit")
	}
}

// The wallet logs what it sends by address and signature; the key and the
// signed bytes stay out of its logs.
func TestLogsCarryNoKey(t *testing.T) {
	st := memtest.SQLite(t)
	e := newEnv(t, st.Store.Journal(), st.Store.Ledger())
	var buf bytes.Buffer
	kp, err := solana.KeypairFromBase58(e.acct.SecretKey.String())
	if err != nil {
		t.Fatal(err)
	}
	e.w, err = solana.NewWallet(context.Background(), e.c, solana.NewKeySigner(kp), e.j,
		solana.WithLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := e.transfer(t, newRecipient(), solana.SOL, 1_000_000_000, "logged")
	if err != nil {
		t.Fatal(err)
	}
	logs := buf.String()
	if !strings.Contains(logs, rec.Hash) {
		t.Fatalf("the logs do not name the transaction: %s", logs)
	}
	if strings.Contains(logs, e.acct.SecretKey.String()) || strings.Contains(logs, base64.StdEncoding.EncodeToString(rec.Raw)) {
		t.Fatal("the logs carry the key or the signed transaction")
	}
}
