package uniswap

import "github.com/ethereum/go-ethereum/common"

// known are Uniswap's own deployments of the contracts a swap uses, from
// Uniswap's and the chains' published address lists. They differ from
// chain to chain: never assume one chain's address on another.
var known = map[int64]struct {
	v2, v3, router, weth string
}{
	1: {"0x5C69bEe701ef814a2B6a3EDD4B1652CB9cc5aA6f", "0x1F98431c8aD98523631AE4a59f267346ea31F984",
		"0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"},
	8453: {"0x8909Dc15e40173Ff4699343b6eB8132c65e18eC6", "0x33128a8fC17869897dcE68Ed026d694621f6FDfD",
		"0x2626664c2603336E57B271c5C0b26F421741e481", "0x4200000000000000000000000000000000000006"},
}

// Known returns Uniswap's factories and SwapRouter02 on a chain it knows
// (Ethereum mainnet and Base); ok is false elsewhere. A devnet reports its
// own (devnet.Deployment.Uniswap).
func Known(chainID int64) (f Factories, r Router02, ok bool) {
	k, ok := known[chainID]
	if !ok {
		return Factories{}, Router02{}, false
	}
	weth := common.HexToAddress(k.weth)
	return Factories{V2: common.HexToAddress(k.v2), V3: common.HexToAddress(k.v3), WETH: weth},
		Router02{Address: common.HexToAddress(k.router), WETH: weth}, true
}
