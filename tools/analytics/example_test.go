package analytics_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/analytics"
)

// The tools without a chain: listed, with their arguments, for a model or
// `mandate tools list`; calling one says what is missing.
func ExampleTools() {
	reg := tools.NewRegistry(analytics.Tools(nil, common.Address{}))
	for _, t := range reg.List() {
		fmt.Println(t.Name())
	}
	_, err := reg.Call(context.Background(), "token_price", []byte(`{"token":"ETH"}`))
	fmt.Println(err)
	// Output:
	// pool_stats
	// token_price
	// tx_explain
	// wallet_history
	// wallet_portfolio
	// no chain is configured
}

// The tools on a devnet, wired as the CLI wires them: the deployment's
// token list, factories, router and contract names; prices from Uniswap V3
// TWAPs against the list's stablecoins, over at least the devnet's
// devnet.OracleAge of oracle history (elsewhere the whole window).
func Example() {
	ctx := context.Background()
	d, err := devnet.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	c, err := evm.NewClient(ctx, d.RPC())
	if err != nil {
		log.Fatal(err)
	}
	dep := d.Deployment()
	list, err := dep.TokenList()
	if err != nil {
		log.Fatal(err)
	}
	weth := dep.Contracts[devnet.WETH]
	f := uniswap.Factories{V2: dep.Contracts[devnet.UniswapV2Factory], V3: dep.Contracts[devnet.UniswapV3Factory], WETH: weth}
	prices := uniswap.NewPriceSource(c, f, []uniswap.Stablecoin{
		{Symbol: "USDC", Address: dep.Contracts[devnet.USDC], Decimals: 6}, {Symbol: "DAI", Address: dep.Contracts[devnet.DAI], Decimals: 18}},
		uniswap.WithMinTWAPWindow(devnet.OracleAge))
	reg := tools.NewRegistry(analytics.Tools(c, dep.Accounts[0].Address,
		analytics.WithTokenList(list),
		analytics.WithFactories(f),
		analytics.WithPriceSource(prices),
		analytics.WithRouter(uniswap.Router02{Address: dep.Contracts[devnet.SwapRouter02], WETH: weth}),
		analytics.WithContracts(dep.Contracts),
		// analytics.WithProgress(os.Stderr) to watch long log scans
	))

	res, err := reg.Call(ctx, "token_price", []byte(`{"token":"USDC"}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Text)

	res, err = reg.Call(ctx, "pool_stats", []byte(`{"token_a":"WETH","token_b":"USDC"}`))
	if err != nil {
		log.Fatal(err)
	}
	stats := res.Data.(analytics.PoolStats)
	fmt.Println(len(stats.Pools), "pools,", stats.Swaps, "swaps (the devnet's trader history)")

	_, err = reg.Call(ctx, "wallet_history", []byte(`{"from_block": 9, "to_block": 3}`))
	fmt.Println(err)
	// Output:
	// USDC: 1.00 USD (pegged: USDC is a configured USD stablecoin, 1 USD by definition).
	// 3 pools, 18 swaps (the devnet's trader history)
	// wallet_history: from_block 9 is after to_block 3; give from_block ≤ to_block
}
