package dex_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/dex"
)

// Wiring the swap tools and standing orders for a wallet on a devnet: the
// wallet gets the router's decoder (it checks every swap's calldata
// against the swap's intent before signing), the tools get the factories,
// the router and the policy's bounds, and the order book executes through
// the same dex_swap. mandate.Open does all of this from a Config.
func Example() {
	ctx := context.Background()
	d, err := devnet.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	store, err := memory.Open(ctx, "sqlite::memory:")
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	dep := d.Deployment()
	factories, router, _ := dep.Uniswap()
	c, _ := evm.NewClient(ctx, d.RPC())
	signer, _ := evm.NewKeySigner(dep.Accounts[0].PrivateKey)
	w, _ := evm.NewWallet(c, signer, evm.WithJournal(store.Journal()), evm.WithSwapDecoder(router))
	p, err := policies.Parse(fmt.Appendf(nil, `version: 1
chains: [1337]
tokens: {USDC: {chain: 1337, address: "%s", decimals: 6}}
limits: {per_tx: {ETH: "1", USDC: "1000"}, daily: {ETH: "2", USDC: "5000"}}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800}
`, dep.Contracts[devnet.USDC].Hex()))
	if err != nil {
		log.Fatal(err)
	}
	list, _ := dep.TokenList()
	swaps := dex.Tools(w, policies.NewEngine(p, store.Ledger()), dex.WithTokenList(list), dex.WithUniswap(factories, router), dex.WithBounds(p))
	book := dex.NewBook(store.Orders(), w, swaps, dex.BookTokenList(list))
	reg := tools.NewRegistry(swaps, book.Tools())
	res, err := reg.Call(ctx, "dex_swap", []byte(`{"from":"ETH","to":"USDC","amount":"0.5"}`))
	if err != nil {
		log.Fatal(err)
	}
	// book.Run(ctx) executes standing orders as their prices come.
	fmt.Println(res.Outcome.Decision, res.Outcome.Tx.Status, res.Outcome.Received.Token)
	// Output: approve mined USDC
}
