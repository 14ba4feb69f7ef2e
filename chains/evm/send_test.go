package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/mandatehq/mandate/policies"
)

// fakeRouter is a SwapDecoder answering a fixed reading of any call.
type fakeRouter struct {
	addr common.Address
	sc   SwapCall
	err  error
}

func (f fakeRouter) Router() common.Address { return f.addr }
func (f fakeRouter) DecodeSwap(policies.Call) (SwapCall, error) {
	return f.sc, f.err
}

// A swap goes out only through a router the wallet has a decoder for, and
// only when the decoded call says what the intent says; otherwise Send
// refuses it before signing and releases the approval. A SafeTx is never
// sent by a wallet.
func TestSendRefusesSwapAndSafeTx(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 1)
	w := e.wallet(t, 0)
	router := common.HexToAddress("0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45")
	y := "version: 1\nchains: [1337]\ntokens:\n  TKN: {chain: 1337, address: \"" + tokenAddr + "\", decimals: 6}\ncontracts:\n  allow: [\"" + router.Hex() + "\"]\n" +
		"limits:\n  per_tx: {ETH: \"100\"}\n  daily: {ETH: \"1000\"}\nswaps: {max_slippage_bps: 100, max_deadline_seconds: 1800}\n"
	p, err := policies.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	ledger := policies.NewMemLedger()
	eng := policies.NewEngine(p, ledger)
	amount := new(big.Int).Div(ether, big.NewInt(10))
	swap := policies.Swap{
		Header: w.header(), Venue: "uniswap-v3",
		TokenIn: policies.Token{Symbol: "ETH", Decimals: 18}, AmountIn: amount,
		TokenOut: policies.Token{Symbol: "TKN", Address: tokenAddr, Decimals: 6},
		Quoted:   big.NewInt(100e6), MinOut: big.NewInt(99e6), Recipient: w.Address().Hex(),
		SlippageBps: 100, Deadline: time.Now().Unix() + 600,
		Tx: &policies.Call{To: router.Hex(), Value: new(big.Int).Set(amount), Data: []byte{0x5a, 0xe4, 0x01, 0xdc}},
	}
	ap := decide(t, eng, swap)
	bucket := "default/1337/native"
	if s, _ := ledger.Spent(ctx, bucket, time.Time{}); s.Cmp(amount) != 0 {
		t.Fatalf("charged %s before send", s)
	}
	_, err = w.Send(ctx, ap)
	if !errors.Is(err, ErrNotSendable) || !strings.Contains(err.Error(), "no swap decoder") {
		t.Fatalf("err = %v", err)
	}
	if s, _ := ledger.Spent(ctx, bucket, time.Time{}); s.Sign() != 0 {
		t.Fatalf("still charged %s after the swap was refused", s)
	}
	if len(records(w)) != 0 || e.pendingNonce(t, w.Address()) != 0 {
		t.Fatal("something was signed")
	}
	// With a decoder, every field the decoded call disagrees on refuses it.
	right := SwapCall{Router: router, TokenOut: common.HexToAddress(tokenAddr), AmountIn: amount, MinOut: big.NewInt(99e6),
		Recipient: w.Address(), Deadline: swap.Deadline}
	for want, sc := range map[string]SwapCall{
		"call pays 0x":   func() SwapCall { x := right; x.Recipient = common.HexToAddress("0xbeef"); return x }(),
		"minimum output": func() SwapCall { x := right; x.MinOut = big.NewInt(1); return x }(),
		"puts in 1,":     func() SwapCall { x := right; x.AmountIn = big.NewInt(1); return x }(),
		"deadline":       func() SwapCall { x := right; x.Deadline++; return x }(),
		"pays out":       func() SwapCall { x := right; x.TokenOut = common.HexToAddress("0xbeef"); return x }(),
		"takes":          func() SwapCall { x := right; x.TokenIn = common.HexToAddress(tokenAddr); return x }(),
	} {
		wd := e.wallet(t, 0, WithSwapDecoder(fakeRouter{addr: router, sc: sc}))
		if _, err := wd.exactCall(swap); !errors.Is(err, ErrCallMismatch) || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q: %v", want, err)
		}
	}
	wd := e.wallet(t, 0, WithSwapDecoder(fakeRouter{addr: router, err: errors.New("not a swap")}))
	if _, err := wd.exactCall(swap); !errors.Is(err, ErrCallMismatch) {
		t.Errorf("undecodable router call: %v", err)
	}
	if _, err := e.wallet(t, 0, WithSwapDecoder(fakeRouter{addr: router, sc: right})).exactCall(swap); err != nil {
		t.Errorf("a matching decoded call was refused: %v", err)
	}
	_, err = w.exactCall(policies.SafeTx{Header: w.header(), To: tokenAddr, Value: new(big.Int)})
	if !errors.Is(err, ErrNotSendable) || !strings.Contains(err.Error(), "not supported yet") {
		t.Fatalf("SafeTx: err = %v", err)
	}
}

// Replace re-signs only what the journal row proves this wallet signed.
func TestReplaceRefusesTamperedRow(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	j := NewMemJournal()
	w := e.wallet(t, 0, WithJournal(j))
	foreign := e.wallet(t, 1)
	call := policies.Call{To: e.addrs[1].Hex(), Value: big.NewInt(1e15)}
	fee := new(big.Int).Mul(oneGwei, big.NewInt(10))
	unsigned := func(chainID *big.Int) *types.Transaction {
		to := e.addrs[1]
		return types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: 0, GasTipCap: oneGwei, GasFeeCap: fee,
			Gas: 21000, To: &to, Value: call.Value})
	}
	row := func(tx *types.Transaction, hash string) TxRecord {
		raw, err := tx.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if hash == "" {
			hash = tx.Hash().Hex()
		}
		now := time.Now()
		return TxRecord{Hash: hash, Chain: w.JournalChain(), From: w.Address().Hex(), Nonce: tx.Nonce(), ApprovalID: "ap-x",
			Raw: raw, Status: TxSent, CreatedAt: now, UpdatedAt: now}
	}
	foreignTx, _, err := foreign.sign(ctx, call, 0, 21000, oneGwei, fee)
	if err != nil {
		t.Fatal(err)
	}
	ownTx, _, err := w.sign(ctx, call, 0, 21000, oneGwei, fee)
	if err != nil {
		t.Fatal(err)
	}
	otherChain, err := w.s.signTx(ctx, unsigned(big.NewInt(1)), big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	for name, rec := range map[string]TxRecord{
		"unsigned":       row(unsigned(w.c.ChainID()), ""),
		"foreign signer": row(foreignTx, ""),
		"other chain":    row(otherChain, ""),
		"hash differs":   row(ownTx, common.HexToHash("0x1234").Hex()),
		"not a tx":       {Hash: common.HexToHash("0x99").Hex(), Chain: w.JournalChain(), From: w.Address().Hex(), Raw: []byte{0x02, 0xc0}, Status: TxSent},
	} {
		t.Run(name, func(t *testing.T) {
			if err := j.Insert(ctx, rec); err != nil {
				t.Fatal(err)
			}
			before := len(j.Records())
			_, err := w.Replace(ctx, rec.Hash)
			if err == nil || !strings.Contains(err.Error(), "refusing to replace") {
				t.Fatalf("err = %v", err)
			}
			if n := len(j.Records()); n != before {
				t.Fatalf("journal grew from %d to %d rows", before, n)
			}
			if got, _, _ := j.ByHash(ctx, rec.Chain, rec.Hash); got.Status != TxSent || got.ReplacedBy != "" {
				t.Fatalf("row changed: %+v", got)
			}
			if n := e.pendingNonce(t, w.Address()); n != 0 {
				t.Fatalf("something was broadcast (pending nonce %d)", n)
			}
		})
	}
}

// Without WithMaxFeePerGas, Replace stops at 10 × (base fee + tip).
func TestReplaceDefaultFeeCeiling(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	w := e.wallet(t, 0)
	rec, err := w.Send(ctx, decide(t, mustEngine(t), ethTransfer(w, e.addrs[1], 1)))
	if err != nil {
		t.Fatal(err)
	}
	var last error
	for i := 0; i < 100; i++ {
		next, err := w.Replace(ctx, rec.Hash)
		if err != nil {
			last = err
			break
		}
		rec = next
	}
	if last == nil || !strings.Contains(last.Error(), "default replacement cap") {
		t.Fatalf("err = %v", last)
	}
	base, _ := e.c.BaseFee(ctx)
	tip, _, _ := w.Fees(ctx)
	limit := new(big.Int).Mul(new(big.Int).Add(base, tip), big.NewInt(10))
	if fc := decodeRaw(t, rec.Raw).GasFeeCap(); fc.Cmp(limit) > 0 {
		t.Fatalf("fee cap %s above %s", fc, limit)
	}
	// The last accepted replacement still mines.
	e.commit()
	if got, err := w.Wait(ctx, rec.Hash); err != nil || got.Status != TxMined {
		t.Fatalf("%+v %v", got, err)
	}
}

type rpcErr struct {
	code int
	msg  string
}

func (e rpcErr) Error() string  { return e.msg }
func (e rpcErr) ErrorCode() int { return e.code }

func TestClassify(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("evm: eth_sendRawTransaction: %w", err) }
	for _, c := range []struct {
		err  error
		want outcome
	}{
		{nil, accepted},
		{wrap(rpcErr{-32000, "already known"}), accepted},
		{wrap(rpcErr{-32000, "nonce too low: next nonce 3, tx nonce 2"}), nonceTaken},
		{wrap(rpcErr{-32000, "replacement transaction underpriced"}), nonceTaken},
		{wrap(rpcErr{-32000, "insufficient funds for gas * price + value: balance 0"}), rejected},
		{wrap(rpcErr{-32000, "intrinsic gas too low: gas 20000, minimum needed 21000"}), rejected},
		{wrap(rpcErr{-32000, "max fee per gas less than block base fee: address 0x1, maxFeePerGas: 1, baseFee: 7"}), rejected},
		{wrap(rpcErr{-32000, "fee cap less than block base fee"}), rejected},
		{wrap(rpcErr{-32000, "invalid sender"}), rejected},
		{wrap(rpcErr{-32000, "exceeds block gas limit"}), rejected},
		{wrap(rpcErr{-32000, "transaction type not supported"}), rejected},
		{wrap(rpcErr{-32000, "oversized data: transaction size 200000, limit 131072"}), rejected},
		// Unknown answers may come after a provider forwarded the transaction.
		{wrap(rpcErr{-32099, "upstream: backend request failed"}), uncertain},
		{wrap(rpcErr{-32603, "internal error"}), uncertain},
		{wrap(rpcErr{-32005, "rate limit exceeded"}), uncertain},
		// Nothing written.
		{&RPCError{Method: "eth_sendRawTransaction", Unreachable: true, Err: syscall.ECONNREFUSED}, undelivered},
		{rpc.ErrClientQuit, undelivered},
		{&RPCError{Method: "eth_sendRawTransaction", Err: errors.New("invalid answer")}, uncertain},
	} {
		if got := classify(c.err); got != c.want {
			t.Errorf("classify(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// An error answer no rule knows leaves the transaction signed, its nonce
// used and its approval charged (and no longer releasable).
func TestUnknownBroadcastErrorIsUncertain(t *testing.T) {
	ctx := context.Background()
	e, p, w, eng, charged := proxiedWallet(t)
	p.set(p.odd, "eth_sendRawTransaction", true)
	ap := decide(t, eng, ethTransfer(w, e.addrs[1], 6))
	rec, err := w.Send(ctx, ap)
	p.set(p.odd, "eth_sendRawTransaction", false)
	var unc *UncertainError
	if !errors.As(err, &unc) || rec.Status != TxSigned || rec.Nonce != 0 || !strings.Contains(err.Error(), "backend request failed") {
		t.Fatalf("%+v %v", rec, err)
	}
	if charged() != 6 {
		t.Fatalf("charged %d: an approval whose transaction may have left was released", charged())
	}
	if err := ap.Release(ctx, "test"); !errors.Is(err, policies.ErrApprovalSent) || charged() != 6 {
		t.Fatalf("Release after an uncertain send: %v (charged %d)", err, charged())
	}
	if r, _, _ := w.j.ByHash(ctx, rec.Chain, rec.Hash); r.Status != TxSigned {
		t.Fatalf("journal says %s", r.Status)
	}
	next, err := w.Send(ctx, decide(t, eng, ethTransfer(w, e.addrs[1], 7)))
	if err != nil || next.Nonce != 1 {
		t.Fatalf("%+v %v", next, err)
	}
	for _, h := range []string{rec.Hash, next.Hash} {
		if got, err := w.Wait(ctx, h); err != nil || got.Status != TxMined {
			t.Fatalf("%+v %v", got, err)
		}
	}
}

// A sent approval can no longer be released.
func TestSendMarksApprovalSent(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	w := e.wallet(t, 0)
	eng, ledger := testEngine(t)
	ap := decide(t, eng, ethTransfer(w, e.addrs[1], 9))
	if _, err := w.Send(ctx, ap); err != nil {
		t.Fatal(err)
	}
	if err := ap.Release(ctx, "test"); !errors.Is(err, policies.ErrApprovalSent) {
		t.Fatalf("Release after send: %v", err)
	}
	if s, _ := ledger.Spent(ctx, "default/1337/native", time.Time{}); s.Int64() != 9 {
		t.Fatalf("charged %s", s)
	}
}

// Final journal rows do not move the nonce: a mined row at nonce 5 from a
// chain since reset leaves no gap on the fresh chain at nonce 0.
func TestNonceIgnoresFinalRows(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	e.mine(t)
	j := NewMemJournal()
	old := e.wallet(t, 0)
	tx, raw, err := old.sign(context.Background(), policies.Call{To: e.addrs[1].Hex(), Value: big.NewInt(1)}, 5, 21000, oneGwei, new(big.Int).Mul(oneGwei, big.NewInt(10)))
	if err != nil {
		t.Fatal(err)
	}
	mined := old.record(tx, raw, sendRef{approvalID: "ap-old-chain"})
	mined.Status, mined.Block = TxMined, 42
	if err := j.Insert(ctx, mined); err != nil {
		t.Fatal(err)
	}
	if err := j.Update(ctx, mined); err != nil {
		t.Fatal(err)
	}
	w := e.wallet(t, 0, WithJournal(j))
	rec, err := w.Send(ctx, decide(t, mustEngine(t), ethTransfer(w, e.addrs[1], 3)))
	if err != nil || rec.Nonce != 0 {
		t.Fatalf("%+v %v", rec, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if got, err := w.Wait(wctx, rec.Hash); err != nil || got.Status != TxMined {
		t.Fatalf("%+v %v", got, err)
	}
}
