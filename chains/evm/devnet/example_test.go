package devnet_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mandatehq/mandate/chains/evm/devnet"
)

// Start a devnet, serve it over HTTP, and learn its contracts and tokens the
// way any mandate command pointed at it does: from mandate_deployment.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	d, err := devnet.New(ctx) // WithProgress(os.Stderr) to watch setup
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()

	url, err := d.Serve(ctx, "127.0.0.1:0") // `mandate devnet` uses 127.0.0.1:8545
	if err != nil {
		log.Fatal(err)
	}
	dep, err := devnet.FetchDeployment(ctx, url)
	if err != nil {
		log.Fatal(err)
	}
	usdc, _ := dep.Token("USDC")
	fmt.Println("chain", dep.ChainID, "accounts", len(dep.Accounts))
	fmt.Println(usdc.Symbol, usdc.Decimals, usdc.Address == dep.Contracts[devnet.USDC])
	fmt.Println("has SwapRouter02:", dep.Contracts[devnet.SwapRouter02] == d.Address(devnet.SwapRouter02))
	// Output:
	// chain 1337 accounts 10
	// USDC 6 true
	// has SwapRouter02: true
}
