package evm_test

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/policies"
)

// A devnet restarted over the same journal: the first transaction of the
// new chain is byte for byte the first of the old one (same key, nonce,
// call, fees). The wallet sees the chain never had it and sends it, rather
// than refusing it as already journaled or waiting for a nonce gap to fill.
func TestDevnetResetOverSameJournal(t *testing.T) {
	ctx := context.Background()
	j := evm.NewMemJournal()
	_, _, _, eng, _ := devnetWallet(t) // its engine allows native transfers on 1337
	for run := range 2 {
		d := devnettest.New(t)
		acct := d.Accounts()[0]
		c, err := evm.NewClient(ctx, d.RPC())
		if err != nil {
			t.Fatal(err)
		}
		s, err := evm.NewKeySigner(acct.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		w, err := evm.NewWallet(c, s, evm.WithJournal(j), evm.WithPollInterval(10*time.Millisecond),
			evm.WithTipFloor(big.NewInt(1_000_000_000)), evm.WithMaxFeePerGas(big.NewInt(10_000_000_000)))
		if err != nil {
			t.Fatal(err)
		}
		in, err := w.TransferIntent(ctx, d.Accounts()[1].Address, policies.Token{}, big.NewInt(1234))
		if err != nil {
			t.Fatal(err)
		}
		rec, err := w.Send(ctx, mustDecide(t, eng, in))
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if rec, err = w.Wait(ctx, rec.Hash); err != nil || rec.Status != evm.TxMined || rec.Nonce != 0 {
			t.Fatalf("run %d: %+v %v", run, rec, err)
		}
		d.Close()
	}
}
