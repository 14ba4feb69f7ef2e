package evm

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/params"

	"github.com/mandatehq/mandate/policies"
)

func TestSendTransferAndWait(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	e.mine(t)
	var logs bytes.Buffer
	w := e.wallet(t, 0, WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	eng, _ := testEngine(t)
	amount := new(big.Int).Div(ether, big.NewInt(2))
	in, err := w.TransferIntent(ctx, e.addrs[1], policies.Token{}, amount)
	if err != nil {
		t.Fatal(err)
	}
	if in.Chain != "1337" || in.From != e.addrs[0].Hex() || in.Token.Symbol != "ETH" || in.Tx.Value.Cmp(amount) != 0 {
		t.Fatalf("%+v", in)
	}
	rec, err := w.Send(ctx, decide(t, eng, in))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != TxSent || rec.Nonce != 0 || rec.From != e.addrs[0].Hex() || len(rec.Raw) == 0 {
		t.Fatalf("%+v", rec)
	}
	got, err := w.Wait(ctx, rec.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != TxMined || got.Block == 0 {
		t.Fatalf("%+v", got)
	}
	bal, _ := e.c.Balance(ctx, e.addrs[1])
	if want := new(big.Int).Add(new(big.Int).Mul(big.NewInt(1000), ether), amount); bal.Cmp(want) != 0 {
		t.Fatalf("recipient has %s, want %s", bal, want)
	}
	if j, _, _ := w.j.ByHash(ctx, rec.Chain, rec.Hash); j.Status != TxMined || j.Block != got.Block {
		t.Fatalf("journal %+v", j)
	}

	// Neither the wallet's logs nor a logged record carry the signed bytes
	// or the signature.
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("record", "rec", got)
	tx := decodeRaw(t, rec.Raw)
	_, r, s := tx.RawSignatureValues()
	out := logs.String()
	for _, secret := range []string{hex.EncodeToString(rec.Raw), hex.EncodeToString(r.Bytes()), hex.EncodeToString(s.Bytes()), r.String(), s.String(), e.keys[0]} {
		if strings.Contains(out, secret) {
			t.Fatalf("logs carry secret material:\n%s", out)
		}
	}
	if !strings.Contains(out, rec.Hash) || !strings.Contains(out, "transaction sent") {
		t.Fatalf("logs lack the send:\n%s", out)
	}
}

func TestSendRefusesBadApprovals(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	w := e.wallet(t, 0)
	other := e.wallet(t, 1)
	eng, _ := testEngine(t)
	nothingSent := func(t *testing.T) {
		t.Helper()
		if n := e.pendingNonce(t, e.addrs[0]); n != 0 {
			t.Fatalf("pending nonce %d", n)
		}
		if r := records(w); len(r) != 0 {
			t.Fatalf("journal %+v", r)
		}
	}

	t.Run("zero", func(t *testing.T) {
		if _, err := w.Send(ctx, policies.Approval{}); !errors.Is(err, policies.ErrNoApproval) {
			t.Fatalf("err = %v", err)
		}
		nothingSent(t)
	})
	t.Run("other wallet", func(t *testing.T) {
		ap := decide(t, eng, ethTransfer(other, e.addrs[0], 1))
		_, err := w.Send(ctx, ap)
		if !errors.Is(err, policies.ErrApprovalMismatch) || !strings.Contains(err.Error(), "this wallet is "+e.addrs[0].Hex()) {
			t.Fatalf("err = %v", err)
		}
		if !ap.Valid() {
			t.Fatal("a refused approval for another wallet was spent")
		}
		nothingSent(t)
	})
	t.Run("other chain", func(t *testing.T) {
		in := ethTransfer(w, e.addrs[1], 1)
		in.Chain = "1"
		_, err := w.Send(ctx, decide(t, eng, in))
		if !errors.Is(err, policies.ErrApprovalMismatch) || !strings.Contains(err.Error(), `chain "1"`) {
			t.Fatalf("err = %v", err)
		}
		nothingSent(t)
	})
	t.Run("used twice", func(t *testing.T) {
		e.mine(t)
		ap := decide(t, eng, ethTransfer(w, e.addrs[1], 1))
		if _, err := w.Send(ctx, ap); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Send(ctx, ap); !errors.Is(err, policies.ErrApprovalUsed) {
			t.Fatalf("err = %v", err)
		}
		// A copy shares the spent state.
		cp := ap
		if _, err := w.Send(ctx, cp); !errors.Is(err, policies.ErrApprovalUsed) {
			t.Fatalf("copy: err = %v", err)
		}
		if n := len(records(w)); n != 1 {
			t.Fatalf("%d records", n)
		}
	})
}

func TestSendReleasesWhenSimulationReverts(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 1)
	w := e.wallet(t, 0)
	eng, ledger := testEngine(t, revertTo)
	call := policies.Call{To: revertTo.Hex(), Value: big.NewInt(7), Data: []byte{1, 2, 3, 4}}
	in, err := DecodeCall(w.Chain(), w.Address().Hex(), call, nil)
	if err != nil {
		t.Fatal(err)
	}
	ap := decide(t, eng, in)
	bucket := "default/1337/native"
	if s, _ := ledger.Spent(ctx, bucket, time.Time{}); s.Int64() != 7 {
		t.Fatalf("charged %s before send", s)
	}
	_, err = w.Send(ctx, ap)
	var rev *RevertError
	if !errors.As(err, &rev) || rev.Reason != "nope" || !strings.Contains(err.Error(), `execution reverted: "nope"`) {
		t.Fatalf("err = %v", err)
	}
	if s, _ := ledger.Spent(ctx, bucket, time.Time{}); s.Sign() != 0 {
		t.Fatalf("still charged %s after the send failed", s)
	}
	if len(records(w)) != 0 || e.pendingNonce(t, w.Address()) != 0 {
		t.Fatal("something was signed")
	}
	// Simulate says the same directly.
	if _, err := w.Simulate(ctx, call); !errors.As(err, &rev) {
		t.Fatalf("Simulate: %v", err)
	}
}

func TestInsufficientBalance(t *testing.T) {
	ctx := context.Background()
	// 0.001 ETH: enough for 0.0009 ETH but not with the gas on top at 2×base fee + tip.
	e := newSim(t, 2, new(big.Int).Div(ether, big.NewInt(1000)))
	w := e.wallet(t, 0)
	_, err := w.TransferIntent(ctx, e.addrs[1], policies.Token{}, ether)
	var ib *InsufficientBalanceError
	if !errors.As(err, &ib) || ib.Gas != nil || err.Error() != "insufficient ETH balance: have 0.001, need 1" {
		t.Fatalf("err = %v", err)
	}
	almost := new(big.Int).Sub(new(big.Int).Div(ether, big.NewInt(1000)), big.NewInt(1))
	_, err = w.TransferIntent(ctx, e.addrs[1], policies.Token{}, almost)
	if !errors.As(err, &ib) || ib.Gas == nil || !strings.Contains(err.Error(), "for gas") {
		t.Fatalf("err = %v", err)
	}
	if ib.Need.Cmp(new(big.Int).Add(almost, ib.Gas)) != 0 {
		t.Fatalf("need %s", ib.Need)
	}
	if len(records(w)) != 0 || e.pendingNonce(t, w.Address()) != 0 {
		t.Fatal("something was signed")
	}

	// An approved intent the balance cannot pay fails in simulation, is
	// released, and nothing is journaled.
	eng, ledger := testEngine(t)
	_, err = w.Send(ctx, decide(t, eng, ethTransfer(w, e.addrs[1], 2e15)))
	if err == nil || !strings.Contains(err.Error(), "insufficient funds") {
		t.Fatalf("err = %v", err)
	}
	if s, _ := ledger.Spent(ctx, "default/1337/native", time.Time{}); s.Sign() != 0 {
		t.Fatalf("still charged %s", s)
	}
	if len(records(w)) != 0 || e.pendingNonce(t, w.Address()) != 0 {
		t.Fatal("something was signed")
	}
	if _, err := w.TransferIntent(ctx, common.Address{}, policies.Token{}, big.NewInt(1)); err == nil {
		t.Fatal("transfer to the zero address built")
	}
	if _, err := w.TransferIntent(ctx, e.addrs[1], policies.Token{}, big.NewInt(0)); err == nil {
		t.Fatal("zero transfer built")
	}
}

func TestIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	e.mine(t)
	w := e.wallet(t, 0)
	in := ethTransfer(w, e.addrs[1], 1000)
	in.Key = "order-42"
	eng, _ := testEngine(t)
	first, err := w.Send(ctx, decide(t, eng, in))
	if err != nil {
		t.Fatal(err)
	}
	// The same ledger refuses the key itself.
	if _, err := eng.Decide(ctx, in); err == nil {
		t.Fatal("ledger accepted a reused key")
	}
	// A second engine (another ledger) approves it again: the wallet's
	// journal still sends nothing and answers with the first transaction.
	eng2, ledger2 := testEngine(t)
	ap := decide(t, eng2, in)
	again, err := w.Send(ctx, ap)
	if err != nil {
		t.Fatal(err)
	}
	if again.Hash != first.Hash {
		t.Fatalf("second send returned %s, want %s", again.Hash, first.Hash)
	}
	if s, _ := ledger2.Spent(ctx, "default/1337/native", time.Time{}); s.Sign() != 0 {
		t.Fatalf("second approval still charged %s", s)
	}
	if _, err := w.Wait(ctx, first.Hash); err != nil {
		t.Fatal(err)
	}
	if n := e.pendingNonce(t, w.Address()); n != 1 {
		t.Fatalf("nonce %d: sent twice", n)
	}
	if n := len(records(w)); n != 1 {
		t.Fatalf("%d journal rows", n)
	}

	// Concurrent sends under one key: one transaction.
	in.Key = "order-43"
	var wg sync.WaitGroup
	hashes := make([]string, 8)
	for i := range hashes {
		ap := decide(t, mustEngine(t), in)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := w.Send(ctx, ap)
			if err != nil {
				t.Error(err)
			}
			hashes[i] = rec.Hash
		}()
	}
	wg.Wait()
	for _, h := range hashes {
		if h != hashes[0] {
			t.Fatalf("hashes differ: %v", hashes)
		}
	}
	if n := len(records(w)); n != 2 {
		t.Fatalf("%d journal rows", n)
	}
}

func mustEngine(t testing.TB) *policies.Engine { e, _ := testEngine(t); return e }

func TestConcurrentSends(t *testing.T) {
	const n = 200
	ctx := context.Background()
	e := newSim(t, 2)
	e.mine(t)
	w := e.wallet(t, 0)
	eng, _ := testEngine(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, err := w.TransferIntent(ctx, e.addrs[1], policies.Token{}, big.NewInt(int64(i+1)))
			if err != nil {
				errs <- err
				return
			}
			ap, err := eng.Decide(ctx, in)
			if err != nil {
				errs <- err
				return
			}
			rec, err := w.Send(ctx, ap)
			if err != nil {
				errs <- err
				return
			}
			if _, err := w.Wait(ctx, rec.Hash); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := make([]int, n)
	for _, r := range records(w) {
		if r.Status != TxMined {
			t.Fatalf("record %d is %s", r.Nonce, r.Status)
		}
		if r.Nonce >= n {
			t.Fatalf("nonce %d", r.Nonce)
		}
		seen[r.Nonce]++
	}
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("nonce %d used %d times", i, c)
		}
	}
	if got, _ := e.c.Nonce(ctx, w.Address()); got != n {
		t.Fatalf("chain nonce %d", got)
	}
}

func TestRestartRecovery(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	e.mine(t)
	j := NewMemJournal()
	eng, _ := testEngine(t)
	w1 := e.wallet(t, 0, WithJournal(j))
	rec, err := w1.Send(ctx, decide(t, eng, ethTransfer(w1, e.addrs[1], 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w1.Wait(ctx, rec.Hash); err != nil {
		t.Fatal(err)
	}
	// The process signs and journals nonce 1, then dies before broadcasting.
	call := policies.Call{To: e.addrs[1].Hex(), Value: big.NewInt(2)}
	tx, raw, err := w1.sign(context.Background(), call, 1, 21000, oneGwei, new(big.Int).Mul(oneGwei, big.NewInt(10)))
	if err != nil {
		t.Fatal(err)
	}
	lost := w1.record(tx, raw, sendRef{approvalID: "ap-lost"})
	if err := j.Insert(ctx, lost); err != nil {
		t.Fatal(err)
	}
	if n := e.pendingNonce(t, w1.Address()); n != 1 {
		t.Fatalf("the lost transaction reached the node (pending nonce %d)", n)
	}

	t.Run("Resume rebroadcasts", func(t *testing.T) {
		w2 := e.wallet(t, 0, WithJournal(j))
		if err := w2.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := w2.Wait(ctx, lost.Hash)
		if err != nil || got.Status != TxMined {
			t.Fatalf("%+v %v", got, err)
		}
		// Resume is idempotent.
		if err := w2.Resume(ctx); err != nil {
			t.Fatal(err)
		}
		rec, err := w2.Send(ctx, decide(t, eng, ethTransfer(w2, e.addrs[1], 3)))
		if err != nil || rec.Nonce != 2 {
			t.Fatalf("%+v %v", rec, err)
		}
		if _, err := w2.Wait(ctx, rec.Hash); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("first send after restart continues past the journal", func(t *testing.T) {
		// Journal nonce 3, never broadcast; a new wallet that does not call
		// Resume sends at 4 and rebroadcasts 3 first, so there is no gap.
		tx, raw, err := w1.sign(context.Background(), call, 3, 21000, oneGwei, new(big.Int).Mul(oneGwei, big.NewInt(10)))
		if err != nil {
			t.Fatal(err)
		}
		lost := w1.record(tx, raw, sendRef{approvalID: "ap-lost-2"})
		if err := j.Insert(ctx, lost); err != nil {
			t.Fatal(err)
		}
		w3 := e.wallet(t, 0, WithJournal(j))
		rec, err := w3.Send(ctx, decide(t, eng, ethTransfer(w3, e.addrs[1], 4)))
		if err != nil || rec.Nonce != 4 {
			t.Fatalf("%+v %v", rec, err)
		}
		for _, h := range []string{lost.Hash, rec.Hash} {
			if got, err := w3.Wait(ctx, h); err != nil || got.Status != TxMined {
				t.Fatalf("%s: %+v %v", h, got, err)
			}
		}
		if n, _ := e.c.Nonce(ctx, w3.Address()); n != 5 {
			t.Fatalf("chain nonce %d", n)
		}
	})
}

func TestReplaceStuck(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	j := NewMemJournal()
	eng, _ := testEngine(t)
	// A wallet whose fee cap is far below the base fee: its transaction is
	// accepted by the pool but no block includes it.
	low := big.NewInt(params.GWei / 100)
	cheap := e.wallet(t, 0, WithJournal(j), WithMaxFeePerGas(low))
	in := ethTransfer(cheap, e.addrs[1], 12345)
	in.Key = "stuck"
	stuck, err := cheap.Send(ctx, decide(t, eng, in))
	if err != nil {
		t.Fatal(err)
	}
	e.commit()
	e.commit()
	if _, err := e.c.Receipt(ctx, common.HexToHash(stuck.Hash)); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("stuck transaction mined? %v", err)
	}
	// The cheap wallet's cap leaves no room for a 12.5% bump.
	if _, err := cheap.Replace(ctx, stuck.Hash); err == nil || !strings.Contains(err.Error(), "above this wallet's cap") {
		t.Fatalf("err = %v", err)
	}

	w := e.wallet(t, 0, WithJournal(j))
	repl, err := w.Replace(ctx, stuck.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if repl.Nonce != stuck.Nonce || repl.Hash == stuck.Hash || repl.Status != TxSent || repl.ApprovalID != stuck.ApprovalID {
		t.Fatalf("%+v", repl)
	}
	if old, _, _ := j.ByHash(ctx, stuck.Chain, stuck.Hash); old.Status != TxReplaced || old.ReplacedBy != repl.Hash {
		t.Fatalf("old %+v", old)
	}
	e.commit()
	// Waiting on the old hash finds the replacement.
	got, err := w.Wait(ctx, stuck.Hash)
	if err != nil || got.Hash != repl.Hash || got.Status != TxMined {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := e.c.Receipt(ctx, common.HexToHash(stuck.Hash)); !errors.Is(err, ethereum.NotFound) {
		t.Fatalf("both mined? %v", err)
	}
	bal, _ := e.c.Balance(ctx, e.addrs[1])
	if want := new(big.Int).Add(new(big.Int).Mul(big.NewInt(1000), ether), big.NewInt(12345)); bal.Cmp(want) != 0 {
		t.Fatalf("recipient has %s, want %s (paid once)", bal, want)
	}
	// The same key now answers with the replacement.
	in2 := in
	if rec, err := w.Send(ctx, decide(t, mustEngine(t), in2)); err != nil || rec.Hash != repl.Hash {
		t.Fatalf("%+v %v", rec, err)
	}
	if _, err := w.Replace(ctx, repl.Hash); err == nil {
		t.Fatal("replaced a mined transaction")
	}
	// The replacement raised both fees by at least 12.5%.
	oldTx, newTx := decodeRaw(t, stuck.Raw), decodeRaw(t, repl.Raw)
	for _, p := range [][2]*big.Int{{oldTx.GasTipCap(), newTx.GasTipCap()}, {oldTx.GasFeeCap(), newTx.GasFeeCap()}} {
		min := new(big.Int).Div(new(big.Int).Mul(p[0], big.NewInt(1125)), big.NewInt(1000))
		if p[1].Cmp(min) < 0 {
			t.Fatalf("fee %s → %s is less than +12.5%%", p[0], p[1])
		}
	}
	if oldTx.Gas() != newTx.Gas() || oldTx.Value().Cmp(newTx.Value()) != 0 || *oldTx.To() != *newTx.To() {
		t.Fatal("the replacement changed the call")
	}
}

func TestFees(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 1)
	w := e.wallet(t, 0)
	tip, feeCap, err := w.Fees(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base, _ := e.c.BaseFee(ctx)
	if tip.Cmp(oneGwei) < 0 {
		t.Fatalf("tip %s below the 1 gwei floor", tip)
	}
	if want := new(big.Int).Add(new(big.Int).Mul(base, big.NewInt(2)), tip); feeCap.Cmp(want) != 0 {
		t.Fatalf("fee cap %s, want %s", feeCap, want)
	}
	if g := w.gasLimit(21000); g != 25200 {
		t.Fatalf("gas limit %d", g)
	}
	if b := bump(big.NewInt(8)); b.Int64() != 9 {
		t.Fatalf("bump(8) = %s", b)
	}
	if b := bump(big.NewInt(1000)); b.Int64() != 1125 {
		t.Fatalf("bump(1000) = %s", b)
	}
}

func TestSendChecksCallAgainstIntent(t *testing.T) {
	e := newSim(t, 2)
	w := e.wallet(t, 0)
	to := e.addrs[1]
	tok := policies.Token{Symbol: "USDC", Address: tokenAddr, Decimals: 6}
	data, _ := EncodeTransfer(to, big.NewInt(10))
	other, _ := EncodeTransfer(common.HexToAddress(rcptAddr), big.NewInt(10))
	approveData, _ := EncodeApprove(to, big.NewInt(10))
	mk := func(t policies.Transfer, c policies.Call) policies.Transfer { t.Tx = &c; return t }
	base := policies.Transfer{Header: w.header(), To: to.Hex(), Token: tok, Amount: big.NewInt(10)}
	for name, in := range map[string]policies.Intent{
		"recipient differs":   mk(base, policies.Call{To: tokenAddr, Data: other}),
		"amount differs":      mk(policies.Transfer{Header: w.header(), To: to.Hex(), Token: tok, Amount: big.NewInt(11)}, policies.Call{To: tokenAddr, Data: data}),
		"token differs":       mk(base, policies.Call{To: rcptAddr, Data: data}),
		"ETH hidden":          mk(base, policies.Call{To: tokenAddr, Value: big.NewInt(1), Data: data}),
		"approve as transfer": mk(base, policies.Call{To: tokenAddr, Data: approveData}),
		"native with data":    mk(policies.Transfer{Header: w.header(), To: to.Hex(), Token: policies.Token{Symbol: "ETH", Decimals: 18}, Amount: big.NewInt(1)}, policies.Call{To: to.Hex(), Value: big.NewInt(1), Data: data}),
		"no Tx":               policies.Transfer{Header: w.header(), To: to.Hex(), Token: tok, Amount: big.NewInt(10)},
		"approve spender":     policies.Approve{Header: w.header(), Method: policies.MethodApprove, Token: tok, Spender: rcptAddr, Amount: big.NewInt(10), Tx: &policies.Call{To: tokenAddr, Data: approveData}},
		"approve unlimited":   policies.Approve{Header: w.header(), Method: policies.MethodApprove, Token: tok, Spender: to.Hex(), Amount: big.NewInt(10), Unlimited: true, Tx: &policies.Call{To: tokenAddr, Data: approveData}},
		"call data differs":   policies.ContractCall{Header: w.header(), To: tokenAddr, Value: new(big.Int), Data: data, Tx: &policies.Call{To: tokenAddr, Data: other}},
		"safe tx":             policies.SafeTx{Header: w.header()},
	} {
		if _, err := w.exactCall(in); !errors.Is(err, ErrCallMismatch) && !errors.Is(err, ErrNotSendable) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	good := mk(base, policies.Call{To: tokenAddr, Data: data})
	if _, err := w.exactCall(good); err != nil {
		t.Fatal(err)
	}
}

func TestRPCFailuresDuringSend(t *testing.T) {
	ctx := context.Background()
	e, p, w, eng, charged := proxiedWallet(t)

	t.Run("garbage", func(t *testing.T) {
		p.set(p.garbage, "*", true)
		defer p.set(p.garbage, "*", false)
		_, err := w.Send(ctx, decide(t, eng, ethTransfer(w, e.addrs[1], 5)))
		var rerr *RPCError
		if !errors.As(err, &rerr) || rerr.Unreachable || !strings.Contains(err.Error(), "invalid answer") {
			t.Fatalf("err = %v", err)
		}
		if len(records(w)) != 0 || charged() != 0 {
			t.Fatal("recorded or still charged")
		}
		if _, err := w.TransferIntent(ctx, e.addrs[1], policies.Token{}, big.NewInt(1)); !errors.As(err, &rerr) {
			t.Fatalf("TransferIntent: %v", err)
		}
	})

	t.Run("answer to the broadcast lost", func(t *testing.T) {
		p.set(p.lose, "eth_sendRawTransaction", true)
		ap := decide(t, eng, ethTransfer(w, e.addrs[1], 6))
		rec, err := w.Send(ctx, ap)
		p.set(p.lose, "eth_sendRawTransaction", false)
		var unc *UncertainError
		if !errors.As(err, &unc) || rec.Status != TxSigned || rec.Nonce != 0 {
			t.Fatalf("%+v %v", rec, err)
		}
		if charged() != 6 {
			t.Fatal("an approval whose transaction may have left was released")
		}
		if r, _, _ := w.j.ByHash(ctx, rec.Chain, rec.Hash); r.Status != TxSigned {
			t.Fatalf("journal says %s", r.Status)
		}
		// The next send rebroadcasts it first ("already known"), then uses nonce 1.
		next, err := w.Send(ctx, decide(t, eng, ethTransfer(w, e.addrs[1], 7)))
		if err != nil || next.Nonce != 1 {
			t.Fatalf("%+v %v", next, err)
		}
		for _, h := range []string{rec.Hash, next.Hash} {
			if got, err := w.Wait(ctx, h); err != nil || got.Status != TxMined {
				t.Fatalf("%+v %v", got, err)
			}
		}
	})

	t.Run("node down", func(t *testing.T) {
		p.srv.Close()
		before := len(records(w))
		_, err := w.Send(ctx, decide(t, eng, ethTransfer(w, e.addrs[1], 8)))
		var rerr *RPCError
		if !errors.As(err, &rerr) || !rerr.Unreachable || !strings.Contains(err.Error(), "is not reachable") {
			t.Fatalf("err = %v", err)
		}
		if len(records(w)) != before || charged() != 13 {
			t.Fatalf("recorded something or kept the charge (%d)", charged())
		}
	})
}

func decodeRaw(t testing.TB, raw []byte) *typesTx {
	t.Helper()
	var tx typesTx
	if err := tx.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	return &tx
}
