// Command transfer is the smallest program that moves tokens through a
// policy with Mandate as a library: a local chain with real contracts, a
// policy written inline, the wallet tools, one transfer the policy allows and
// one it refuses with reasons.
//
//	go run ./examples/transfer
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/wallet"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	// A chain: the devnet here; evm.Dial(ctx, url) for any other.
	d, err := devnet.New(ctx, devnet.WithProgress(os.Stderr))
	if err != nil {
		return err
	}
	defer d.Close()
	dep := d.Deployment()
	client, err := evm.NewClient(ctx, d.RPC())
	if err != nil {
		return err
	}

	// The database keeps the spend ledger, the audit and the journal.
	dir, err := os.MkdirTemp("", "mandate-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store, err := memory.Open(ctx, "sqlite:"+filepath.Join(dir, "mandate.db"))
	if err != nil {
		return err
	}
	defer store.Close()

	// The owner's policy.
	pol, err := policies.Parse([]byte(fmt.Sprintf(`version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "%s", decimals: 6}
limits:
  per_tx: {USDC: "100"}
  daily: {USDC: "500"}
`, d.Address("USDC").Hex())))
	if err != nil {
		return err
	}
	engine := policies.NewEngine(pol, store.Ledger())

	// The wallet signs only what the engine approved.
	signer, err := evm.NewKeySigner(dep.Accounts[0].PrivateKey) // devnet key; use a Keystore otherwise
	if err != nil {
		return err
	}
	w, err := evm.NewWallet(client, signer, evm.WithJournal(store.Journal()))
	if err != nil {
		return err
	}
	list, err := dep.TokenList()
	if err != nil {
		return err
	}
	reg := tools.NewRegistry(wallet.Tools(w, engine, wallet.WithTokenList(list)))

	to := dep.Accounts[1].Address.Hex()
	for _, amount := range []string{"25", "250"} {
		args, _ := json.Marshal(map[string]string{"to": to, "token": "USDC", "amount": amount})
		res, err := reg.Call(ctx, "wallet_transfer", args)
		var denied *policies.Denied
		switch {
		case errors.As(err, &denied):
			fmt.Println("denied:")
			for _, r := range denied.Reasons {
				fmt.Println("  -", r)
			}
		case err != nil:
			return err
		default:
			fmt.Println(res.Text)
		}
	}
	return nil
}
