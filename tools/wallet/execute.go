package wallet

import (
	"context"
	"errors"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// Sender is w as a tools.Sender: the wallet the tools' Executor hands
// approvals to.
func Sender(w *evm.Wallet) tools.Sender { return sender{w} }

type sender struct{ w *evm.Wallet }

func (s sender) Simulate(ctx context.Context, call policies.Call) (uint64, error) {
	return s.w.Simulate(ctx, call)
}

func (s sender) Send(ctx context.Context, ap policies.Approval) (tools.Tx, error) {
	rec, err := s.w.Send(ctx, ap)
	return TxOf(rec), err
}

// SendAwaited is Send for the Executor that waits for the receipt next
// (see evm.Wallet.SendAwaited).
func (s sender) SendAwaited(ctx context.Context, ap policies.Approval) (tools.Tx, error) {
	rec, err := s.w.SendAwaited(ctx, ap)
	return TxOf(rec), err
}

func (s sender) Wait(ctx context.Context, hash string) (tools.Tx, error) {
	rec, err := s.w.Wait(ctx, hash)
	return TxOf(rec), err
}

func (s sender) ByKey(ctx context.Context, key string) (tools.Tx, bool, error) {
	rec, ok, err := s.w.ByKey(ctx, key)
	if err != nil {
		if _, failed := errors.AsType[*evm.KeyFailedError](err); failed {
			return TxOf(rec), ok, err
		}
		return tools.Tx{}, ok, err
	}
	return TxOf(rec), ok, nil
}

// TxOf is a journaled transaction as tools report it.
func TxOf(r evm.TxRecord) tools.Tx {
	return tools.Tx{Hash: r.Hash, Nonce: r.Nonce, Status: string(r.Status), Block: r.Block, Error: r.Error,
		Final: r.Status.Final(), Action: r.Action}
}
