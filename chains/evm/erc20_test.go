package evm_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/policies"
)

// devnetWallet gives a test its own funded account on the shared devnet
// (real USDC/DAI ERC-20 contracts), a wallet for it and an engine whose
// policy knows the devnet's tokens.
func devnetWallet(t *testing.T) (*devnet.Devnet, *evm.Client, *evm.Wallet, *policies.Engine, *policies.MemLedger) {
	t.Helper()
	ctx := context.Background()
	d := devnettest.Shared(t)
	acct, _ := devnettest.Account(t, d)
	c, err := evm.NewClient(ctx, d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	s, err := evm.NewKeySigner(acct.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	w, err := evm.NewWallet(c, s, evm.WithPollInterval(10*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	y := fmt.Sprintf(`version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "%s", decimals: 6}
  DAI: {chain: 1337, address: "%s", decimals: 18}
limits:
  per_tx: {ETH: "10", USDC: "10000000", DAI: "10000000"}
  daily: {ETH: "100", USDC: "100000000", DAI: "100000000"}
approvals: {max: {USDC: "1000", DAI: "1000"}, unlimited: false}
`, d.Address(devnet.USDC).Hex(), d.Address(devnet.DAI).Hex())
	p, err := policies.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	l := policies.NewMemLedger()
	return d, c, w, policies.NewEngine(p, l), l
}

func TestERC20Info(t *testing.T) {
	ctx := context.Background()
	d, c, _, _, _ := devnetWallet(t)
	for name, want := range map[string]policies.Token{
		devnet.USDC: {Symbol: "USDC", Decimals: 6},
		devnet.DAI:  {Symbol: "DAI", Decimals: 18},
		devnet.WETH: {Symbol: "WETH", Decimals: 18},
	} {
		addr := d.Address(name)
		got, err := c.ERC20Info(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		want.Address = addr.Hex()
		if got != want {
			t.Errorf("%s: %+v, want %+v", name, got, want)
		}
	}
	// An account without code is not a token.
	if _, err := c.Decimals(ctx, common.HexToAddress("0x2222222222222222222222222222222222222222")); err == nil || !strings.Contains(err.Error(), "no contract code") {
		t.Fatalf("err = %v", err)
	}
	// A contract without decimals() reverts: a clear error, not a number.
	if _, err := c.Decimals(ctx, d.Address(devnet.UniswapV2Factory)); err == nil {
		t.Fatal("a factory has decimals?")
	}
}

func TestERC20TransferOnDevnet(t *testing.T) {
	ctx := context.Background()
	d, c, w, eng, ledger := devnetWallet(t)
	usdc, err := c.ERC20Info(ctx, d.Address(devnet.USDC))
	if err != nil {
		t.Fatal(err)
	}
	to, _ := devnettest.Account(t, d)
	amount := big.NewInt(12_500_000) // 12.5 USDC
	before, _ := c.TokenBalance(ctx, d.Address(devnet.USDC), to.Address)

	in, err := w.TransferIntent(ctx, to.Address, usdc, amount)
	if err != nil {
		t.Fatal(err)
	}
	// What the intent says is what its call does.
	dec, err := evm.DecodeCall(w.Chain(), w.Address().Hex(), *in.Tx, func(a string) (policies.Token, bool) { return usdc, a == usdc.Address })
	if err != nil || dec.(policies.Transfer).Amount.Cmp(amount) != 0 || dec.(policies.Transfer).To != to.Address.Hex() {
		t.Fatalf("%+v %v", dec, err)
	}
	rec, err := w.Send(ctx, mustDecide(t, eng, in))
	if err != nil {
		t.Fatal(err)
	}
	if rec, err = w.Wait(ctx, rec.Hash); err != nil || rec.Status != evm.TxMined {
		t.Fatalf("%+v %v", rec, err)
	}
	after, _ := c.TokenBalance(ctx, d.Address(devnet.USDC), to.Address)
	if new(big.Int).Sub(after, before).Cmp(amount) != 0 {
		t.Fatalf("recipient got %s, want %s", new(big.Int).Sub(after, before), amount)
	}

	// More than the wallet holds: refused before anything is decided or signed.
	have, _ := c.TokenBalance(ctx, d.Address(devnet.USDC), w.Address())
	need := new(big.Int).Mul(have, big.NewInt(2))
	nonce, _ := c.PendingNonce(ctx, w.Address())
	_, err = w.TransferIntent(ctx, to.Address, usdc, need)
	var ib *evm.InsufficientBalanceError
	if !errors.As(err, &ib) || ib.Have.Cmp(have) != 0 || ib.Need.Cmp(need) != 0 {
		t.Fatalf("err = %v", err)
	}
	if want := "insufficient USDC balance: have 999987.5, need 1999975"; err.Error() != want {
		t.Fatalf("%q, want %q", err, want)
	}
	if n, _ := c.PendingNonce(ctx, w.Address()); n != nonce {
		t.Fatal("nonce moved")
	}

	// An approved transfer the token refuses: the revert reason comes back,
	// nothing is journaled, the ledger is uncharged.
	data, _ := evm.EncodeTransfer(to.Address, need)
	tooMuch := policies.Transfer{Header: policies.Header{Chain: w.Chain(), From: w.Address().Hex()}, To: to.Address.Hex(),
		Token: usdc, Amount: need, Tx: &policies.Call{To: usdc.Address, Value: new(big.Int), Data: data}}
	_, err = w.Send(ctx, mustDecide(t, eng, tooMuch))
	var rev *evm.RevertError
	if !errors.As(err, &rev) || !strings.Contains(rev.Reason, "transfer amount exceeds balance") {
		t.Fatalf("err = %v", err)
	}
	bucket := "default/1337/" + strings.ToLower(usdc.Address)
	if s, _ := ledger.Spent(ctx, bucket, time.Time{}); s.Cmp(amount) != 0 {
		t.Fatalf("ledger holds %s for USDC, want only the first transfer's %s", s, amount)
	}
	if n, _ := c.PendingNonce(ctx, w.Address()); n != nonce {
		t.Fatal("nonce moved")
	}
}

func TestERC20ApproveOnDevnet(t *testing.T) {
	ctx := context.Background()
	d, c, w, eng, _ := devnetWallet(t)
	dai, err := c.ERC20Info(ctx, d.Address(devnet.DAI))
	if err != nil {
		t.Fatal(err)
	}
	router := d.Address(devnet.UniswapV2Router02)
	amount, _ := policies.ParseUnits("250.5", dai.Decimals)
	in, err := w.ApproveIntent(ctx, dai, router, amount)
	if err != nil {
		t.Fatal(err)
	}
	if in.Unlimited || in.Method != policies.MethodApprove || in.Spender != router.Hex() {
		t.Fatalf("%+v", in)
	}
	rec, err := w.Send(ctx, mustDecide(t, eng, in))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Wait(ctx, rec.Hash); err != nil {
		t.Fatal(err)
	}
	got, err := c.Allowance(ctx, common.HexToAddress(dai.Address), w.Address(), router)
	if err != nil || got.Cmp(amount) != 0 {
		t.Fatalf("allowance %s %v", got, err)
	}

	// An unlimited approval is built as such, and this policy denies it.
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	in, err = w.ApproveIntent(ctx, dai, router, max)
	if err != nil || !in.Unlimited {
		t.Fatalf("%+v %v", in, err)
	}
	if _, err := eng.Decide(ctx, in); err == nil {
		t.Fatal("unlimited approval approved")
	}
}

func mustDecide(t *testing.T, eng *policies.Engine, in policies.Intent) policies.Approval {
	t.Helper()
	ap, err := eng.Decide(context.Background(), in)
	if err != nil {
		t.Fatalf("decide: %v", err)
	}
	return ap
}
