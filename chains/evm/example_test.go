package evm_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/policies"
)

// Decoding the calldata of a transaction into the intent a policy judges.
func ExampleDecodeCall() {
	usdc := "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
	tokens := func(addr string) (policies.Token, bool) {
		if addr == usdc {
			return policies.Token{Symbol: "USDC", Address: usdc, Decimals: 6}, true
		}
		return policies.Token{}, false
	}
	data, err := evm.EncodeTransfer(common.HexToAddress("0x2222222222222222222222222222222222222222"), big.NewInt(1_500_000))
	if err != nil {
		log.Fatal(err)
	}
	in, err := evm.DecodeCall("1", "0x1111111111111111111111111111111111111111",
		policies.Call{To: usdc, Data: data}, tokens)
	if err != nil {
		log.Fatal(err)
	}
	t := in.(policies.Transfer)
	fmt.Println(t.Kind(), t.Amount, t.Token.Symbol, "to", t.To)

	// Trailing bytes after the arguments are refused, not ignored.
	_, err = evm.DecodeCall("1", "0x1111111111111111111111111111111111111111",
		policies.Call{To: usdc, Data: append(data, 0)}, tokens)
	fmt.Println(err)
	// Output:
	// transfer 1500000 USDC to 0x2222222222222222222222222222222222222222
	// evm: malformed transfer(address,uint256) call: arguments are 65 bytes, want 64 (1 trailing bytes)
}

// A signer prints its address only, never its key.
func ExampleNewKeySigner() {
	s, err := evm.NewKeySigner("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80") // a well-known test key
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%v\n%#v\n", s, s)
	// Output:
	// evm.Signer(0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266, key redacted)
	// evm.Signer(0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266, key redacted)
}

// The path from a transfer request to a mined transaction: build the intent
// from typed arguments and chain state, let the policy decide, send the
// Approval, wait for the receipt.
func ExampleWallet_Send() {
	ctx := context.Background()
	d, err := devnet.New(ctx) // a chain with real contracts; evm.Dial(ctx, url) for any other
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	c, err := evm.NewClient(ctx, d.RPC())
	if err != nil {
		log.Fatal(err) // over HTTP: "RPC http://… is not reachable: …"
	}
	// A devnet key; anywhere else a Keystore's Signer, or NewSigner over a KMS.
	signer, err := evm.NewKeySigner(d.Deployment().Accounts[0].PrivateKey)
	if err != nil {
		log.Fatal(err)
	}
	// Pass memory.Store's journal with evm.WithJournal to survive restarts.
	wal, err := evm.NewWallet(c, signer)
	if err != nil {
		log.Fatal(err)
	}
	if err := wal.Resume(ctx); err != nil { // settle what a previous run left
		log.Fatal(err)
	}

	usdc, err := c.ERC20Info(ctx, d.Address(devnet.USDC))
	if err != nil {
		log.Fatal(err)
	}
	pol, err := policies.Parse(fmt.Appendf(nil, "version: 1\nchains: [1337]\ntokens: {USDC: {chain: 1337, address: %q, decimals: 6}}\nlimits: {per_tx: {USDC: \"100\"}, daily: {USDC: \"500\"}}\n", usdc.Address))
	if err != nil {
		log.Fatal(err)
	}
	eng := policies.NewEngine(pol, policies.NewMemLedger())

	amount, _ := policies.ParseUnits("10", usdc.Decimals)
	in, err := wal.TransferIntent(ctx, common.HexToAddress("0x2222222222222222222222222222222222222222"), usdc, amount)
	var short *evm.InsufficientBalanceError
	if errors.As(err, &short) {
		log.Fatal(err) // "insufficient USDC balance: have 5, need 10"
	}
	if err != nil {
		log.Fatal(err)
	}
	in.Key = "invoice-2024-001" // sent at most once, even if this program runs twice

	ap, err := eng.Decide(ctx, in) // *policies.Denied with reasons, or *policies.Ask
	if err != nil {
		log.Fatal(err)
	}
	rec, err := wal.Send(ctx, ap) // the only way to a signature
	if err != nil {
		log.Fatal(err)
	}
	rec, err = wal.Wait(ctx, rec.Hash)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.Status)
	// Output: mined
}
