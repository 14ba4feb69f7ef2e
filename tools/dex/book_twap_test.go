package dex_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/dex"
)

// twapSource is the runtime's independent price on a devnet: the V3 TWAP
// against the devnet's USDC, over at least devnet.OracleAge of history.
func twapSource(d *devnet.Devnet, c *evm.Client, opts ...uniswap.PriceOption) *uniswap.PriceSource {
	f, _, _ := d.Deployment().Uniswap()
	opts = append([]uniswap.PriceOption{uniswap.WithMinTWAPWindow(devnet.OracleAge)}, opts...)
	return uniswap.NewPriceSource(c, f, []uniswap.Stablecoin{{Symbol: "USDC", Address: d.Address("USDC"), Decimals: 6}}, opts...)
}

// twapWindow is the oracle window of TestTriggerWaitsForTWAP, and
// pastWindow how far it moves the chain's clock to fill one. Short, because
// the swap tool dates its deadline by the wall clock (ten minutes ahead),
// so the chain's clock may run at most that far ahead of it (a fresh
// devnet already runs devnet.OracleAge and a few seconds ahead).
const (
	twapWindow = 120
	pastWindow = 150 * time.Second
)

// A third party pushes the pool across a limit order's level with large
// sales: the executable quote crosses, at two blocks, but the TWAP does
// not, so the order neither fills nor starts its count of blocks. Once the
// price has stayed there for the oracle's window, the TWAP crosses too and
// the order fills, through the policy, at the second block both hold.
func TestTriggerWaitsForTWAP(t *testing.T) {
	d := devnettest.New(t) // a chain of its own: the test moves its clock and its prices
	ctx := t.Context()
	acct, _ := devnettest.Account(t, d)
	pr := openProcess(t, d, acct.PrivateKey, filepath.Join(t.TempDir(), "orders.db"), nil)
	ps := twapSource(d, pr.w.Client(), uniswap.WithTWAPWindow(twapWindow))
	book := dex.NewBook(pr.store.Orders(), pr.w, pr.dex, dex.BookTokenList(pr.list), dex.BookTWAP(ps)) // two blocks, the default
	e := &bookEnv{d: d, store: pr.store, w: pr.w, book: book, reg: tools.NewRegistry(pr.dex, book.Tools())}

	// A window of oracle history at the deployment's price.
	if err := d.AdjustTime(pastWindow); err != nil {
		t.Fatal(err)
	}
	eth := policies.Token{Symbol: "ETH", Decimals: 18}
	twapOfETH := func() *big.Rat {
		t.Helper()
		q, err := ps.Quote(ctx, eth)
		if err != nil {
			t.Fatal(err)
		}
		return q.USD
	}
	pool := e.quotedPool(t)
	if q, err := ps.Quote(ctx, eth); err != nil || len(q.Legs) != 1 || q.Legs[0].Pool != pool {
		t.Fatalf("the TWAP does not price ETH by the pool the quote routes through (%s): %+v, %v", pool.Hex(), q, err)
	}
	level := new(big.Rat).Mul(e.ethPrice(t, "300"), big.NewRat(98, 100))
	res, err := e.call(t, "order_place", map[string]string{"kind": "limit", "from": "USDC", "to": "ETH", "amount": "300", "trigger": "ETH <= " + level.FloatString(6)})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Data.(orders.Order).ID
	if !strings.Contains(res.Text, "by the TWAP") {
		t.Errorf("placing the order did not say where the TWAP stands: %s", res.Text)
	}

	// The push: 1% past the level by the quote.
	target := new(big.Rat).Mul(level, big.NewRat(99, 100))
	for i := 0; e.ethPrice(t, "300").Cmp(target) > 0; i++ {
		if i == 10 {
			t.Fatalf("the quote did not reach %s after 10 sales", target.FloatString(2))
		}
		sellETH(t, d, pool, new(big.Int).Mul(big.NewInt(150), big.NewInt(1e18)))
	}
	nonce, err := e.w.Client().PendingNonce(ctx, e.w.Address())
	if err != nil {
		t.Fatal(err)
	}
	usdc := func() *big.Int {
		t.Helper()
		v, err := e.w.Client().TokenBalance(ctx, d.Address("USDC"), e.w.Address())
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := usdc()

	// Two checks at two blocks: the quote holds at both, the TWAP at none.
	for i := range 2 {
		if i > 0 {
			_, key := devnettest.Account(t, d) // any transaction mines a block
			devnettest.Send(t, d, key, common.HexToAddress("0x000000000000000000000000000000000000dEaD"), big.NewInt(1), nil)
		}
		if err := book.Check(ctx); err != nil {
			t.Fatal(err)
		}
		quote, twap := e.ethPrice(t, "300"), twapOfETH()
		if quote.Cmp(level) > 0 || twap.Cmp(level) <= 0 {
			t.Fatalf("check %d: quote %s, TWAP %s, level %s: want the quote across and the TWAP not", i+1, quote.FloatString(2), twap.FloatString(2), level.FloatString(2))
		}
		if o := e.order(t, id); o.Status != orders.Open || o.Done != 0 {
			t.Fatalf("check %d: a pushed price executed the order: %s %s", i+1, o.Status, o.Note)
		}
	}
	if n, _ := e.w.Client().PendingNonce(ctx, e.w.Address()); n != nonce || usdc().Cmp(before) != 0 {
		t.Fatalf("the wallet acted on the pushed price: nonce %d → %d", nonce, n)
	}

	// The price stays there for a window: the TWAP has come down to it.
	if err := d.AdjustTime(pastWindow); err != nil {
		t.Fatal(err)
	}
	if twap := twapOfETH(); twap.Cmp(level) > 0 {
		t.Fatalf("a window on, the TWAP %s is still above the level %s", twap.FloatString(2), level.FloatString(2))
	}
	if err := book.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if o := e.order(t, id); o.Status != orders.Open {
		t.Fatalf("executed at the first block both held: %s", o.Status)
	}
	if err := d.AdjustTime(12 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := book.Check(ctx); err != nil {
		t.Fatal(err)
	}
	o := e.order(t, id)
	if o.Status != orders.Filled || o.LastTx == "" || !strings.Contains(o.Note, "by the TWAP") {
		t.Fatalf("after the price stayed: %s, tx %q, note %q", o.Status, o.LastTx, o.Note)
	}
	if spent := new(big.Int).Sub(before, usdc()); spent.Cmp(big.NewInt(300_000_000)) != 0 {
		t.Errorf("the fill spent %s base units of USDC, want 300 USDC", spent)
	}
}

// With a TWAP configured, an order whose tokens it cannot price is
// refused when placed: its trigger could never be confirmed.
func TestOrderNeedsTWAPWhenConfigured(t *testing.T) {
	e := newBook(t)
	list, err := e.d.Deployment().TokenList()
	if err != nil {
		t.Fatal(err)
	}
	book := dex.NewBook(e.store.Orders(), e.w, e.reg.List(), dex.BookTokenList(list), dex.BookTWAP(twapSource(e.d, e.w.Client())))
	reg := tools.NewRegistry(book.Tools())
	// DEFL trades only in a V2 pair: a route for the swap, no TWAP.
	_, err = reg.Call(t.Context(), "order_place", []byte(`{"kind":"limit","from":"USDC","to":"DEFL","amount":"10","trigger":"DEFL <= 1000"}`))
	if err == nil || !strings.Contains(err.Error(), "no independent price (TWAP) for DEFL") || !strings.Contains(err.Error(), "could never execute") {
		t.Fatalf("placing an order on a token without a TWAP: %v", err)
	}
	if os, _ := e.store.Orders().List(t.Context(), e.w.Client().ChainKey(), e.w.Address().Hex(), false); len(os) != 0 {
		t.Fatalf("the refused order was stored: %+v", os)
	}
	// A DCA has no price trigger, and needs none.
	if _, err := reg.Call(t.Context(), "order_place", []byte(`{"kind":"dca","from":"USDC","to":"DEFL","amount":"10","trigger":"every 1d for 2"}`)); err != nil {
		t.Fatalf("a DCA on a token without a TWAP: %v", err)
	}
}

// The watcher says what its triggers are checked against.
func TestWatcherLogsTriggerSource(t *testing.T) {
	e := newBook(t)
	for _, tc := range []struct {
		name      string
		opts      []dex.BookOption
		want, not string
	}{
		{"quote only", nil, "executable quote only", "and the TWAP"},
		{"with the TWAP", []dex.BookOption{dex.BookTWAP(twapSource(e.d, e.w.Client()))}, "the executable quote and the TWAP", "quote only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			opts := append(tc.opts, dex.BookLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))))
			book := dex.NewBook(e.store.Orders(), e.w, e.reg.List(), opts...)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := book.Run(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("Run: %v", err)
			}
			if log := buf.String(); !strings.Contains(log, tc.want) || strings.Contains(log, tc.not) {
				t.Fatalf("log %q, want %q", log, tc.want)
			}
		})
	}
}
