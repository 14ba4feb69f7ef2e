// Package devnettest gives tests a devnet cheaply.
//
// Starting a devnet (devnet.New) costs about a second of CPU: it deploys and
// funds every contract with real transactions. Most tests should share one
// per test binary with Shared and take their own funded account with Account,
// so their balance assertions do not depend on other tests. Tests that need a
// pristine chain (fixed nonces of the standard accounts, block numbers, time
// travel with AdjustTime) pay for their own with New.
//
//	func TestSwap(t *testing.T) {
//		d := devnettest.Shared(t)
//		acct, key := devnettest.Account(t, d)
//		...
//	}
//
// The first use on a machine installs the pinned npm packages and compiles
// the devnet's own contracts (see devnet.EnsureArtifacts); node and npm must
// be installed for that, and the test fails with a clear message otherwise.
package devnettest

import (
	"context"
	"crypto/ecdsa"
	"math/big"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
)

var (
	sharedOnce sync.Once
	shared     *devnet.Devnet
	sharedErr  error
)

// Shared returns the devnet shared by all tests of the test binary, started
// on first use and never closed (it goes away with the process). Other tests
// send transactions on it concurrently: do not assert on the balances or
// nonces of Deployment().Accounts there, use Account.
func Shared(t testing.TB) *devnet.Devnet {
	t.Helper()
	sharedOnce.Do(func() {
		shared, sharedErr = devnet.New(context.Background())
	})
	if sharedErr != nil {
		t.Fatalf("devnettest: shared devnet: %v", sharedErr)
	}
	return shared
}

// New starts a devnet for this test alone and closes it when the test ends.
func New(t testing.TB, opts ...devnet.Option) *devnet.Devnet {
	t.Helper()
	d, err := devnet.New(context.Background(), opts...)
	if err != nil {
		t.Fatalf("devnettest: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Account returns a fresh account on d, funded like the standard ones
// (devnet.AccountETH, AccountUSDC, ...), that no other test uses.
func Account(t testing.TB, d *devnet.Devnet) (devnet.Account, *ecdsa.PrivateKey) {
	t.Helper()
	a, err := d.NewAccount(context.Background())
	if err != nil {
		t.Fatalf("devnettest: %v", err)
	}
	k, err := a.Key()
	if err != nil {
		t.Fatalf("devnettest: %v", err)
	}
	return a, k
}

// Wallet returns a wallet over a freshly funded account of d (see Account),
// with opts (a journal, a poll interval). Tests that each need a wallet of
// their own on a shared devnet start here.
func Wallet(t testing.TB, d *devnet.Devnet, opts ...evm.WalletOption) (*evm.Wallet, devnet.Account) {
	t.Helper()
	acct, _ := Account(t, d)
	c, err := evm.NewClient(context.Background(), d.RPC())
	if err != nil {
		t.Fatalf("devnettest: %v", err)
	}
	s, err := evm.NewKeySigner(acct.PrivateKey)
	if err != nil {
		t.Fatalf("devnettest: %v", err)
	}
	w, err := evm.NewWallet(c, s, opts...)
	if err != nil {
		t.Fatalf("devnettest: %v", err)
	}
	return w, acct
}

// Send signs a transaction with key directly (as a third party would: no
// wallet, no policy), sends it with estimated gas and waits for its
// receipt, failing the test if it reverts. Tests use it for the world
// around the code under test: other traders, other Safe owners.
func Send(t testing.TB, d *devnet.Devnet, key *ecdsa.PrivateKey, to common.Address, value *big.Int, data []byte) *types.Receipt {
	t.Helper()
	r := SendGas(t, d, key, to, value, data, 0)
	if r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("devnettest: transaction %s reverted", r.TxHash.Hex())
	}
	return r
}

// SendGas is Send with a gas limit (0: estimated, with a margin) that
// returns the receipt whatever its status, for tests of reverted
// transactions.
func SendGas(t testing.TB, d *devnet.Devnet, key *ecdsa.PrivateKey, to common.Address, value *big.Int, data []byte, gas uint64) *types.Receipt {
	t.Helper()
	ctx := context.Background()
	ec := d.Client()
	from := crypto.PubkeyToAddress(key.PublicKey)
	if value == nil {
		value = new(big.Int)
	}
	nonce, err := ec.PendingNonceAt(ctx, from)
	if err != nil {
		t.Fatalf("devnettest: nonce: %v", err)
	}
	if gas == 0 {
		est, err := ec.EstimateGas(ctx, ethereum.CallMsg{From: from, To: &to, Value: value, Data: data})
		if err != nil {
			t.Fatalf("devnettest: estimate gas: %v", err)
		}
		gas = est + est/2
	}
	head, err := ec.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatalf("devnettest: head: %v", err)
	}
	tip := big.NewInt(1e9)
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(big.NewInt(devnet.ChainID)), &types.DynamicFeeTx{
		ChainID: big.NewInt(devnet.ChainID), Nonce: nonce, GasTipCap: tip,
		GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip),
		Gas:       gas, To: &to, Value: value, Data: data,
	})
	if err != nil {
		t.Fatalf("devnettest: sign: %v", err)
	}
	if err := ec.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("devnettest: send: %v", err)
	}
	r, err := d.WaitMined(ctx, tx.Hash())
	if err != nil {
		t.Fatalf("devnettest: wait: %v", err)
	}
	return r
}
