package dex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// Run checks the open orders at every new block (and DCA schedules as they
// come due) until ctx ends. Orders are read from the store on each check,
// so a watcher started after a restart picks up where the last one
// stopped, and orders placed meanwhile by another process are seen.
func (b *Book) Run(ctx context.Context) error {
	if err := b.ready(); err != nil {
		return err
	}
	if b.twap == nil {
		b.log.Warn("order watcher: limit and stop triggers use the executable quote only, with no independent price (TWAP) to check them against; a price pushed across a level for a few blocks can trigger an order")
	} else {
		b.log.Info("order watcher: limit and stop triggers are checked against the executable quote and the TWAP")
	}
	var last uint64
	t := time.NewTicker(b.poll)
	defer t.Stop()
	for {
		n, err := b.w.Client().BlockNumber(ctx)
		if err != nil && ctx.Err() == nil {
			b.log.Warn("order watcher: no block number", slog.String("error", err.Error()))
		}
		if err == nil && n != last || b.dcaDue(ctx) {
			last = n
			if err := b.Check(ctx); err != nil && ctx.Err() == nil {
				b.log.Warn("order watcher: check failed", slog.String("error", err.Error()))
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (b *Book) dcaDue(ctx context.Context) bool {
	os, err := b.listOrders(ctx, true)
	if err != nil {
		return false
	}
	for _, o := range os {
		if o.Kind == orders.DCA && !b.now().Before(o.NextAt) {
			return true
		}
	}
	return false
}

// Check runs one pass over the open orders: it first records any execution
// the journal holds under an order's next key (sent before a crash, never
// recorded), then executes the orders whose trigger holds at the latest
// block or whose DCA run is due. It returns the first error that stopped a
// pass, not an order's failure, which is recorded on the order.
func (b *Book) Check(ctx context.Context) error {
	if err := b.ready(); err != nil {
		return err
	}
	open, err := b.listOrders(ctx, true) // open and executing
	if err != nil {
		return err
	}
	for i := len(open) - 1; i >= 0; i-- { // oldest first
		if err := ctx.Err(); err != nil {
			return err // stopping: between runs, never inside one
		}
		o, done, err := b.recover(ctx, open[i])
		if err != nil {
			return err
		}
		if done {
			continue
		}
		due, why, err := b.due(ctx, o)
		if err != nil {
			b.log.Warn("order not checked", slog.Int64("order", o.ID), slog.String("error", err.Error()))
			continue
		}
		if due {
			b.execute(ctx, o, why)
		}
	}
	return nil
}

// chainKey names the wallet's chain to the order store: its id and its
// genesis block, so orders of a chain this one replaced (a devnet restarted
// with the same id over the same database) are never listed, executed or
// resumed here.
func (b *Book) chainKey() string { return b.w.Client().ChainKey() }

// listOrders returns the wallet's orders on this chain, newest first (only
// the live ones if asked), once this chain has adopted its orders from
// before genesis was recorded.
func (b *Book) listOrders(ctx context.Context, liveOnly bool) ([]orders.Order, error) {
	b.adopt(ctx)
	return b.store.List(ctx, b.chainKey(), b.w.Address().Hex(), liveOnly)
}

// adopt gives this chain, once, the wallet's orders on its id that were
// placed before orders recorded their chain's genesis (a database from an
// earlier version) and after this chain's genesis block: the chain existed
// when they were placed, so they are its. One placed before this chain
// began was placed on a chain this one replaced, and stays unadopted:
// never shown, never executed. On a public chain, born years ago, every
// such order is adopted; on a devnet restarted since, none. Until the
// genesis block can be read, they wait: nothing is adopted on a guess.
func (b *Book) adopt(ctx context.Context) {
	b.adoptMu.Lock()
	defer b.adoptMu.Unlock()
	if b.adopted {
		return
	}
	born, err := b.genesisTime(ctx)
	if err != nil && ctx.Err() != nil {
		return // stopping: nothing to say
	}
	if err != nil {
		b.log.Warn("orders placed before chains were told apart by genesis are left aside for now", slog.String("error", err.Error()))
		return
	}
	// The genesis timestamp counts whole seconds: an order placed within
	// that second may predate the chain, so it is not taken.
	n, err := b.store.Adopt(ctx, b.chainKey(), b.w.Address().Hex(), born.Add(time.Second))
	if err != nil && ctx.Err() != nil {
		return
	}
	if err != nil {
		b.log.Warn("orders placed before chains were told apart by genesis are left aside for now", slog.String("error", err.Error()))
		return
	}
	b.adopted = true
	if n > 0 {
		b.log.Info("orders placed before chains were told apart by genesis, after this chain began, are taken as this chain's",
			slog.Int("orders", n), slog.String("chain", b.chainKey()))
	}
}

// genesisTime reads when the chain began: the timestamp of its genesis
// block, the one the client named the chain by.
func (b *Book) genesisTime(ctx context.Context) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var blk struct {
		Hash common.Hash    `json:"hash"`
		Time hexutil.Uint64 `json:"timestamp"`
	}
	if err := b.w.Client().RPC().CallContext(ctx, &blk, "eth_getBlockByNumber", "0x0", false); err != nil {
		return time.Time{}, fmt.Errorf("reading the genesis block: %w", err)
	}
	if blk.Hash != b.w.Client().Genesis() {
		return time.Time{}, fmt.Errorf("the node's genesis block is %s, not %s as when it was first asked: the chain behind this RPC changed", blk.Hash.Hex(), b.w.Client().Genesis().Hex())
	}
	return time.Unix(int64(blk.Time), 0), nil
}

// claimGrace is how long a run may stay claimed (executing) with nothing
// in the journal before another pass gives it back to the open orders:
// the watcher that claimed it stopped before sending. Giving it back keeps
// the run's key, so if that watcher was only slow, not gone, the ledger
// lets at most one of the two through under the key: a run is never
// executed twice, at worst it fails and says why.
const claimGrace = time.Hour

// runLimit bounds one run, which is not cut short by the watcher's
// stopping.
const runLimit = 3 * time.Minute

// waitLimit bounds how long a pass waits for a journaled run's receipt, so
// one stuck transaction does not stall every other order.
const waitLimit = 2 * time.Minute

// journaled reports whether anything of the run was sent or may have been:
// the swap under its key, or the approval a swap sends first under
// key+"/approve".
func (b *Book) journaled(ctx context.Context, o orders.Order) (rec evm.TxRecord, swap, any bool, err error) {
	chain := b.w.JournalChain() // the journal names the chain by id and genesis
	rec, swap, err = b.w.Journal().ByKey(ctx, chain, o.Wallet, o.Key())
	if err != nil || swap {
		return rec, swap, swap, err
	}
	_, appr, err := b.w.Journal().ByKey(ctx, chain, o.Wallet, o.Key()+"/approve")
	return rec, false, appr, err
}

// recover records an execution that was sent but not recorded (the process
// stopped in between): the journal holds a transaction under the order's
// next key. It reports whether it recorded one (or one is still pending).
// A run claimed over claimGrace ago with nothing sent is given back to the
// open orders under the same key.
func (b *Book) recover(ctx context.Context, o orders.Order) (orders.Order, bool, error) {
	rec, ok, anything, err := b.journaled(ctx, o)
	if err != nil {
		return o, false, err
	}
	if !ok {
		if o.Status != orders.Executing {
			return o, false, nil
		}
		// In flight here or in another watcher, unless the run is older
		// than a run can last: a run that sent its swap's allowance and
		// then stopped is given back too, and the next pass resumes it
		// under the same key (the wallet waits for the allowance and
		// signs the swap, re-quoted, in place of the one never signed).
		grace := claimGrace
		if anything {
			grace = runLimit + time.Minute
		}
		if b.now().Sub(o.UpdatedAt) < grace {
			return o, true, nil
		}
		back := o
		back.Status = orders.Open
		if err := b.store.Update(ctx, back, o); err != nil {
			return o, true, nil
		}
		return back, false, nil
	}
	wctx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	if !rec.Status.Final() {
		if rec, err = b.w.Wait(wctx, rec.Hash); err != nil && !rec.Status.Final() {
			return o, true, nil // still pending: next pass
		}
	}
	var runErr error
	if rec.Status != evm.TxMined {
		runErr = fmt.Errorf("transaction %s %s: %s", rec.Hash, rec.Status, rec.Error)
	}
	b.record(ctx, o, rec.Hash, "recovered after a restart: transaction "+rec.Hash, runErr)
	return o, true, nil
}

// due reports whether o should execute now, and why.
func (b *Book) due(ctx context.Context, o orders.Order) (bool, string, error) {
	if o.Kind == orders.DCA {
		if b.now().Before(o.NextAt) {
			return false, "", nil
		}
		return true, fmt.Sprintf("DCA run %d of %d", o.Done+1, o.Runs), nil
	}
	cond, err := orders.ParseCondition(o.Trigger, o.From, o.To)
	if err != nil {
		return false, "", err
	}
	out, block, err := b.quoteAt(ctx, o)
	if err != nil {
		return false, "", err
	}
	p := orders.Price(cond.Subject, o.From, o.To, o.Amount, out)
	var twap *big.Rat
	var twapErr error
	if b.twap != nil && cond.Holds(p) { // read outside the lock: it may be a network call
		twap, twapErr = b.twapPrice(ctx, o, cond.Subject)
	}
	b.heldMu.Lock()
	defer b.heldMu.Unlock()
	if !cond.Holds(p) {
		delete(b.held, o.ID)
		return false, "", nil
	}
	if twapErr != nil {
		delete(b.held, o.ID) // not known to hold: the count starts again
		return false, "", twapErr
	}
	if twap != nil && !cond.Holds(twap) {
		delete(b.held, o.ID)
		b.log.Info("order trigger holds by the quote but not by the TWAP; waiting for both", slog.Int64("order", o.ID),
			slog.String("quote", orders.FormatPrice(p)), slog.String("twap", orders.FormatPrice(twap)), slog.Uint64("block", block))
		return false, "", nil
	}
	first, ok := b.held[o.ID]
	if !ok || block < first {
		b.held[o.ID], first = block, block
	}
	if block-first+1 < b.confirm {
		b.log.Info("order trigger holds; waiting for it to hold at more blocks", slog.Int64("order", o.ID), slog.Uint64("since", first), slog.Uint64("block", block))
		return false, "", nil
	}
	delete(b.held, o.ID)
	now := orders.FormatPrice(p)
	if twap != nil {
		now += " by the quote and " + orders.FormatPrice(twap) + " by the TWAP"
	}
	return true, fmt.Sprintf("%s, now %s (held since block %d)", o.Trigger, now, first), nil
}

// nobody declines every confirmation: a standing order runs unattended, so
// an execution the policy wants a person to confirm is refused, not
// waved through.
type nobody struct{}

func (nobody) Approve(context.Context, policies.Intent, []string) (bool, error) { return false, nil }

// execute claims one run of o (open → executing, so a cancel cannot land
// in the middle of it), swaps it through the swap tool under the run's
// idempotency key, and records the outcome.
func (b *Book) execute(ctx context.Context, o orders.Order, why string) {
	// A run that has started finishes even if the watcher is being
	// stopped (the chat closing): cut in half, it would leave the order
	// executing until claimGrace gives it back.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runLimit)
	defer cancel()
	claimed := o
	claimed.Status = orders.Executing
	if err := b.store.Update(ctx, claimed, o); err != nil {
		b.log.Info("order not executed: it changed since it was read", slog.Int64("order", o.ID), slog.String("error", err.Error()))
		return
	}
	o = claimed
	args := map[string]any{"from": tokenArg(o.From), "to": tokenArg(o.To), "amount": policies.DecimalUnits(o.Amount, o.From.Decimals), "idempotency_key": o.Key()}
	if o.SlippageBps != nil {
		args["slippage_bps"] = *o.SlippageBps
	}
	raw, _ := json.Marshal(args)
	b.log.Info("order triggered", slog.Int64("order", o.ID), slog.String("why", why))
	res, err := b.swap.Call(context.WithValue(tools.WithApprover(ctx, nobody{}), bookRun{}, true), raw)
	if err != nil && transient(err) {
		b.log.Warn("order execution will be retried", slog.Int64("order", o.ID), slog.String("error", err.Error()))
		// This call has returned, so nothing of this try is in flight.
		// No swap under the key in the journal: it was not sent, and the
		// next try gets a key of its own (the ledger never reuses one).
		// A swap there: it may have gone out, and recover settles it.
		if _, sent, _, jerr := b.journaled(ctx, o); jerr == nil && !sent {
			back := o
			back.Status, back.Attempt = orders.Open, o.Attempt+1
			if uerr := b.store.Update(ctx, back, o); uerr != nil {
				b.log.Warn("order claim not given back", slog.Int64("order", o.ID), slog.String("error", uerr.Error()))
			}
		}
		return
	}
	hash := ""
	if s, ok := res.Data.(Swap); ok && s.Outcome.Tx != nil {
		hash = s.Outcome.Tx.Hash
	}
	if err != nil && hash == "" {
		// A swap under the key that this call did not report (another
		// watcher's, or one whose outcome this call lost) is settled by
		// recover from the journal, not recorded as a failure here.
		if _, sent, _, jerr := b.journaled(ctx, o); jerr == nil && sent {
			b.log.Warn("order run left to the journal", slog.Int64("order", o.ID), slog.String("error", err.Error()))
			return
		}
	}
	note := res.Text
	if err != nil {
		note = err.Error()
	}
	b.record(ctx, o, hash, why+": "+note, err)
}

// transient reports whether an execution error may pass by itself (the
// node unreachable, a timeout) rather than being the answer (the policy
// refused, the swap reverted, the arguments are wrong). A transient one
// leaves the order as it was, for the next check.
func transient(err error) bool {
	var denied *policies.Denied
	var arg *tools.ArgError
	var rev *evm.RevertError
	var bal *evm.InsufficientBalanceError
	switch {
	case errors.As(err, &denied), errors.As(err, &arg), errors.As(err, &rev), errors.As(err, &bal),
		errors.Is(err, tools.ErrNotConfirmed), errors.Is(err, evm.ErrCallMismatch), errors.Is(err, evm.ErrNotSendable):
		return false
	}
	var rpcErr *evm.RPCError
	return errors.As(err, &rpcErr) || errors.Is(err, context.DeadlineExceeded)
}

// record writes the outcome of one run: a limit or stop order is filled or
// failed; a DCA counts the run either way and schedules the next.
func (b *Book) record(ctx context.Context, o orders.Order, hash, note string, runErr error) {
	read := o
	o.Note, o.Attempt = note, 0
	if hash != "" {
		o.LastTx = hash
	}
	switch {
	case o.Kind == orders.DCA:
		o.Done++
		o.Status = orders.Open
		if o.Done >= o.Runs {
			o.Status = orders.Done
		} else {
			next := o.NextAt.Add(o.Every)
			for !next.After(b.now()) { // runs missed while stopped are skipped, not bunched
				next = next.Add(o.Every)
			}
			o.NextAt = next
		}
	case runErr != nil:
		o.Status = orders.Failed
	default:
		o.Done++
		o.Status = orders.Filled
	}
	if err := b.store.Update(ctx, o, read); err != nil {
		b.log.Warn("order outcome not recorded", slog.Int64("order", o.ID), slog.String("error", err.Error()))
		return
	}
	if runErr != nil {
		b.log.Warn("order execution failed", slog.Int64("order", o.ID), slog.String("error", runErr.Error()))
	} else {
		b.log.Info("order executed", slog.Int64("order", o.ID), slog.String("tx", hash))
	}
	if b.fill != nil {
		b.fill(o, runErr)
	}
}
