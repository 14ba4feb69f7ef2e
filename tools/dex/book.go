package dex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/wallet"
)

// Book is one wallet's standing orders: the tools that manage them and the
// watcher that executes them. Executions go through the swap tool given to
// NewBook (dex_swap), never around it.
type Book struct {
	store  orders.Store
	w      *evm.Wallet
	res    *wallet.Resolver
	tokens *tokenlist.List
	quote  tools.Tool
	swap   tools.Tool
	now    func() time.Time
	log    *slog.Logger
	poll   time.Duration
	fill   func(orders.Order, error)

	// confirm is how many blocks a trigger must hold at before a run:
	// with 2, a price pushed across a level inside one block (a sandwich,
	// a flash loan) does not execute the order; moving it for two blocks
	// costs the manipulator the arbitrage in between.
	confirm uint64
	// twap is the independent price a limit or stop trigger must also
	// satisfy; nil: the executable quote alone.
	twap   policies.PriceSource
	heldMu sync.Mutex
	held   map[int64]uint64 // order → first block its trigger held at, while it holds

	adoptMu sync.Mutex
	adopted bool // this chain has taken the orders placed before genesis was recorded that are its
}

// BookOption configures a Book.
type BookOption func(*Book)

// BookTokenList resolves symbols through l (default: the built-in list).
func BookTokenList(l *tokenlist.List) BookOption { return func(b *Book) { b.tokens = l } }

// BookClock sets the clock DCA schedules run on (tests move it by hand).
func BookClock(now func() time.Time) BookOption { return func(b *Book) { b.now = now } }

// BookLogger logs executions and skipped checks to l.
func BookLogger(l *slog.Logger) BookOption { return func(b *Book) { b.log = l } }

// BookPollInterval sets how often Run asks for a new block (default 2s).
func BookPollInterval(d time.Duration) BookOption { return func(b *Book) { b.poll = d } }

// BookConfirmBlocks sets how many distinct blocks a limit or stop trigger
// must hold at before the order executes (default 2; 1 executes at the
// first block it holds).
func BookConfirmBlocks(n uint64) BookOption { return func(b *Book) { b.confirm = max(n, 1) } }

// BookTWAP checks limit and stop triggers against src as well as against
// the executable quote: a trigger holds only when both the quote and the
// price of src (the time-weighted average the policy's swaps.max_loss_bps
// judges by, a *uniswap.PriceSource) satisfy it, at as many blocks as
// BookConfirmBlocks asks. Pushing a pool across the level for a block or
// two moves the quote but hardly the average, so it neither fills the
// order nor starts its count of blocks; a price that stays there moves the
// average too, and the order fills. Orders are placed only for tokens src
// can price. Without it, triggers use the quote alone, and Run logs so.
func BookTWAP(src policies.PriceSource) BookOption { return func(b *Book) { b.twap = src } }

// OnExecute calls f after each execution the watcher records, with the
// order as recorded and the execution's error (nil when it swapped): a chat
// front end tells its owner.
func OnExecute(f func(orders.Order, error)) BookOption { return func(b *Book) { b.fill = f } }

// NewBook returns the standing orders of w's wallet over store. dexTools
// are the tools from Tools for the same wallet: the book prices with their
// dex_quote and executes with their dex_swap, so every execution takes the
// same path through the policy as a swap asked for in chat. With a nil
// wallet the book's tools can be listed but not called.
func NewBook(store orders.Store, w *evm.Wallet, dexTools []tools.Tool, opts ...BookOption) *Book {
	b := &Book{store: store, w: w, now: time.Now, log: slog.New(slog.DiscardHandler), poll: 2 * time.Second, tokens: tokenlist.Default(),
		confirm: 2, held: map[int64]uint64{}}
	for _, t := range dexTools {
		switch t.Name() {
		case "dex_quote":
			b.quote = t
		case "dex_swap":
			b.swap = t
		}
	}
	for _, o := range opts {
		o(b)
	}
	if w != nil {
		b.res = wallet.NewResolver(w.Client(), b.tokens)
	}
	return b
}

func (b *Book) ready() error {
	if b.w == nil || b.store == nil || b.quote == nil || b.swap == nil {
		return fmt.Errorf("%w: standing orders need a wallet, a database and a DEX on this chain", tools.ErrNoWallet)
	}
	return nil
}

// Tools returns order_place, order_list and order_cancel.
func (b *Book) Tools() []tools.Tool {
	return []tools.Tool{
		tools.Func("order_place", "Place a standing order that swaps later through the owner's policy: a limit order or stop-loss that executes when a price crosses a level (trigger like \"ETH <= 2500\": the price of one ETH in the other token), or a DCA that swaps the same amount on a schedule (trigger like \"every 1d for 7\").",
			tools.Schema(map[string]string{
				"kind":         "limit, stop or dca",
				"from":         "token to sell: symbol or address",
				"to":           "token to buy: symbol or address",
				"amount":       "amount of `from` per execution, in token units as a decimal string",
				"trigger":      "limit/stop: \"SYMBOL <= LEVEL\" or \">=\" (price of one SYMBOL, one of the two tokens, in the other); dca: \"every 1d for 7\"",
				"slippage_bps": "optional: slippage for each execution, in basis points",
			}, "kind", "from", "to", "amount", "trigger"), b.place),
		tools.Func("order_list", "List this wallet's standing orders: open ones and recent history.",
			tools.Schema(nil), b.list, tools.ReadOnly()),
		tools.Func("order_cancel", "Cancel an open standing order by its id.",
			tools.Schema(map[string]string{"id": "the order's id, as order_list shows it"}, "id"), b.cancel),
	}
}

type placeArgs struct {
	Kind        string `json:"kind"`
	From        string `json:"from"`
	To          string `json:"to"`
	Amount      string `json:"amount"`
	Trigger     string `json:"trigger"`
	SlippageBps *Bps   `json:"slippage_bps"`
}

func (b *Book) place(ctx context.Context, a placeArgs) (tools.Result, error) {
	if err := b.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "order_place"
	for _, f := range []struct{ n, v string }{{"kind", a.Kind}, {"from", a.From}, {"to", a.To}, {"amount", a.Amount}, {"trigger", a.Trigger}} {
		if err := tools.Require(name, f.n, f.v); err != nil {
			return tools.Result{}, err
		}
	}
	o := orders.Order{Chain: b.w.Chain(), Genesis: b.w.Client().Genesis().Hex(), Wallet: b.w.Address().Hex(), Kind: orders.Kind(strings.ToLower(strings.TrimSpace(a.Kind))), Status: orders.Open}
	if o.Kind != orders.Limit && o.Kind != orders.Stop && o.Kind != orders.DCA {
		return tools.Result{}, tools.Argf(name, "kind %q: use limit, stop or dca", a.Kind)
	}
	var err error
	if o.From, err = b.res.Resolve(ctx, a.From); err != nil {
		return tools.Result{}, tools.Argf(name, "from: %v", err)
	}
	if o.To, err = b.res.Resolve(ctx, a.To); err != nil {
		return tools.Result{}, tools.Argf(name, "to: %v", err)
	}
	if o.Amount, err = policies.ParseUnits(strings.TrimSpace(a.Amount), o.From.Decimals); err != nil {
		return tools.Result{}, tools.Argf(name, "amount %q: %v", a.Amount, err)
	}
	if o.Amount.Sign() == 0 {
		return tools.Result{}, tools.Argf(name, "amount must be greater than zero")
	}
	if a.SlippageBps != nil {
		v := uint32(*a.SlippageBps)
		o.SlippageBps = &v
	}
	var cond orders.Condition
	if o.Kind == orders.DCA {
		if o.Every, o.Runs, err = orders.ParseSchedule(a.Trigger); err != nil {
			return tools.Result{}, tools.Argf(name, "trigger: %v", err)
		}
		o.NextAt = b.now()
		o.Trigger = fmt.Sprintf("every %s for %d", orders.FormatEvery(o.Every), o.Runs)
	} else {
		if cond, err = orders.ParseCondition(a.Trigger, o.From, o.To); err != nil {
			return tools.Result{}, tools.Argf(name, "trigger: %v", err)
		}
		o.Trigger = cond.String()
	}
	// A route must exist now: an order that can never execute is refused
	// when placed, not discovered broken when its price comes.
	q, err := b.quoteOf(ctx, o)
	if err != nil {
		return tools.Result{}, err
	}
	// Likewise the independent price the trigger is also checked against.
	var twap *big.Rat
	if b.twap != nil && o.Kind != orders.DCA {
		if twap, err = b.twapPrice(ctx, o, cond.Subject); err != nil {
			return tools.Result{}, fmt.Errorf("%w; a limit or stop trigger is checked against it, so this order could never execute", err)
		}
	}
	o, err = b.store.Place(ctx, o)
	if err != nil {
		return tools.Result{}, fmt.Errorf("storing the order: %w", err)
	}
	what := fmt.Sprintf("Order #%d placed: %s, swap %s %s for %s %s", o.ID, o.Kind, units(o.Amount, o.From), o.From.Symbol, o.To.Symbol, describe(o))
	if o.Kind != orders.DCA {
		what += " (" + nowText(cond, orders.Price(cond.Subject, o.From, o.To, o.Amount, q), twap) + ")"
	}
	return tools.Result{Text: what + ". Each execution passes the policy like any swap.", Data: o}, nil
}

// nowText says where the trigger of a new order stands: the executable
// price, the independent one when there is one, and whether it already
// holds.
func nowText(cond orders.Condition, quote, twap *big.Rat) string {
	if twap == nil {
		s := "now " + orders.FormatPrice(quote)
		if cond.Holds(quote) {
			s += "; that already holds, so it executes at the next check"
		}
		return s
	}
	s := fmt.Sprintf("now %s by the quote and %s by the TWAP", orders.FormatPrice(quote), orders.FormatPrice(twap))
	switch q, t := cond.Holds(quote), cond.Holds(twap); {
	case q && t:
		s += "; that already holds, so it executes at the next checks"
	case q || t:
		s += "; it executes once both hold"
	}
	return s
}

// twapPrice is the price of one whole subject token in the other by the
// independent price source (BookTWAP).
func (b *Book) twapPrice(ctx context.Context, o orders.Order, subject string) (*big.Rat, error) {
	from, err := b.twap.PriceUSD(ctx, o.Chain, o.From)
	if err != nil {
		return nil, fmt.Errorf("no independent price (TWAP) for %s: %w", o.From.Symbol, err)
	}
	to, err := b.twap.PriceUSD(ctx, o.Chain, o.To)
	if err != nil {
		return nil, fmt.Errorf("no independent price (TWAP) for %s: %w", o.To.Symbol, err)
	}
	p := orders.PriceFromUSD(subject, o.From, o.To, from.USD, to.USD)
	if p == nil {
		return nil, fmt.Errorf("no independent price (TWAP) for %s in %s: the price source gave a price that is not positive", o.From.Symbol, o.To.Symbol)
	}
	return p, nil
}

func describe(o orders.Order) string {
	if o.Kind == orders.DCA {
		return fmt.Sprintf("%s, starting now", o.Trigger)
	}
	return "when " + o.Trigger
}

func units(v *big.Int, t policies.Token) string { return policies.FormatUnits(v, t.Decimals) }

// tokenArg is how an order names a token to the dex tools: by address, so
// a token list that changes cannot redirect it; ETH by symbol.
func tokenArg(t policies.Token) string {
	if t.Native() {
		return wallet.NativeSymbol
	}
	return t.Address
}

// quoteOf prices one execution of o with the quote tool; it returns the
// quoted output in base units of o.To.
func (b *Book) quoteOf(ctx context.Context, o orders.Order) (*big.Int, error) {
	v, _, err := b.quoteAt(ctx, o)
	return v, err
}

// quoteAt is quoteOf with the block the quote was read at.
func (b *Book) quoteAt(ctx context.Context, o orders.Order) (*big.Int, uint64, error) {
	args, _ := json.Marshal(map[string]string{"from": tokenArg(o.From), "to": tokenArg(o.To), "amount": policies.DecimalUnits(o.Amount, o.From.Decimals)})
	res, err := b.quote.Call(ctx, args)
	if err != nil {
		return nil, 0, err
	}
	q, ok := res.Data.(*Quote)
	if !ok {
		return nil, 0, fmt.Errorf("orders: the quote tool answered %T, not a dex quote", res.Data)
	}
	v, ok := new(big.Int).SetString(q.QuotedBase, 10)
	if !ok || v.Sign() <= 0 {
		return nil, 0, fmt.Errorf("orders: the quote tool answered an output of %q", q.QuotedBase)
	}
	return v, q.Block, nil
}

func (b *Book) list(ctx context.Context, _ struct{}) (tools.Result, error) {
	if err := b.ready(); err != nil {
		return tools.Result{}, err
	}
	os, err := b.listOrders(ctx, false)
	if err != nil {
		return tools.Result{}, err
	}
	if len(os) == 0 {
		return tools.Result{Text: "No standing orders." + b.elsewhere(ctx), Data: []orders.Order{}}, nil
	}
	lines := make([]string, len(os))
	for i, o := range os {
		lines[i] = fmt.Sprintf("#%d %s %s: %s %s → %s %s", o.ID, o.Status, o.Kind, units(o.Amount, o.From), o.From.Symbol, o.To.Symbol, describe(o))
		if o.Kind == orders.DCA {
			lines[i] += fmt.Sprintf(" (%d of %d done", o.Done, o.Runs)
			if o.Status == orders.Open {
				lines[i] += ", next " + o.NextAt.UTC().Format(time.RFC3339)
			}
			lines[i] += ")"
		}
		if o.LastTx != "" {
			lines[i] += "; last tx " + o.LastTx
		}
		if o.Note != "" && o.Status == orders.Failed {
			lines[i] += "; " + o.Note
		}
	}
	return tools.Result{Text: strings.Join(lines, "\n") + b.elsewhere(ctx), Data: os}, nil
}

// elsewhere says, after a list, that open orders of another chain with
// this id (a devnet restarted over the same database) exist and are not
// shown; "" when there are none.
func (b *Book) elsewhere(ctx context.Context) string {
	n, err := b.store.Elsewhere(ctx, b.chainKey(), b.w.Address().Hex())
	if err != nil || n == 0 {
		return ""
	}
	return fmt.Sprintf("\n(%d open order(s) placed on another chain with id %s, one with another genesis block such as a devnet since restarted, are kept but neither shown nor executed here.)", n, b.w.Chain())
}

func (b *Book) cancel(ctx context.Context, a struct {
	ID json.RawMessage `json:"id"`
}) (tools.Result, error) {
	if err := b.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "order_cancel"
	raw := strings.Trim(strings.TrimSpace(string(a.ID)), `"#`)
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return tools.Result{}, tools.Argf(name, "id %s is not an order id; order_list shows them", a.ID)
	}
	b.adopt(ctx)
	o, err := b.store.Get(ctx, b.chainKey(), b.w.Address().Hex(), id)
	if errors.Is(err, orders.ErrNotFound) {
		return tools.Result{}, tools.Argf(name, "this wallet has no order #%d on this chain", id)
	}
	if err != nil {
		return tools.Result{}, err
	}
	switch o.Status {
	case orders.Open:
	case orders.Executing:
		return tools.Result{}, fmt.Errorf("order #%d is executing a run right now, so it cannot be cancelled in the middle; try again once the run is recorded (order_list shows it)", id)
	default:
		return tools.Result{}, tools.Argf(name, "order #%d is already %s", id, o.Status)
	}
	read := o
	o.Status, o.Note = orders.Cancelled, "cancelled by the owner"
	if err := b.store.Update(ctx, o, read); errors.Is(err, orders.ErrConflict) {
		return tools.Result{}, fmt.Errorf("order #%d changed while cancelling (a run may have just started or finished); order_list shows where it stands", id)
	} else if err != nil {
		return tools.Result{}, err
	}
	return tools.Result{Text: fmt.Sprintf("Order #%d cancelled.", id), Data: o}, nil
}
