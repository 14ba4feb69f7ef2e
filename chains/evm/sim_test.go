package evm

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/mandatehq/mandate/policies"
)

// simEnv is go-ethereum's simulated backend (chain 1337) with funded keys,
// reached through an in-process RPC client. Blocks are made by Commit, by
// the test or by mine's loop.
type simEnv struct {
	b     *simulated.Backend
	rc    *rpc.Client
	c     *Client
	keys  []string // hex private keys
	addrs []common.Address
	mu    sync.Mutex // serialises Commit
}

var (
	ether    = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
	oneGwei  = big.NewInt(params.GWei)
	revertTo = common.HexToAddress("0x00000000000000000000000000000000000000ee")
)

// revertCode is runtime code that reverts with Error("nope"): it copies
// the 100 bytes after its 12-byte prologue to memory and reverts with them.
func revertCode() []byte {
	data := append(selErrorString[:], encodeABIString("nope")...)
	code := []byte{0x60, byte(len(data)), 0x60, 0x0c, 0x60, 0x00, 0x39, 0x60, byte(len(data)), 0x60, 0x00, 0xfd}
	return append(code, data...)
}

// newSim starts a chain with n funded accounts; balances[i] overrides the
// default 1000 ETH.
func newSim(t testing.TB, n int, balances ...*big.Int) *simEnv {
	t.Helper()
	e := &simEnv{}
	alloc := types.GenesisAlloc{revertTo: {Code: revertCode(), Balance: new(big.Int)}}
	for i := 0; i < n; i++ {
		k, err := crypto.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		e.keys = append(e.keys, hex.EncodeToString(crypto.FromECDSA(k)))
		addr := crypto.PubkeyToAddress(k.PublicKey)
		e.addrs = append(e.addrs, addr)
		bal := new(big.Int).Mul(big.NewInt(1000), ether)
		if i < len(balances) && balances[i] != nil {
			bal = balances[i]
		}
		alloc[addr] = types.Account{Balance: bal}
	}
	e.b = simulated.NewBackend(alloc)
	t.Cleanup(func() { e.b.Close() })
	// The backend hides its *ethclient.Client in an exported field of an
	// unexported type; reflection reaches the RPC client under it, so tests
	// talk JSON-RPC to the simulated node as to any other.
	e.rc = reflect.ValueOf(e.b.Client()).FieldByName("Client").Interface().(*ethclient.Client).Client()
	c, err := NewClient(context.Background(), e.rc)
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	return e
}

func (e *simEnv) commit() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.b.Commit()
}

// mine commits a block whenever the pending block has transactions, until
// the test ends.
func (e *simEnv) mine(t testing.TB) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if n, err := e.b.Client().PendingTransactionCount(context.Background()); err == nil && n > 0 {
				e.commit()
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
}

func (e *simEnv) signer(t testing.TB, i int) Signer {
	s, err := NewKeySigner(e.keys[i])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *simEnv) wallet(t testing.TB, i int, opts ...WalletOption) *Wallet {
	t.Helper()
	opts = append([]WalletOption{WithPollInterval(5 * time.Millisecond)}, opts...)
	w, err := NewWallet(e.c, e.signer(t, i), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (e *simEnv) pendingNonce(t testing.TB, a common.Address) uint64 {
	n, err := e.c.PendingNonce(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// testEngine is a policy engine for chain 1337 (and 1, for wrong-chain
// tests) allowing ETH transfers and calls to the given contracts.
func testEngine(t testing.TB, contracts ...common.Address) (*policies.Engine, *policies.MemLedger) {
	t.Helper()
	y := "version: 1\nchains: [1, 1337]\nlimits:\n  per_tx: {ETH: \"100\"}\n  daily: {ETH: \"100000\"}\n"
	if len(contracts) > 0 {
		y += "contracts:\n  allow:\n"
		for _, c := range contracts {
			y += "    - \"" + c.Hex() + "\"\n"
		}
	}
	p, err := policies.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	l := policies.NewMemLedger()
	return policies.NewEngine(p, l), l
}

func decide(t testing.TB, eng *policies.Engine, in policies.Intent) policies.Approval {
	t.Helper()
	ap, err := eng.Decide(context.Background(), in)
	if err != nil {
		t.Fatalf("decide %s: %v", in.Kind(), err)
	}
	return ap
}

// ethTransfer is a native transfer intent built without chain reads.
func ethTransfer(w *Wallet, to common.Address, wei int64) policies.Transfer {
	return policies.Transfer{Header: w.header(), To: to.Hex(), Token: policies.Token{Symbol: "ETH", Decimals: 18},
		Amount: big.NewInt(wei), Tx: &policies.Call{To: to.Hex(), Value: big.NewInt(wei)}}
}

func records(w *Wallet) []TxRecord { return w.j.(*MemJournal).Records() }

// proxy serves JSON-RPC over HTTP by forwarding to an in-process client, and
// can be told to answer garbage (per method), lose answers, or go down.
type proxy struct {
	rc  *rpc.Client
	srv *httptest.Server

	mu      sync.Mutex
	garbage map[string]bool // answer garbage without forwarding
	lose    map[string]bool // forward, then answer garbage
	odd     map[string]bool // forward, then answer a JSON-RPC error no rule knows
}

func newProxy(t testing.TB, rc *rpc.Client) *proxy {
	p := &proxy{rc: rc, garbage: map[string]bool{}, lose: map[string]bool{}, odd: map[string]bool{}}
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *proxy) set(m map[string]bool, method string, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m[method] = on
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     json.RawMessage   `json:"id"`
		Method string            `json:"method"`
		Params []json.RawMessage `json:"params"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad request", 400)
		return
	}
	p.mu.Lock()
	garbage, lose, odd := p.garbage[req.Method] || p.garbage["*"], p.lose[req.Method], p.odd[req.Method]
	p.mu.Unlock()
	if garbage {
		_, _ = w.Write([]byte("<html><body>502 Bad Gateway</body></html>"))
		return
	}
	args := make([]any, len(req.Params))
	for i, a := range req.Params {
		args[i] = a
	}
	var res json.RawMessage
	err := p.rc.CallContext(r.Context(), &res, req.Method, args...)
	if lose {
		_, _ = w.Write([]byte("}{ not json"))
		return
	}
	if odd {
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": req.ID,
			"error": map[string]any{"code": -32099, "message": "upstream: backend request failed"}})
		_, _ = w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		obj := map[string]any{"code": -32000, "message": err.Error()}
		var re rpc.Error
		if errors.As(err, &re) {
			obj["code"] = re.ErrorCode()
		}
		var de rpc.DataError
		if errors.As(err, &de) && de.ErrorData() != nil {
			obj["data"] = de.ErrorData()
		}
		b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": req.ID, "error": obj})
		_, _ = w.Write(b)
		return
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": res})
	_, _ = w.Write(b)
}

type typesTx = types.Transaction

// proxiedWallet is a wallet on a simulated chain reached through a fault
// proxy, with an engine whose ledger charged() reads (native spends).
func proxiedWallet(t *testing.T) (*simEnv, *proxy, *Wallet, *policies.Engine, func() int64) {
	t.Helper()
	ctx := context.Background()
	e := newSim(t, 2)
	e.mine(t)
	p := newProxy(t, e.rc)
	c, err := Dial(ctx, p.srv.URL, WithRequestTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	eng, ledger := testEngine(t)
	w, err := NewWallet(c, e.signer(t, 0), WithPollInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	charged := func() int64 {
		s, _ := ledger.Spent(ctx, "default/1337/native", time.Time{})
		return s.Int64()
	}
	return e, p, w, eng, charged
}
