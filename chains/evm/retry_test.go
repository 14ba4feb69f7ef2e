package evm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// The policy of the retry tests: native ETH on 1337, charged to the
// database ledger of the store the journal is in, so that an approval's
// charge commits in the journal's transaction (policies.DeferCommit).
const retryPolicy = `version: 1
chains: [1337]
limits:
  per_tx: {ETH: "10"}
  daily: {ETH: "100"}
`

const nativeBucket = "default/1337/native"

// sendFault is what sendTransport does to eth_sendRawTransaction.
type sendFault int

const (
	passSend   sendFault = iota
	dropSend             // the connection breaks before the node gets the call: the sender cannot tell whether it left
	refuseSend           // answered, without forwarding, with a definite refusal of the node
	hookSend             // hook runs, then the call is forwarded
)

// sendTransport is an HTTP transport to a devnet's JSON-RPC server that
// breaks eth_sendRawTransaction as told and forwards everything else.
type sendTransport struct {
	mu        sync.Mutex
	fault     sendFault
	hook      func()
	forwarded int // eth_sendRawTransaction calls that reached the node
}

func (s *sendTransport) set(f sendFault, hook func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault, s.hook = f, hook
}

func (s *sendTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			return nil, err
		}
		r.Body.Close()
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	var call struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal(body, &call) != nil || call.Method != "eth_sendRawTransaction" {
		return http.DefaultTransport.RoundTrip(r)
	}
	s.mu.Lock()
	fault, hook := s.fault, s.hook
	if fault == hookSend {
		s.fault, s.hook = passSend, nil // once
	}
	s.mu.Unlock()
	switch fault {
	case dropSend:
		return nil, errors.New("sendTransport: connection reset before the request was forwarded")
	case refuseSend:
		answer := fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32000,"message":"insufficient funds for gas * price + value"}}`, call.ID)
		return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(strings.NewReader(answer)),
			ContentLength: int64(len(answer)), Request: r}, nil
	case hookSend:
		hook()
	}
	s.mu.Lock()
	s.forwarded++
	s.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (s *sendTransport) sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.forwarded
}

// retryRig is one account on a devnet, with wallets over one store: the
// store's journal and ledger, a policy engine charging that ledger.
type retryRig struct {
	t     *testing.T
	d     *devnet.Devnet
	st    memtest.Named
	key   string // the account's private key
	eng   *policies.Engine
	url   string // the devnet over HTTP, for wallets whose transport breaks
	poll  time.Duration
	wopts []evm.WalletOption
}

func newRetryRig(t *testing.T, d *devnet.Devnet, st memtest.Named, key string) *retryRig {
	t.Helper()
	p, err := policies.Parse([]byte(retryPolicy))
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	url, err := d.Serve(sctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return &retryRig{t: t, d: d, st: st, key: key, eng: policies.NewEngine(p, st.Store.Ledger()), url: url}
}

// wallet opens a wallet of the rig's account over its store; with tr, its
// RPC goes through tr (over HTTP), otherwise in process.
func (r *retryRig) wallet(tr *sendTransport) *evm.Wallet {
	r.t.Helper()
	ctx := context.Background()
	var c *evm.Client
	var err error
	if tr != nil {
		c, err = evm.Dial(ctx, r.url, evm.WithHTTPClient(&http.Client{Transport: tr}))
	} else {
		c, err = evm.NewClient(ctx, r.d.RPC())
	}
	if err != nil {
		r.t.Fatal(err)
	}
	if tr != nil {
		r.t.Cleanup(c.Close)
	}
	s, err := evm.NewKeySigner(r.key)
	if err != nil {
		r.t.Fatal(err)
	}
	w, err := evm.NewWallet(c, s, append([]evm.WalletOption{evm.WithJournal(r.st.Store.Journal()), evm.WithPollInterval(10 * time.Millisecond)}, r.wopts...)...)
	if err != nil {
		r.t.Fatal(err)
	}
	return w
}

// decide approves in under DeferCommit, as the wallet tool does.
func (r *retryRig) decide(in policies.Intent) policies.Approval {
	r.t.Helper()
	ap, err := r.eng.Decide(policies.DeferCommit(context.Background()), in)
	if err != nil {
		r.t.Fatalf("decide: %v", err)
	}
	if !ap.Deferred() {
		r.t.Fatal("the approval is not deferred")
	}
	return ap
}

func (r *retryRig) spent() *big.Int {
	r.t.Helper()
	s, err := r.st.Store.Ledger().Spent(context.Background(), nativeBucket, time.Now().Add(-24*time.Hour))
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

// approvalsUnder counts the approvals recorded under an idempotency key.
func (r *retryRig) approvalsUnder(key string) int {
	r.t.Helper()
	es, err := r.st.Store.Decisions(context.Background(), memory.DecisionFilter{Key: key, Decision: policies.DecisionApprove})
	if err != nil {
		r.t.Fatal(err)
	}
	return len(es)
}

func transferTo(t *testing.T, w *evm.Wallet, to common.Address, wei int64, key string) policies.Transfer {
	t.Helper()
	in, err := w.TransferIntent(context.Background(), to, policies.Token{}, big.NewInt(wei))
	if err != nil {
		t.Fatal(err)
	}
	in.Key = key
	return in
}

func balance(t *testing.T, d *devnet.Devnet, a common.Address) *big.Int {
	t.Helper()
	b, err := d.Client().BalanceAt(context.Background(), a, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func nonceOf(t *testing.T, d *devnet.Devnet, a common.Address) uint64 {
	t.Helper()
	n, err := d.Client().NonceAt(context.Background(), a, nil)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func nodeHas(t *testing.T, d *devnet.Devnet, hash string) bool {
	t.Helper()
	_, _, err := d.Client().TransactionByHash(context.Background(), common.HexToHash(hash))
	if errors.Is(err, ethereum.NotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A transaction journaled "signed" that never reached the node — its
// sender's broadcast broke before the node got it, which leaves the
// database as a crash after the journal commit does: charged, journaled,
// not on chain. A send under the same key with a fresh deferred approval
// broadcasts the journaled transaction again, and it is mined once; the
// ledger holds the first charge only.
func TestRetryRebroadcastsSignedRow(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := bounded(t)
			d := devnettest.Shared(t)
			acct, _ := devnettest.Account(t, d)
			to, _ := devnettest.Account(t, d)
			r := newRetryRig(t, d, st, acct.PrivateKey)
			tr := &sendTransport{fault: dropSend}
			broken := r.wallet(tr)
			startNonce, startBal := nonceOf(t, d, acct.Address), balance(t, d, to.Address)
			const wei = 12345
			in := transferTo(t, broken, to.Address, wei, "pay-once")

			first := r.decide(in)
			_, err := broken.Send(ctx, first)
			var unc *evm.UncertainError
			if !errors.As(err, &unc) {
				t.Fatalf("send with the broadcast broken: %v, want *evm.UncertainError", err)
			}
			row, ok, err := st.Store.Journal().ByKey(ctx, broken.JournalChain(), acct.Address.Hex(), "pay-once")
			if err != nil || !ok || row.Status != evm.TxSigned || row.ApprovalID != first.ID() {
				t.Fatalf("journal row: %+v %v %v, want signed by approval %s", row, ok, err, first.ID())
			}
			if nodeHas(t, d, row.Hash) || tr.sent() != 0 {
				t.Fatal("the node got the transaction; the test needs one it never got")
			}
			if got := r.spent(); got.Cmp(big.NewInt(wei)) != 0 {
				t.Fatalf("charged %s after the signed row was journaled, want %d", got, wei)
			}

			// The retry: another process, a fresh approval under the key.
			w := r.wallet(nil)
			retry := r.decide(in)
			rec, err := w.Send(ctx, retry)
			if err != nil {
				t.Fatalf("retry under the key: %v", err)
			}
			if rec.Hash != row.Hash {
				t.Fatalf("retry answered %s, want the journaled %s", rec.Hash, row.Hash)
			}
			mined, err := w.Wait(ctx, rec.Hash)
			if err != nil || mined.Status != evm.TxMined {
				t.Fatalf("wait: %+v %v", mined, err)
			}
			if got := balance(t, d, to.Address); new(big.Int).Sub(got, startBal).Cmp(big.NewInt(wei)) != 0 {
				t.Fatalf("recipient received %s, want %d once", new(big.Int).Sub(got, startBal), wei)
			}
			if n := nonceOf(t, d, acct.Address); n != startNonce+1 {
				t.Fatalf("account nonce %d, want %d: one transaction", n, startNonce+1)
			}
			if got := r.spent(); got.Cmp(big.NewInt(wei)) != 0 {
				t.Fatalf("charged %s after the retry, want %d once", got, wei)
			}
			if n := r.approvalsUnder("pay-once"); n != 1 {
				t.Fatalf("%d approvals recorded under the key, want 1", n)
			}
			if got, ok, err := w.ByKey(ctx, "pay-once"); err != nil || !ok || got.Hash != row.Hash || got.Status != evm.TxMined {
				t.Fatalf("ByKey: %+v %v %v", got, ok, err)
			}
		})
	}
}

// The same lost broadcast, settled without a new send: Resume at wallet
// open broadcasts it, and Wait alone, polling for a receipt that cannot
// come, broadcasts it too.
func TestResumeAndWaitRebroadcast(t *testing.T) {
	st := memtest.SQLite(t)
	ctx := bounded(t)
	d := devnettest.Shared(t)
	acct, _ := devnettest.Account(t, d)
	to, _ := devnettest.Account(t, d)
	r := newRetryRig(t, d, st, acct.PrivateKey)
	tr := &sendTransport{fault: dropSend}
	broken := r.wallet(tr)
	lost := func(wei int64, key string) evm.TxRecord {
		t.Helper()
		_, err := broken.Send(ctx, r.decide(transferTo(t, broken, to.Address, wei, key)))
		var unc *evm.UncertainError
		if !errors.As(err, &unc) {
			t.Fatalf("send with the broadcast broken: %v", err)
		}
		if nodeHas(t, d, unc.Record.Hash) {
			t.Fatal("the node got the transaction")
		}
		return unc.Record
	}

	resumed := lost(1, "resume-me")
	w := r.wallet(nil)
	if err := w.Resume(ctx); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if !nodeHas(t, d, resumed.Hash) {
		t.Fatal("Resume did not broadcast the journaled transaction")
	}
	if rec, err := w.Wait(ctx, resumed.Hash); err != nil || rec.Status != evm.TxMined {
		t.Fatalf("wait: %+v %v", rec, err)
	}

	waited := lost(2, "wait-for-me")
	rec, err := r.wallet(nil).Wait(ctx, waited.Hash)
	if err != nil || rec.Status != evm.TxMined {
		t.Fatalf("Wait for a transaction the node never got: %+v %v", rec, err)
	}
}

// A key whose transaction the node refused: the retry under the key is a
// *evm.KeyFailedError naming that transaction, sends nothing and charges
// nothing; a new key sends.
func TestRetryUnderFailedKey(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := bounded(t)
			d := devnettest.Shared(t)
			acct, _ := devnettest.Account(t, d)
			to, _ := devnettest.Account(t, d)
			r := newRetryRig(t, d, st, acct.PrivateKey)
			tr := &sendTransport{fault: refuseSend}
			refusing := r.wallet(tr)
			in := transferTo(t, refusing, to.Address, 777, "pay-failed")
			_, err := refusing.Send(ctx, r.decide(in))
			var rej *evm.RejectedError
			if !errors.As(err, &rej) {
				t.Fatalf("send the node refuses: %v, want *evm.RejectedError", err)
			}
			startNonce, startBal := nonceOf(t, d, acct.Address), balance(t, d, to.Address)
			if r.spent().Sign() != 0 {
				t.Fatalf("charged %s for a refused transaction", r.spent())
			}

			w := r.wallet(nil)
			rec, err := w.Send(ctx, r.decide(in))
			var kf *evm.KeyFailedError
			if !errors.As(err, &kf) {
				t.Fatalf("retry under a failed key: %+v %v, want *evm.KeyFailedError", rec, err)
			}
			if kf.Key != "pay-failed" || kf.Record.Hash != rej.Hash || rec.Status != evm.TxFailed {
				t.Fatalf("KeyFailedError %+v (record %+v), want key pay-failed and transaction %s", kf, rec, rej.Hash)
			}
			if !strings.Contains(err.Error(), "new key") {
				t.Fatalf("the error does not say what to do: %v", err)
			}
			if _, ok, err := w.ByKey(ctx, "pay-failed"); !ok || !errors.As(err, &kf) {
				t.Fatalf("ByKey of a failed key: %v %v, want *evm.KeyFailedError", ok, err)
			}
			if nodeHas(t, d, rej.Hash) || nonceOf(t, d, acct.Address) != startNonce || balance(t, d, to.Address).Cmp(startBal) != 0 {
				t.Fatal("the retry under a failed key sent something")
			}
			if r.spent().Sign() != 0 {
				t.Fatalf("charged %s after the retry under a failed key", r.spent())
			}

			in.Key = "pay-again"
			rec, err = w.Send(ctx, r.decide(in))
			if err == nil {
				rec, err = w.Wait(ctx, rec.Hash)
			}
			if err != nil || rec.Status != evm.TxMined || rec.Nonce != startNonce {
				t.Fatalf("a new key after the failure: %+v %v, want mined at the freed nonce %d", rec, err, startNonce)
			}
		})
	}
}

// A first attempt whose nonce another program took between reservation
// and broadcast is journaled failed and linked (ReplacedBy) to the
// transaction signed again at a fresh nonce. A retry under the key
// answers with that mined transaction, not with the failed first one.
func TestRetryFollowsReplacedBy(t *testing.T) {
	st := memtest.SQLite(t)
	ctx := bounded(t)
	d := devnettest.Shared(t)
	acct, key := devnettest.Account(t, d)
	to, _ := devnettest.Account(t, d)
	other, _ := devnettest.Account(t, d)
	r := newRetryRig(t, d, st, acct.PrivateKey)
	tr := &sendTransport{}
	// Before the wallet's first broadcast reaches the node, a transaction
	// of the same account outside the journal takes the nonce.
	tr.set(hookSend, func() { devnettest.Send(t, d, key, other.Address, big.NewInt(1), nil) })
	w := r.wallet(tr)
	in := transferTo(t, w, to.Address, 4242, "pay-clash")
	rec, err := w.Send(ctx, r.decide(in))
	if err == nil {
		rec, err = w.Wait(ctx, rec.Hash)
	}
	if err != nil || rec.Status != evm.TxMined {
		t.Fatalf("send across a nonce clash: %+v %v", rec, err)
	}
	first, ok, err := st.Store.Journal().ByKey(ctx, w.JournalChain(), acct.Address.Hex(), "pay-clash")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if first.Status != evm.TxFailed || !strings.EqualFold(first.ReplacedBy, rec.Hash) {
		t.Fatalf("first attempt %+v: want failed and linked to %s (did the clash happen?)", first, rec.Hash)
	}
	got, err := r.wallet(nil).Send(ctx, r.decide(in))
	if err != nil {
		t.Fatalf("retry under the key: %v", err)
	}
	if !strings.EqualFold(got.Hash, rec.Hash) || got.Status != evm.TxMined {
		t.Fatalf("retry answered %s (%s), want the mined %s", got.Hash, got.Status, rec.Hash)
	}
	if r.spent().Cmp(big.NewInt(4242)) != 0 {
		t.Fatalf("charged %s, want 4242 once", r.spent())
	}
}

// waitNewSecond returns once the wall clock is past the second of d's
// genesis block: a devnet started after that has another genesis (its
// timestamp), and so is another chain with the same id.
func waitNewSecond(t *testing.T, d *devnet.Devnet) {
	t.Helper()
	h, err := d.Client().HeaderByNumber(context.Background(), big.NewInt(0))
	if err != nil {
		t.Fatal(err)
	}
	for uint64(time.Now().Unix()) <= h.Time {
		time.Sleep(50 * time.Millisecond)
	}
}

// Two devnets with chain id 1337, one after the other, over one database
// (a devnet restarted): a key used on the first is free on the second and
// sends there, and a transaction the first chain journaled "signed" is
// never broadcast on the second, by a send, Resume or the nonce
// reservation's flush.
func TestTwoChainsOneStore(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := bounded(t)
			dA := devnettest.New(t)
			key := dA.Accounts()[0].PrivateKey
			from := dA.Accounts()[0].Address
			to := dA.Accounts()[1].Address
			ra := newRetryRig(t, dA, st, key)
			wA := ra.wallet(nil)
			rec, err := wA.Send(ctx, ra.decide(transferTo(t, wA, to, 1000, "k-used")))
			if err == nil {
				rec, err = wA.Wait(ctx, rec.Hash)
			}
			if err != nil || rec.Status != evm.TxMined {
				t.Fatalf("chain A: %+v %v", rec, err)
			}
			broken := ra.wallet(&sendTransport{fault: dropSend})
			_, err = broken.Send(ctx, ra.decide(transferTo(t, broken, to, 2000, "k-signed")))
			var unc *evm.UncertainError
			if !errors.As(err, &unc) {
				t.Fatalf("chain A, broadcast broken: %v", err)
			}
			signedOnA := unc.Record

			waitNewSecond(t, dA)
			dB := devnettest.New(t)
			if dB.Accounts()[0].Address != from {
				t.Fatal("the devnets' standard accounts differ")
			}
			rb := newRetryRig(t, dB, st, key)
			wB := rb.wallet(nil)
			if wB.JournalChain() == wA.JournalChain() {
				t.Fatalf("both devnets are journaled as %s", wA.JournalChain())
			}
			if err := wB.Resume(ctx); err != nil {
				t.Fatalf("Resume on the new chain: %v", err)
			}
			for _, k := range []string{"k-used", "k-signed"} {
				if got, ok, err := wB.ByKey(ctx, k); ok || err != nil {
					t.Fatalf("ByKey(%s) on the new chain: %+v %v %v, want free", k, got, ok, err)
				}
			}
			// On B: the key A mined under, for the same transfer; the key of
			// A's signed row, for another amount; a key B alone knows.
			bal, sent, sends := balance(t, dB, to), int64(0), uint64(0)
			for _, s := range []struct {
				key string
				wei int64
			}{{"k-used", 1000}, {"k-signed", 2500}, {"k-new", 1000}} {
				rec, err := wB.Send(ctx, rb.decide(transferTo(t, wB, to, s.wei, s.key)))
				if err == nil {
					rec, err = wB.Wait(ctx, rec.Hash)
				}
				if err != nil || rec.Status != evm.TxMined || rec.Chain != wB.JournalChain() {
					t.Errorf("chain B, key %s (used on chain A), %d wei: %v (status %q); want the key free on B", s.key, s.wei, err, rec.Status)
					continue
				}
				sent += s.wei
				sends++
			}
			if got := new(big.Int).Sub(balance(t, dB, to), bal); got.Cmp(big.NewInt(sent)) != 0 {
				t.Fatalf("recipient on B received %s, want %d", got, sent)
			}
			if nodeHas(t, dB, signedOnA.Hash) {
				t.Fatalf("chain A's signed transaction %s was broadcast on chain B", signedOnA.Hash)
			}
			if n := nonceOf(t, dB, from); n != sends {
				t.Fatalf("nonce on B %d, want %d: B's own sends only", n, sends)
			}
			row, ok, err := st.Store.Journal().ByHash(ctx, wA.JournalChain(), signedOnA.Hash)
			if err != nil || !ok || row.Status != evm.TxSigned {
				t.Fatalf("chain A's signed row after B's sends: %+v %v %v, want untouched", row, ok, err)
			}
			// The charges on A stay: one paid for a transaction mined on A,
			// the other for one A journaled. Sending under their keys on B
			// must not release them as attempts that signed nothing.
			if got, want := ra.spent(), big.NewInt(1000+2000+sent); got.Cmp(want) != 0 {
				t.Fatalf("ledger holds %s, want %s: chain A's charges (1000 mined, 2000 journaled) and B's %d", got, want, sent)
			}
		})
	}
}

// Journal rows written before chains were told apart by genesis name the
// chain by its id alone. Such a row answers for its key only if this chain
// knows its transaction.
func TestLegacyRowAnswersOnlyIfChainKnowsIt(t *testing.T) {
	st := memtest.SQLite(t)
	ctx := bounded(t)
	d := devnettest.Shared(t)
	acct, _ := devnettest.Account(t, d)
	to, _ := devnettest.Account(t, d)
	r := newRetryRig(t, d, st, acct.PrivateKey)
	w := r.wallet(nil)
	mined, err := w.Send(ctx, r.decide(transferTo(t, w, to.Address, 5, "")))
	if err == nil {
		mined, err = w.Wait(ctx, mined.Hash)
	}
	if err != nil {
		t.Fatal(err)
	}
	j := st.Store.Journal()
	known := mined
	known.Chain, known.Key = w.Chain(), "legacy-known"
	lost := known
	lost.Hash, lost.Key, lost.Nonce = "0x"+strings.Repeat("ab", 32), "legacy-lost", 1<<40
	for _, rec := range []evm.TxRecord{known, lost} {
		if err := j.Insert(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	if got, ok, err := w.ByKey(ctx, "legacy-known"); err != nil || !ok || !strings.EqualFold(got.Hash, mined.Hash) {
		t.Fatalf("legacy row the chain knows: %+v %v %v", got, ok, err)
	}
	if got, ok, err := w.ByKey(ctx, "legacy-lost"); err != nil || ok {
		t.Fatalf("legacy row the chain does not know: %+v %v %v, want the key free", got, ok, err)
	}
	rec, err := w.Send(ctx, r.decide(transferTo(t, w, to.Address, 6, "legacy-lost")))
	if err == nil {
		rec, err = w.Wait(ctx, rec.Hash)
	}
	if err != nil || rec.Status != evm.TxMined || strings.EqualFold(rec.Hash, lost.Hash) {
		t.Fatalf("send under the key of a lost legacy row: %+v %v", rec, err)
	}
}

// Journal.Update with "sent" moves a row on only from "signed": a
// rebroadcast's "sent", written after the row's own sender recorded the
// receipt, does not set it back. On the database journal (SQLite,
// PostgreSQL) and MemJournal.
func TestJournalSentNeverOverwritesFinal(t *testing.T) {
	journals := map[string]evm.Journal{"memjournal": evm.NewMemJournal()}
	for _, st := range memtest.Stores(t) {
		journals[st.Name] = st.Store.Journal()
	}
	const chain, from = "1337/0x01", "0xAbCdEf0000000000000000000000000000000001"
	for name, j := range journals {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			row := func(i int) evm.TxRecord {
				return evm.TxRecord{Hash: fmt.Sprintf("0x%064x", i), Chain: chain, From: from, Nonce: uint64(i), Raw: []byte{0x02}, Status: evm.TxSigned}
			}
			finals := []evm.TxRecord{
				{Status: evm.TxMined, Block: 7},
				{Status: evm.TxReverted, Block: 8, Error: "execution reverted"},
				{Status: evm.TxFailed, Error: "insufficient funds"},
				{Status: evm.TxReplaced, ReplacedBy: fmt.Sprintf("0x%064x", 99)},
			}
			for i, f := range finals {
				rec := row(i + 1)
				if err := j.Insert(ctx, rec); err != nil {
					t.Fatal(err)
				}
				f.Hash, f.Chain = rec.Hash, chain
				if err := j.Update(ctx, f); err != nil {
					t.Fatal(err)
				}
				sent := rec
				sent.Status = evm.TxSent
				if err := j.Update(ctx, sent); err != nil {
					t.Fatalf("Update(sent) of a %s row: %v, want nil", f.Status, err)
				}
				got, ok, err := j.ByHash(ctx, chain, rec.Hash)
				if err != nil || !ok {
					t.Fatal(ok, err)
				}
				if got.Status != f.Status || got.Block != f.Block || got.Error != f.Error || !strings.EqualFold(got.ReplacedBy, f.ReplacedBy) {
					t.Fatalf("a %s row after Update(sent): %+v", f.Status, got)
				}
			}
			// From signed, "sent" applies (twice is fine).
			rec := row(10)
			if err := j.Insert(ctx, rec); err != nil {
				t.Fatal(err)
			}
			rec.Status = evm.TxSent
			for range 2 {
				if err := j.Update(ctx, rec); err != nil {
					t.Fatal(err)
				}
			}
			if got, _, _ := j.ByHash(ctx, chain, rec.Hash); got.Status != evm.TxSent {
				t.Fatalf("a signed row after Update(sent): %s", got.Status)
			}
			// An unknown hash is an error, not a silent success.
			unknown := row(11)
			unknown.Status = evm.TxSent
			if err := j.Update(ctx, unknown); err == nil {
				t.Fatal("Update(sent) of an unknown transaction succeeded")
			}
			// One signed transaction journaled on two chains with one id:
			// settling it on one leaves the other's row alone.
			twin := row(12)
			other := twin
			other.Chain = "1337/0x02"
			for _, r := range []evm.TxRecord{twin, other} {
				if err := j.Insert(ctx, r); err != nil {
					t.Fatalf("the same hash on another chain: %v", err)
				}
			}
			mined := twin
			mined.Status, mined.Block = evm.TxMined, 3
			if err := j.Update(ctx, mined); err != nil {
				t.Fatal(err)
			}
			if got, _, _ := j.ByHash(ctx, other.Chain, other.Hash); got.Status != evm.TxSigned {
				t.Fatalf("the other chain's row became %s", got.Status)
			}
		})
	}
}

// An approval charged under a key whose attempt journaled nothing (its
// process died after the charge, before signing, as the engine's
// immediate commit allowed): a retry of the same transfer under the key
// supersedes it — its charge released in the retry's commit — and sends.
// Another transfer under that key is refused, and sends nothing.
func TestRetrySupersedesAttemptThatSignedNothing(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := bounded(t)
			d := devnettest.Shared(t)
			acct, _ := devnettest.Account(t, d)
			to, _ := devnettest.Account(t, d)
			r := newRetryRig(t, d, st, acct.PrivateKey)
			w := r.wallet(nil)
			in := transferTo(t, w, to.Address, 3131, "pay-orphan")
			orphan, err := r.eng.Decide(ctx, in) // charged at once, never sent
			if err != nil {
				t.Fatal(err)
			}
			if r.spent().Cmp(big.NewInt(3131)) != 0 {
				t.Fatalf("charged %s", r.spent())
			}
			startNonce := nonceOf(t, d, acct.Address)

			other := transferTo(t, w, to.Address, 3132, "pay-orphan")
			if rec, err := w.Send(ctx, r.decide(other)); !errors.As(err, new(*policies.DuplicateError)) {
				t.Fatalf("another transfer under the key: %+v %v, want *policies.DuplicateError", rec, err)
			}
			if nonceOf(t, d, acct.Address) != startNonce || r.spent().Cmp(big.NewInt(3131)) != 0 {
				t.Fatal("another transfer under the key sent or charged something")
			}

			retry := r.decide(in)
			rec, err := w.Send(ctx, retry)
			if err == nil {
				rec, err = w.Wait(ctx, rec.Hash)
			}
			if err != nil || rec.Status != evm.TxMined || rec.ApprovalID != retry.ID() {
				t.Fatalf("retry of an attempt that signed nothing: %+v %v", rec, err)
			}
			if r.spent().Cmp(big.NewInt(3131)) != 0 {
				t.Fatalf("charged %s after the retry, want 3131: the orphan's charge released, the retry's kept", r.spent())
			}
			if err := orphan.Release(ctx, "late"); err != nil {
				t.Fatal(err)
			}
			if r.spent().Cmp(big.NewInt(3131)) != 0 {
				t.Fatalf("releasing the superseded approval uncharged the retry: %s", r.spent())
			}
			if n := nonceOf(t, d, acct.Address); n != startNonce+1 {
				t.Fatalf("nonce %d, want %d", n, startNonce+1)
			}
		})
	}
}

// Processes sending the same transfer under one new key at the same
// time, each with its own deferred approval: one transaction is signed
// and mined, every send answers with it, and the ledger is charged once.
func TestConcurrentSendsUnderOneKey(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			ctx := bounded(t)
			d := devnettest.Shared(t)
			acct, _ := devnettest.Account(t, d)
			to, _ := devnettest.Account(t, d)
			r := newRetryRig(t, d, st, acct.PrivateKey)
			startNonce, startBal := nonceOf(t, d, acct.Address), balance(t, d, to.Address)
			const n = 4
			var wallets []*evm.Wallet
			var aps []policies.Approval
			for range n {
				// A store per sender: separate processes on one database.
				s, err := memory.Open(ctx, st.DSN)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				rr := *r
				rr.st = memtest.Named{Name: st.Name, DSN: st.DSN, Store: s}
				p, err := policies.Parse([]byte(retryPolicy))
				if err != nil {
					t.Fatal(err)
				}
				rr.eng = policies.NewEngine(p, s.Ledger())
				w := rr.wallet(nil)
				wallets = append(wallets, w)
				aps = append(aps, rr.decide(transferTo(t, w, to.Address, 5151, "pay-race")))
			}
			hashes := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					rec, err := wallets[i].Send(ctx, aps[i])
					if err == nil {
						rec, err = wallets[i].Wait(ctx, rec.Hash)
					}
					if err != nil {
						t.Errorf("sender %d: %v", i, err)
						return
					}
					hashes[i] = strings.ToLower(rec.Hash)
				})
			}
			wg.Wait()
			for i := range hashes {
				if hashes[i] != hashes[0] {
					t.Fatalf("senders answered %v, want one transaction", hashes)
				}
			}
			if n := nonceOf(t, d, acct.Address); n != startNonce+1 {
				t.Fatalf("nonce %d, want %d: one transaction", n, startNonce+1)
			}
			if got := new(big.Int).Sub(balance(t, d, to.Address), startBal); got.Cmp(big.NewInt(5151)) != 0 {
				t.Fatalf("recipient received %s, want 5151", got)
			}
			if r.spent().Cmp(big.NewInt(5151)) != 0 || r.approvalsUnder("pay-race") != 1 {
				t.Fatalf("charged %s in %d approvals, want 5151 once", r.spent(), r.approvalsUnder("pay-race"))
			}
		})
	}
}
