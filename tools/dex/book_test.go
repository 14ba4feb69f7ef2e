package dex_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/dex"
)

// bookEnv is one wallet's order book over a database file, so a test can
// "restart": open the file again with a new store, wallet and book.
type bookEnv struct {
	d     *devnet.Devnet
	key   string // the wallet's private key
	db    string
	store *memory.Store
	w     *evm.Wallet
	book  *dex.Book
	reg   *tools.Registry
	now   *clock
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// process is one process of the agent over a database file: its store,
// its wallet for key, the policy engine (wrapped by wrap, if given) and
// the dex tools. Tests that simulate restarts or replicas open several
// over one file.
type process struct {
	store *memory.Store
	w     *evm.Wallet
	list  *tokenlist.List
	dex   []tools.Tool
}

func openProcess(t *testing.T, d *devnet.Devnet, key, db string, wrap func(tools.Gate) tools.Gate, opts ...dex.Option) *process {
	t.Helper()
	store, err := memory.Open(t.Context(), "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f, r, _ := d.Deployment().Uniswap()
	c, err := evm.NewClient(t.Context(), d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	s, err := evm.NewKeySigner(key)
	if err != nil {
		t.Fatal(err)
	}
	w, err := evm.NewWallet(c, s, evm.WithJournal(store.Journal()), evm.WithSwapDecoder(r), evm.WithPollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_ = template.Must(template.New("p").Parse(policyTmpl)).Execute(&buf, map[string]any{
		"USDC": d.Address("USDC").Hex(), "DAI": d.Address("DAI").Hex(), "WETH": d.Address("WETH").Hex(), "DEFL": d.Address("DEFL").Hex(), "MaxBps": 100,
	})
	p, err := policies.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	list, _ := d.Deployment().TokenList()
	var gate tools.Gate = policies.NewEngine(p, store.Ledger())
	if wrap != nil {
		gate = wrap(gate)
	}
	dt := dex.Tools(w, gate, append([]dex.Option{dex.WithTokenList(list), dex.WithUniswap(f, r), dex.WithBounds(p)}, opts...)...)
	return &process{store: store, w: w, list: list, dex: dt}
}

func openBook(t *testing.T, d *devnet.Devnet, key, db string, now *clock, opts ...dex.Option) *bookEnv {
	t.Helper()
	pr := openProcess(t, d, key, db, nil, opts...)
	// The tests below are about other things than manipulation: a trigger
	// executes at the first block it holds (TestTriggerHoldsTwoBlocks
	// tests the default).
	book := dex.NewBook(pr.store.Orders(), pr.w, pr.dex, dex.BookTokenList(pr.list), dex.BookClock(now.Now), dex.BookConfirmBlocks(1))
	return &bookEnv{d: d, key: key, db: db, store: pr.store, w: pr.w, book: book, reg: tools.NewRegistry(pr.dex, book.Tools()), now: now}
}

func newBook(t *testing.T, opts ...dex.Option) *bookEnv {
	t.Helper()
	d := devnettest.Shared(t)
	acct, _ := devnettest.Account(t, d)
	return openBook(t, d, acct.PrivateKey, filepath.Join(t.TempDir(), "orders.db"), &clock{t: time.Now()}, opts...)
}

func (e *bookEnv) call(t *testing.T, name string, args any) (tools.Result, error) {
	t.Helper()
	b, _ := json.Marshal(args)
	return e.reg.Call(t.Context(), name, b)
}

func (e *bookEnv) order(t *testing.T, id int64) orders.Order {
	t.Helper()
	o, err := e.store.Orders().Get(t.Context(), e.w.Client().ChainKey(), e.w.Address().Hex(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// ethPrice is the execution price of one ETH when buying ETH with amount
// USDC now.
func (e *bookEnv) ethPrice(t *testing.T, amount string) *big.Rat {
	t.Helper()
	res, err := e.call(t, "dex_quote", map[string]string{"from": "USDC", "to": "ETH", "amount": amount})
	if err != nil {
		t.Fatal(err)
	}
	q := res.Data.(*dex.Quote)
	out, _ := new(big.Rat).SetString(q.Quoted)
	in, _ := new(big.Rat).SetString(q.AmountIn)
	return in.Quo(in, out)
}

// quotedPool is the pool the USDC→ETH quote routes through (one hop).
func (e *bookEnv) quotedPool(t *testing.T) common.Address {
	t.Helper()
	res, err := e.call(t, "dex_quote", map[string]string{"from": "USDC", "to": "ETH", "amount": "300"})
	if err != nil {
		t.Fatal(err)
	}
	q := res.Data.(*dex.Quote)
	if len(q.Route) != 1 {
		t.Fatalf("USDC→ETH routes through %d pools; the test moves one", len(q.Route))
	}
	return common.HexToAddress(q.Route[0].Pool)
}

// sellETH sells amount ETH into one pool from a devnet account of its own,
// signed directly: a third party trading, outside any policy of ours.
func sellETH(t *testing.T, d *devnet.Devnet, pool common.Address, amount *big.Int) {
	t.Helper()
	ctx := t.Context()
	f, r, _ := d.Deployment().Uniswap()
	acct, key := devnettest.Account(t, d)
	c, err := evm.NewClient(ctx, d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	g, err := uniswap.Discover(ctx, c, f, []common.Address{d.Address("WETH"), d.Address("USDC")})
	if err != nil {
		t.Fatal(err)
	}
	var only []*uniswap.Pool
	for _, p := range g.Pools {
		if p.Address == pool {
			only = append(only, p)
		}
	}
	route, err := uniswap.NewGraph(g.Block, g.WETH, only).Best(d.Address("WETH"), d.Address("USDC"), uint256.MustFromBig(amount), 1)
	if err != nil {
		t.Fatal(err)
	}
	head, err := d.Client().HeaderByNumber(ctx, nil) // the chain's clock, which a test may have moved on
	if err != nil {
		t.Fatal(err)
	}
	call, err := r.SwapCall(route, uniswap.SwapParams{Recipient: acct.Address, MinOut: big.NewInt(1), Deadline: int64(head.Time) + 3600, NativeIn: true})
	if err != nil {
		t.Fatal(err)
	}
	devnettest.Send(t, d, key, r.Address, call.Value, call.Data)
}

// TestLimitOrderFillsAfterRestart: a limit order to buy ETH below the
// current price does nothing while the price is above it; the process
// "restarts" (a new store, wallet and watcher over the same database); a
// trader sells ETH until the price crosses the level; the new watcher
// fills the order once, through the policy, and records the transaction.
func TestLimitOrderFillsAfterRestart(t *testing.T) {
	e := newBook(t)
	now := e.ethPrice(t, "300")
	level := new(big.Rat).Mul(now, big.NewRat(998, 1000))
	res, err := e.call(t, "order_place", map[string]string{"kind": "limit", "from": "USDC", "to": "ETH", "amount": "300", "trigger": "ETH <= " + level.FloatString(6)})
	if err != nil {
		t.Fatal(err)
	}
	placed := res.Data.(orders.Order)
	if err := e.book.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if o := e.order(t, placed.ID); o.Status != orders.Open || o.Done != 0 {
		t.Fatalf("below its level the order is %s with %d runs", o.Status, o.Done)
	}

	// Restart: everything is opened again from the database file.
	e.store.Close()
	e2 := openBook(t, e.d, e.key, e.db, e.now)

	// Another market participant sells ETH into the pool the order buys
	// from until the price crosses the level.
	for i := 0; e2.ethPrice(t, "300").Cmp(level) > 0; i++ {
		if i == 8 {
			t.Fatalf("the price did not reach %s after 8 sales", level.FloatString(2))
		}
		sellETH(t, e2.d, e2.quotedPool(t), new(big.Int).Mul(big.NewInt(50), big.NewInt(1e18)))
	}
	usdcBefore, _ := e2.w.Client().TokenBalance(t.Context(), e2.d.Address("USDC"), e2.w.Address())
	if err := e2.book.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	o := e2.order(t, placed.ID)
	if o.Status != orders.Filled || o.Done != 1 || o.LastTx == "" {
		t.Fatalf("after the cross: %+v", o)
	}
	usdcAfter, _ := e2.w.Client().TokenBalance(t.Context(), e2.d.Address("USDC"), e2.w.Address())
	if spent := new(big.Int).Sub(usdcBefore, usdcAfter); spent.Cmp(big.NewInt(300_000_000)) != 0 {
		t.Errorf("the fill spent %s base units of USDC, want 300 USDC", spent)
	}
	rcpt, err := e2.w.Client().Receipt(t.Context(), common.HexToHash(o.LastTx))
	if err != nil || rcpt.Status != 1 {
		t.Fatalf("fill transaction %s: %v", o.LastTx, err)
	}
	// A filled order is not executed again.
	if err := e2.book.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if again, _ := e2.w.Client().TokenBalance(t.Context(), e2.d.Address("USDC"), e2.w.Address()); again.Cmp(usdcAfter) != 0 {
		t.Errorf("the filled order swapped again")
	}
}

// failRecord is a store that loses the record of a run: its update of an
// executing order fails, as if the process stopped right after the swap
// was sent.
type failRecord struct{ orders.Store }

func (f failRecord) Update(ctx context.Context, o orders.Order, prev orders.Order) error {
	if prev.Status == orders.Executing {
		return errors.New("the process stopped")
	}
	return f.Store.Update(ctx, o, prev)
}

// TestOrderSentButNotRecorded: the watcher sent a run's swap and stopped
// before recording it. The next check (a new book over the same store)
// finds the transaction under the run's idempotency key and records it;
// nothing is swapped twice.
func TestOrderSentButNotRecorded(t *testing.T) {
	e := newBook(t)
	res, err := e.call(t, "order_place", map[string]string{"kind": "stop", "from": "ETH", "to": "USDC", "amount": "0.05", "trigger": "ETH <= 1000000"})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Data.(orders.Order)
	crashing := dex.NewBook(failRecord{e.store.Orders()}, e.w, e.reg.List(), dex.BookConfirmBlocks(1))
	if err := crashing.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	stuck := e.order(t, o.ID)
	if stuck.Status != orders.Executing {
		t.Fatalf("after the lost record the order is %s", stuck.Status)
	}
	rec, ok, err := e.w.Journal().ByKey(t.Context(), e.w.JournalChain(), e.w.Address().Hex(), o.Key())
	if err != nil || !ok {
		t.Fatalf("the run's swap is not in the journal: %v", err)
	}
	// Cancelling in the middle of a run is refused, not half done.
	if _, err := e.call(t, "order_cancel", map[string]any{"id": o.ID}); err == nil || !strings.Contains(err.Error(), "executing") {
		t.Fatalf("cancel during a run: %v", err)
	}
	nonce, _ := e.w.Client().PendingNonce(t.Context(), e.w.Address())
	if err := e.book.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := e.order(t, o.ID)
	if got.Status != orders.Filled || got.LastTx != rec.Hash || !strings.Contains(got.Note, "recovered") {
		t.Fatalf("order after recovery: %+v", got)
	}
	if after, _ := e.w.Client().PendingNonce(t.Context(), e.w.Address()); after != nonce {
		t.Errorf("recovery sent another transaction")
	}
}

// TestDCARunsOnSchedule: a DCA of three runs an hour apart runs once at
// placement, waits, runs when the (test) clock reaches the next run, skips
// runs missed while stopped rather than bunching them, and ends done. Each
// run is its own swap and decision.
func TestDCARunsOnSchedule(t *testing.T) {
	e := newBook(t)
	res, err := e.call(t, "order_place", map[string]string{"kind": "dca", "from": "USDC", "to": "ETH", "amount": "100", "trigger": "every 1h for 3"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Data.(orders.Order).ID
	usdc := func() *big.Int {
		v, _ := e.w.Client().TokenBalance(t.Context(), e.d.Address("USDC"), e.w.Address())
		return v
	}
	start := usdc()
	check := func(wantDone int, wantStatus orders.Status) {
		t.Helper()
		if err := e.book.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
		o := e.order(t, id)
		spent := new(big.Int).Sub(start, usdc())
		if o.Done != wantDone || o.Status != wantStatus || spent.Cmp(big.NewInt(int64(wantDone)*100_000_000)) != 0 {
			t.Fatalf("done %d (%s), spent %s; want %d runs (%s)", o.Done, o.Status, spent, wantDone, wantStatus)
		}
	}
	check(1, orders.Open)
	check(1, orders.Open) // not due yet
	e.now.Add(time.Hour)
	check(2, orders.Open)
	e.now.Add(5 * time.Hour) // stopped for hours: one run, not four
	check(3, orders.Done)
}

// TestOrderDeniedByPolicy: an execution the policy refuses fails the order
// with the policy's reason; nothing is signed.
func TestOrderDeniedByPolicy(t *testing.T) {
	e := newBook(t)
	res, err := e.call(t, "order_place", map[string]string{"kind": "limit", "from": "USDC", "to": "DAI", "amount": "6000", "trigger": "DAI <= 1000"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Data.(orders.Order).ID
	nonce, _ := e.w.Client().PendingNonce(t.Context(), e.w.Address())
	if err := e.book.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	o := e.order(t, id)
	if o.Status != orders.Failed || !strings.Contains(o.Note, "limits.per_tx") {
		t.Errorf("order %s: %q", o.Status, o.Note)
	}
	if after, _ := e.w.Client().PendingNonce(t.Context(), e.w.Address()); after != nonce {
		t.Errorf("a denied execution moved the nonce")
	}
}

func TestOrderToolsBadInput(t *testing.T) {
	e := newBook(t)
	for _, tc := range []struct {
		args map[string]string
		want string
	}{
		{map[string]string{"kind": "market", "from": "ETH", "to": "USDC", "amount": "1", "trigger": "ETH >= 1"}, "limit, stop or dca"},
		{map[string]string{"kind": "limit", "from": "ETH", "to": "USDC", "amount": "1", "trigger": "when it moons"}, "trigger"},
		{map[string]string{"kind": "limit", "from": "ETH", "to": "USDC", "amount": "1", "trigger": "DAI >= 1"}, "neither"},
		{map[string]string{"kind": "limit", "from": "ETH", "to": "USDC", "amount": "1", "trigger": "ETH >= 3000 DAI"}, "in USDC"},
		{map[string]string{"kind": "stop", "from": "ETH", "to": "USDC", "amount": "1", "trigger": "ETH <= 0"}, "positive"},
		{map[string]string{"kind": "dca", "from": "USDC", "to": "ETH", "amount": "1", "trigger": "every 10s for 3"}, "unknown interval unit"},
		{map[string]string{"kind": "dca", "from": "USDC", "to": "ETH", "amount": "1", "trigger": "every 1d for 0"}, "runs"},
		{map[string]string{"kind": "dca", "from": "USDC", "to": "ETH", "amount": "0", "trigger": "every 1d for 2"}, "greater than zero"},
		{map[string]string{"kind": "limit", "from": "USDC", "to": "NOPE", "amount": "1", "trigger": "USDC >= 1"}, "NOPE"},
	} {
		if _, err := e.call(t, "order_place", tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if os, _ := e.store.Orders().List(t.Context(), e.w.Client().ChainKey(), e.w.Address().Hex(), false); len(os) != 0 {
		t.Errorf("bad input stored %d orders", len(os))
	}
	res, err := e.call(t, "order_place", map[string]string{"kind": "limit", "from": "ETH", "to": "USDC", "amount": "1", "trigger": "ETH >= 1000000"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Data.(orders.Order).ID
	if _, err := e.call(t, "order_cancel", map[string]any{"id": 999}); err == nil || !strings.Contains(err.Error(), "no order #999") {
		t.Errorf("cancel unknown: %v", err)
	}
	if _, err := e.call(t, "order_cancel", map[string]any{"id": "abc"}); err == nil || !strings.Contains(err.Error(), "not an order id") {
		t.Errorf("cancel abc: %v", err)
	}
	if _, err := e.call(t, "order_cancel", map[string]any{"id": id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.call(t, "order_cancel", map[string]any{"id": "#" + big.NewInt(id).String()}); err == nil || !strings.Contains(err.Error(), "already cancelled") {
		t.Errorf("cancel twice: %v", err)
	}
	list, err := e.call(t, "order_list", map[string]any{})
	if err != nil || !strings.Contains(list.Text, "cancelled limit") {
		t.Errorf("order_list: %v %q", err, list.Text)
	}
}

// Run is the watcher loop: it executes an order whose trigger holds
// without anyone calling Check, and stops when its context ends.
func TestRunExecutes(t *testing.T) {
	e := newBook(t)
	res, err := e.call(t, "order_place", map[string]string{"kind": "limit", "from": "USDC", "to": "DAI", "amount": "10", "trigger": "DAI <= 1000"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Data.(orders.Order).ID
	book := dex.NewBook(e.store.Orders(), e.w, e.reg.List(), dex.BookPollInterval(5*time.Millisecond), dex.OnExecute(func(orders.Order, error) {}), dex.BookConfirmBlocks(1))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- book.Run(ctx) }()
	for i := 0; e.order(t, id).Status.Live(); i++ {
		if i > 6000 { // the loop checks every 5 ms; this is minutes, not a timing assertion
			t.Fatal("the watcher never executed the order")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if o := e.order(t, id); o.Status != orders.Filled {
		t.Fatalf("order %s: %s", o.Status, o.Note)
	}
}

// flaky is a dex_swap whose node is down for its first call.
type flaky struct {
	tools.Tool
	failed bool
}

func (f *flaky) Call(ctx context.Context, raw json.RawMessage) (tools.Result, error) {
	if !f.failed {
		f.failed = true
		return tools.Result{}, &evm.RPCError{Method: "eth_sendRawTransaction", Err: errors.New("connection refused")}
	}
	return f.Tool.Call(ctx, raw)
}

// A run that failed on the way with nothing sent (the node was down) is
// given back and tried again under a key of its own, since the ledger
// never reuses a key; it then executes once.
func TestOrderRetriedAfterTransientFailure(t *testing.T) {
	e := newBook(t)
	res, err := e.call(t, "order_place", map[string]string{"kind": "limit", "from": "USDC", "to": "DAI", "amount": "10", "trigger": "DAI <= 1000"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Data.(orders.Order).ID
	var ts []tools.Tool
	for _, tl := range e.reg.List() {
		if tl.Name() == "dex_swap" {
			tl = &flaky{Tool: tl}
		}
		ts = append(ts, tl)
	}
	book := dex.NewBook(e.store.Orders(), e.w, ts, dex.BookConfirmBlocks(1))
	if err := book.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if o := e.order(t, id); o.Status != orders.Open || o.Attempt != 1 || o.Key() != fmt.Sprintf("order-%d-1.1", id) {
		t.Fatalf("after the failed try: %+v (key %s)", o, o.Key())
	}
	if err := book.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if o := e.order(t, id); o.Status != orders.Filled || o.Attempt != 0 || o.LastTx == "" {
		t.Fatalf("after the retry: %+v", o)
	}
}

// By default a trigger must hold at two distinct blocks: a price pushed
// across the level for one block (then back) does not execute the order;
// one that stays across executes at the second block.
func TestTriggerHoldsTwoBlocks(t *testing.T) {
	e := newBook(t)
	res, err := e.call(t, "order_place", map[string]string{"kind": "limit", "from": "USDC", "to": "DAI", "amount": "10", "trigger": "DAI <= 1000"})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Data.(orders.Order).ID
	book := dex.NewBook(e.store.Orders(), e.w, e.reg.List())
	if err := book.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := book.Check(t.Context()); err != nil { // the same block again
		t.Fatal(err)
	}
	if o := e.order(t, id); o.Status != orders.Open {
		t.Fatalf("executed at the first block the trigger held: %s", o.Status)
	}
	_, key := devnettest.Account(t, e.d) // a new block: any transaction mines one
	devnettest.Send(t, e.d, key, common.HexToAddress("0x000000000000000000000000000000000000dEaD"), big.NewInt(1), nil)
	if err := book.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	if o := e.order(t, id); o.Status != orders.Filled {
		t.Fatalf("a trigger that held at two blocks did not execute: %s %s", o.Status, o.Note)
	}
}
