package rpcfault_test

import (
	"context"
	"crypto/ecdsa"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/internal/rpcfault"
)

// rig is the shared devnet served over HTTP, a proxy in front of it, and
// clients of both: the direct one is the truth the tests compare with.
type rig struct {
	d      *devnet.Devnet
	p      *rpcfault.Proxy
	via    *ethclient.Client // through the proxy
	viaRPC *rpc.Client
	direct *ethclient.Client
}

func newRig(t *testing.T) *rig {
	t.Helper()
	d := devnettest.Shared(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	url, err := d.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p, err := rpcfault.New(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	rc, err := rpc.DialContext(ctx, p.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rc.Close)
	return &rig{d: d, p: p, via: ethclient.NewClient(rc), viaRPC: rc, direct: d.Client()}
}

// transfer signs a plain ETH transfer from key at its next nonce.
func (r *rig) transfer(t *testing.T, key *ecdsa.PrivateKey) *types.Transaction {
	t.Helper()
	ctx := context.Background()
	from := crypto.PubkeyToAddress(key.PublicKey)
	nonce, err := r.direct.PendingNonceAt(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	head, err := r.direct.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	to := common.HexToAddress("0x000000000000000000000000000000000000dEaD")
	tip := big.NewInt(1e9)
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(big.NewInt(devnet.ChainID)), &types.DynamicFeeTx{
		ChainID: big.NewInt(devnet.ChainID), Nonce: nonce, GasTipCap: tip,
		GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip),
		Gas:       21000, To: &to, Value: big.NewInt(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// known reports whether the node has tx, in its pool or in a block.
func (r *rig) known(t *testing.T, tx *types.Transaction) bool {
	t.Helper()
	_, _, err := r.direct.TransactionByHash(context.Background(), tx.Hash())
	if errors.Is(err, ethereum.NotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func (r *rig) mined(t *testing.T, tx *types.Transaction) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := r.d.WaitMined(ctx, tx.Hash()); err != nil {
		t.Fatalf("transaction %s was not mined: %v", tx.Hash().Hex(), err)
	}
}

// Calls the proxy does not break reach the node and come back unchanged.
func TestForwards(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	got, err := r.via.ChainID(ctx)
	if err != nil || got.Int64() != devnet.ChainID {
		t.Fatalf("chain id through the proxy: %v, %v", got, err)
	}
	usdc := r.d.Address(devnet.USDC)
	viaCode, err := r.via.CodeAt(ctx, usdc, nil)
	if err != nil {
		t.Fatal(err)
	}
	directCode, err := r.direct.CodeAt(ctx, usdc, nil)
	if err != nil || len(directCode) == 0 || string(viaCode) != string(directCode) {
		t.Fatalf("code through the proxy differs from the node's: %d vs %d bytes (%v)", len(viaCode), len(directCode), err)
	}
	if n := r.p.Calls("eth_chainId"); n != 1 {
		t.Errorf("eth_chainId counted %d times, want 1", n)
	}
	if n := r.p.Calls("eth_getCode"); n != 1 {
		t.Errorf("eth_getCode counted %d times, want 1", n)
	}
}

// A transaction dropped before forwarding never reaches the node; dropped
// after, it does, though the sender saw the same broken connection.
func TestDrop(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	_, key := devnettest.Account(t, r.d)

	before := r.p.On("eth_sendRawTransaction", rpcfault.DropBeforeForward, rpcfault.Times(1))
	tx := r.transfer(t, key)
	if err := r.via.SendTransaction(ctx, tx); err == nil {
		t.Fatal("a dropped eth_sendRawTransaction succeeded")
	}
	if before.Fired() != 1 {
		t.Fatalf("drop before forwarding fired %d times, want 1", before.Fired())
	}
	if r.known(t, tx) {
		t.Fatal("the node has a transaction dropped before forwarding")
	}
	// Times(1): the retry goes through.
	if err := r.via.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("the retry after one drop: %v", err)
	}
	r.mined(t, tx)

	after := r.p.On("eth_sendRawTransaction", rpcfault.DropAfterForward, rpcfault.Times(1))
	tx = r.transfer(t, key)
	if err := r.via.SendTransaction(ctx, tx); err == nil {
		t.Fatal("an eth_sendRawTransaction dropped after forwarding succeeded")
	}
	if after.Fired() != 1 {
		t.Fatalf("drop after forwarding fired %d times, want 1", after.Fired())
	}
	r.mined(t, tx) // the node got it
	if n := r.p.Calls("eth_sendRawTransaction"); n != 3 {
		t.Errorf("eth_sendRawTransaction counted %d times, want 3", n)
	}
}

// HTTP 500 and a body that is not JSON fail the call with the client's
// own errors; AfterForward, the node acted anyway.
func TestStatusAndGarbage(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	_, key := devnettest.Account(t, r.d)

	r.p.On("eth_sendRawTransaction", rpcfault.HTTP500, rpcfault.Times(1))
	tx := r.transfer(t, key)
	err := r.via.SendTransaction(ctx, tx)
	var herr rpc.HTTPError
	if !errors.As(err, &herr) || herr.StatusCode != http.StatusInternalServerError {
		t.Fatalf("eth_sendRawTransaction under HTTP500: %v, want an rpc.HTTPError with status 500", err)
	}
	if r.known(t, tx) {
		t.Fatal("the node has a transaction answered 500 before forwarding")
	}

	r.p.On("eth_sendRawTransaction", rpcfault.HTTP500.AfterForward(), rpcfault.Times(1))
	if err := r.via.SendTransaction(ctx, tx); !errors.As(err, &herr) || herr.StatusCode != http.StatusInternalServerError {
		t.Fatalf("eth_sendRawTransaction under HTTP500 after forwarding: %v, want status 500", err)
	}
	r.mined(t, tx)

	rule := r.p.On("eth_getTransactionReceipt", rpcfault.Garbage, rpcfault.Times(1))
	if _, err := r.via.TransactionReceipt(ctx, tx.Hash()); err == nil || !strings.Contains(err.Error(), "invalid character") {
		t.Fatalf("a receipt answered with garbage: %v, want a JSON decoding error", err)
	}
	rc, err := r.via.TransactionReceipt(ctx, tx.Hash())
	if err != nil || rc.TxHash != tx.Hash() {
		t.Fatalf("the receipt after one garbage answer: %v, %v", rc, err)
	}
	if rule.Fired() != 1 || r.p.Calls("eth_getTransactionReceipt") != 2 {
		t.Fatalf("garbage fired %d times over %d receipt calls, want 1 over 2", rule.Fired(), r.p.Calls("eth_getTransactionReceipt"))
	}
}

// A JSON-RPC error object comes back as the client's rpc.Error, with the
// code and message given; Skip selects which call.
func TestRPCErrorSkip(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	acct, _ := devnettest.Account(t, r.d)
	rule := r.p.On("eth_getTransactionCount", rpcfault.RPCError(-32000, "header not found"), rpcfault.Skip(1), rpcfault.Times(1))
	if _, err := r.via.PendingNonceAt(ctx, acct.Address); err != nil {
		t.Fatalf("the first call, skipped: %v", err)
	}
	_, err := r.via.PendingNonceAt(ctx, acct.Address)
	var rerr rpc.Error
	if !errors.As(err, &rerr) || rerr.ErrorCode() != -32000 || rerr.Error() != "header not found" {
		t.Fatalf("the second call: %v, want JSON-RPC error -32000 %q", err, "header not found")
	}
	if _, err := r.via.PendingNonceAt(ctx, acct.Address); err != nil {
		t.Fatalf("the third call, after Times(1): %v", err)
	}
	if rule.Fired() != 1 {
		t.Fatalf("rule fired %d times, want 1", rule.Fired())
	}
}

// In a batch, each call is matched on its own: the faulted one gets the
// error, the others the node's answers, and only they reach the node.
func TestBatch(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	acct, key := devnettest.Account(t, r.d)
	r.p.On("eth_sendRawTransaction", rpcfault.RPCError(-32603, "upstream busy"))
	tx := r.transfer(t, key)
	raw, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var chain, nonce hexutil.Uint64
	var hash common.Hash
	batch := []rpc.BatchElem{
		{Method: "eth_chainId", Result: &chain},
		{Method: "eth_sendRawTransaction", Args: []any{hexutil.Bytes(raw)}, Result: &hash},
		{Method: "eth_getTransactionCount", Args: []any{acct.Address, "pending"}, Result: &nonce},
	}
	if err := r.viaRPC.BatchCallContext(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if batch[0].Error != nil || uint64(chain) != devnet.ChainID {
		t.Errorf("eth_chainId in the batch: %v, %v", uint64(chain), batch[0].Error)
	}
	var rerr rpc.Error
	if !errors.As(batch[1].Error, &rerr) || rerr.ErrorCode() != -32603 {
		t.Errorf("eth_sendRawTransaction in the batch: %v, want JSON-RPC error -32603", batch[1].Error)
	}
	if batch[2].Error != nil || uint64(nonce) != tx.Nonce() {
		t.Errorf("eth_getTransactionCount in the batch: %d, %v; want %d", nonce, batch[2].Error, tx.Nonce())
	}
	if r.known(t, tx) {
		t.Error("the node has the transaction its batch call was answered with an error for")
	}
	for m, want := range map[string]int{"eth_chainId": 1, "eth_sendRawTransaction": 1, "eth_getTransactionCount": 1} {
		if n := r.p.Calls(m); n != want {
			t.Errorf("%s counted %d times, want %d", m, n, want)
		}
	}

	// A connection-level fault on one call breaks the whole batch, which
	// has one HTTP answer; AfterForward, the node still got every call.
	r.p.Clear()
	r.p.On("eth_getTransactionCount", rpcfault.DropAfterForward, rpcfault.Times(1))
	batch[1].Error, batch[2].Error = nil, nil
	if err := r.viaRPC.BatchCallContext(ctx, batch); err == nil {
		t.Fatal("a batch dropped after forwarding succeeded")
	}
	r.mined(t, tx)
}

// A delay holds the call and then lets the node answer; a sender that
// gives up first gets its own timeout, and a transaction delayed before
// forwarding never reaches the node.
func TestDelay(t *testing.T) {
	r := newRig(t)
	_, key := devnettest.Account(t, r.d)
	const d = 300 * time.Millisecond
	r.p.On("eth_blockNumber", rpcfault.Delay(d), rpcfault.Times(1))
	start := time.Now()
	n, err := r.via.BlockNumber(context.Background())
	if err != nil || n == 0 {
		t.Fatalf("a delayed eth_blockNumber: %d, %v", n, err)
	}
	if took := time.Since(start); took < d {
		t.Fatalf("a call delayed %s was answered after %s", d, took)
	}

	const held = 500 * time.Millisecond
	r.p.On("eth_sendRawTransaction", rpcfault.Delay(held), rpcfault.Times(1))
	tx := r.transfer(t, key)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := r.via.SendTransaction(ctx, tx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a send delayed past the sender's deadline: %v, want context.DeadlineExceeded", err)
	}
	// The sender is gone, so the proxy never forwards: well after the
	// delay would have ended, the node still does not have it.
	time.Sleep(3 * held)
	if r.known(t, tx) {
		t.Fatal("a transaction delayed before forwarding reached the node after its sender gave up")
	}
	if err := r.via.SendTransaction(context.Background(), tx); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	r.mined(t, tx)
}

// Concurrent senders see each call counted once and a Times(n) rule break
// exactly n of them.
func TestConcurrent(t *testing.T) {
	r := newRig(t)
	const calls, broken = 40, 7
	rule := r.p.On(rpcfault.AnyMethod, rpcfault.HTTP500, rpcfault.Times(broken))
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := 0
	for range calls {
		wg.Go(func() {
			if _, err := r.via.BlockNumber(context.Background()); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if failed != broken || rule.Fired() != broken || r.p.Calls("eth_blockNumber") != calls {
		t.Fatalf("%d of %d calls failed, the rule fired %d times, %d calls counted; want %d, %d, %d",
			failed, calls, rule.Fired(), r.p.Calls("eth_blockNumber"), broken, broken, calls)
	}
}

func TestNewRefusesWebSocket(t *testing.T) {
	if _, err := rpcfault.New("ws://127.0.0.1:8546"); err == nil {
		t.Fatal("a WebSocket upstream was accepted")
	}
}
