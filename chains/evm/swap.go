package evm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/mandatehq/mandate/policies"
)

// SwapCall is what a DEX router call does, read back from its calldata.
type SwapCall struct {
	Router    common.Address
	TokenIn   common.Address // zero: the native coin, sent as the call's value
	TokenOut  common.Address // zero: the native coin, unwrapped to Recipient
	AmountIn  *big.Int
	MinOut    *big.Int // the floor the router enforces on what Recipient gets
	Recipient common.Address
	Deadline  int64            // unix seconds
	Path      []common.Address // every token the swap passes through, wrapped
}

// SwapDecoder reads a router's calldata back into what it does, so that
// Send can hold a swap intent's call to the intent: the same tokens, amount,
// floor, recipient and deadline. A decoder refuses (with an error) any call
// it does not understand completely; the uniswap package's Router02 is one.
// The wallet sends swaps only through routers it has a decoder for.
type SwapDecoder interface {
	Router() common.Address
	DecodeSwap(call policies.Call) (SwapCall, error)
}

// WithSwapDecoder lets the wallet send swap intents through d's router.
func WithSwapDecoder(d SwapDecoder) WalletOption {
	return func(w *Wallet) { w.swaps = append(w.swaps, d) }
}

// swapCall checks a swap intent's router call against the intent by
// decoding it, and returns the call.
func (w *Wallet) swapCall(x policies.Swap, call policies.Call) error {
	to := common.HexToAddress(call.To)
	var d SwapDecoder
	for _, s := range w.swaps {
		if s.Router() == to {
			d = s
		}
	}
	if d == nil {
		return fmt.Errorf("%w: sending a swap through %s is not supported: no swap decoder for that router is configured (evm.WithSwapDecoder)", ErrNotSendable, to.Hex())
	}
	sc, err := d.DecodeSwap(call)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCallMismatch, err)
	}
	tokenEq := func(t policies.Token, a common.Address) bool {
		if t.Native() {
			return a == (common.Address{})
		}
		return a != (common.Address{}) && addrEq(t.Address, a.Hex())
	}
	rcpt, rerr := parseAddress("recipient", x.Recipient)
	switch {
	case !tokenEq(x.TokenIn, sc.TokenIn):
		return fmt.Errorf("%w: the router call takes %s, the intent says %s", ErrCallMismatch, tokenName(sc.TokenIn), x.TokenIn.Symbol)
	case !tokenEq(x.TokenOut, sc.TokenOut):
		return fmt.Errorf("%w: the router call pays out %s, the intent says %s", ErrCallMismatch, tokenName(sc.TokenOut), x.TokenOut.Symbol)
	case !amountEq(x.AmountIn, sc.AmountIn):
		return fmt.Errorf("%w: the router call puts in %s, the intent says %v", ErrCallMismatch, sc.AmountIn, x.AmountIn)
	case !amountEq(x.MinOut, sc.MinOut):
		return fmt.Errorf("%w: the router call's minimum output is %s, the intent says %v", ErrCallMismatch, sc.MinOut, x.MinOut)
	case rerr != nil || rcpt != sc.Recipient:
		return fmt.Errorf("%w: the router call pays %s, the intent says %s", ErrCallMismatch, sc.Recipient.Hex(), x.Recipient)
	case x.Deadline != sc.Deadline:
		return fmt.Errorf("%w: the router call's deadline is %d, the intent says %d", ErrCallMismatch, sc.Deadline, x.Deadline)
	}
	want := new(big.Int)
	if x.TokenIn.Native() {
		want = x.AmountIn
	}
	if call.Value.Cmp(want) != 0 {
		return fmt.Errorf("%w: the router call sends value %s, the swap puts in %s", ErrCallMismatch, call.Value, want)
	}
	if a := x.Approval; a != nil {
		if _, err := w.approvalCall(x); err != nil {
			return err
		}
	}
	return nil
}

// approvalCall returns the checked allowance call a swap needs first: an
// approve of TokenIn to the router, of at least AmountIn.
func (w *Wallet) approvalCall(x policies.Swap) (policies.Call, error) {
	a := *x.Approval
	if a.Tx == nil {
		return policies.Call{}, fmt.Errorf("%w: the swap's approval carries no call (Tx)", ErrNotSendable)
	}
	switch {
	case a.Chain != x.Chain || !addrEq(a.From, x.From):
		return policies.Call{}, fmt.Errorf("%w: the swap's approval is for another chain or account", ErrCallMismatch)
	case x.TokenIn.Native() || !addrEq(a.Token.Address, x.TokenIn.Address):
		return policies.Call{}, fmt.Errorf("%w: the swap's approval is for token %s, not the token it puts in", ErrCallMismatch, a.Token.Address)
	case x.Tx == nil || !addrEq(a.Spender, x.Tx.To):
		return policies.Call{}, fmt.Errorf("%w: the swap's approval is for spender %s, not the router it calls", ErrCallMismatch, a.Spender)
	case a.Amount == nil || x.AmountIn == nil || a.Amount.Cmp(x.AmountIn) < 0:
		return policies.Call{}, fmt.Errorf("%w: the swap's approval of %v is less than the %v it puts in", ErrCallMismatch, a.Amount, x.AmountIn)
	}
	call, err := w.exactCall(a)
	if err != nil {
		return policies.Call{}, fmt.Errorf("the swap's approval: %w", err)
	}
	return call, nil
}

func tokenName(a common.Address) string {
	if a == (common.Address{}) {
		return "the native coin"
	}
	return a.Hex()
}

// approveFirst sends and mines the allowance a swap needs, unless the
// router already has it. Under an idempotency key the approval is journaled
// as key+"/approve", so a retry finds it rather than approving twice.
func (w *Wallet) approveFirst(ctx context.Context, x policies.Swap, ref sendRef, log *slog.Logger) error {
	if x.Approval == nil {
		return nil
	}
	call, err := w.approvalCall(x)
	if err != nil {
		return err
	}
	token, router := common.HexToAddress(x.TokenIn.Address), common.HexToAddress(x.Approval.Spender)
	have, err := w.c.Allowance(ctx, token, w.addr, router)
	if err != nil {
		return err
	}
	if have.Cmp(x.AmountIn) >= 0 {
		return nil
	}
	key := ""
	if x.Key != "" {
		key = x.Key + "/approve"
		if rec, ok, err := w.j.ByKey(ctx, w.jchain, w.addr.Hex(), key); err != nil {
			return fmt.Errorf("evm: journal lookup of idempotency key: %w", err)
		} else if ok {
			return w.mined(ctx, rec.Hash)
		}
	}
	gas, err := w.Simulate(ctx, call)
	if err != nil {
		return fmt.Errorf("the swap's approval: %w", err)
	}
	tip, feeCap, err := w.Fees(ctx)
	if err != nil {
		return err
	}
	ref.key, ref.awaited = key, true // mined, below, waits for it
	rec, err := w.signAndSend(ctx, call, w.gasLimit(gas), tip, feeCap, ref)
	if err != nil {
		return fmt.Errorf("the swap's approval: %w", err)
	}
	crashPoint("after-approve")
	log.Info("approval sent before swap", slog.String("hash", rec.Hash), slog.Uint64("nonce", rec.Nonce))
	return w.mined(ctx, rec.Hash)
}

// mined waits for a transaction and turns a revert into an error.
func (w *Wallet) mined(ctx context.Context, hash string) error {
	rec, err := w.Wait(ctx, hash)
	if err != nil {
		return fmt.Errorf("the swap's approval %s: %w", hash, err)
	}
	if rec.Status != TxMined {
		return fmt.Errorf("the swap's approval %s ended %s: %s", hash, rec.Status, rec.Error)
	}
	return nil
}

// SimResult is one call of SimulateCalls.
type SimResult struct {
	Gas    uint64
	Return []byte
	Logs   []*types.Log
}

// ErrSimulateUnsupported says the node does not offer eth_simulateV1.
var ErrSimulateUnsupported = errors.New("evm: the node does not support eth_simulateV1")

// SimulateCalls runs calls in order from `from` on top of the latest block,
// each seeing the state the ones before it left, with eth_simulateV1. It
// returns each call's gas, output and logs; the first call that reverts
// ends it with an error naming the call and wrapping its *RevertError.
// This is how a swap that needs an approval first is simulated whole: the
// swap alone would revert for want of the allowance.
func (c *Client) SimulateCalls(ctx context.Context, from common.Address, calls []policies.Call) ([]SimResult, error) {
	msgs := make([]ethereum.CallMsg, len(calls))
	for i, call := range calls {
		m, err := callMsg(from, call)
		if err != nil {
			return nil, err
		}
		msgs[i] = m
	}
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	latest := rpc.BlockNumberOrHashWithNumber(rpc.LatestBlockNumber)
	blocks, err := c.eth.SimulateV1(ctx, ethclient.SimulateOptions{BlockStateCalls: []ethclient.SimulateBlock{{Calls: msgs}}}, &latest)
	if err != nil {
		var re rpc.Error
		if errors.As(err, &re) && re.ErrorCode() == -32601 {
			return nil, ErrSimulateUnsupported
		}
		return nil, c.wrap(ctx, "eth_simulateV1", err)
	}
	if len(blocks) != 1 || len(blocks[0].Calls) != len(calls) {
		return nil, &RPCError{URL: c.url, Method: "eth_simulateV1", Err: fmt.Errorf("answered %d blocks for 1 block of %d calls", len(blocks), len(calls))}
	}
	out := make([]SimResult, len(calls))
	for i, r := range blocks[0].Calls {
		if r.Status != 1 || r.Error != nil {
			var data []byte
			if r.Error != nil && r.Error.Data != "" {
				data, _ = hexutil.Decode(r.Error.Data)
			} else {
				data = r.ReturnValue
			}
			rev := DecodeRevert(data)
			if len(data) == 0 && r.Error != nil && r.Error.Message != "" && r.Error.Message != "execution reverted" {
				return nil, fmt.Errorf("call %d of %d failed in simulation: %s", i+1, len(calls), r.Error.Message)
			}
			return nil, fmt.Errorf("call %d of %d failed in simulation: %w", i+1, len(calls), rev)
		}
		out[i] = SimResult{Gas: r.GasUsed, Return: r.ReturnValue, Logs: r.Logs}
	}
	return out, nil
}
