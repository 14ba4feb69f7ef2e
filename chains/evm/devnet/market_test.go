package devnet_test

import (
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
)

type quoteSingleParams struct {
	TokenIn, TokenOut common.Address
	AmountIn          *big.Int
	Fee               *big.Int
	SqrtPriceLimitX96 *big.Int
}

// quoterCall runs a QuoterV2 method with eth_call and returns its outputs.
func quoterCall(t *testing.T, d *devnet.Devnet, method string, args ...any) []any {
	t.Helper()
	a, err := d.ABI(devnet.QuoterV2)
	if err != nil {
		t.Fatal(err)
	}
	data, err := a.Pack(method, args...)
	if err != nil {
		t.Fatal(err)
	}
	to := d.Address(devnet.QuoterV2)
	out, err := d.Client().CallContract(t.Context(), ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		t.Fatalf("eth_call %s: %v", method, err)
	}
	res, err := a.Unpack(method, out)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// v3Path encodes a V3 path: token, fee (3 bytes), token, ...
func v3Path(tokens []common.Address, fees []uint32) []byte {
	var p []byte
	for i, tok := range tokens {
		p = append(p, tok.Bytes()...)
		if i < len(fees) {
			p = append(p, byte(fees[i]>>16), byte(fees[i]>>8), byte(fees[i]))
		}
	}
	return p
}

// USDC→WETH→DAI (V3 0.05% then V3 0.3%) pays more DAI for 10,000 USDC than
// either direct pool (V3 0.01% and V2), because the deployment leaves the
// direct pools 1.5% off the peg (devnet.DirectUSDCDAIPrice).
func TestTwoHopBeatsDirect(t *testing.T) {
	d := devnettest.Shared(t)
	usdc, weth, dai := d.Address(devnet.USDC), d.Address(devnet.WETH), d.Address(devnet.DAI)
	amountIn := units(10_000, 6)

	res := quoterCall(t, d, "quoteExactInput", v3Path([]common.Address{usdc, weth, dai}, []uint32{500, 3000}), amountIn)
	twoHop := res[0].(*big.Int)

	res = quoterCall(t, d, "quoteExactInputSingle", quoteSingleParams{
		TokenIn: usdc, TokenOut: dai, AmountIn: amountIn, Fee: big.NewInt(100), SqrtPriceLimitX96: new(big.Int),
	})
	directV3 := res[0].(*big.Int)

	amounts := call(t, contract(t, d, devnet.UniswapV2Router02), "getAmountsOut", amountIn, []common.Address{usdc, dai})[0].([]*big.Int)
	directV2 := amounts[len(amounts)-1]

	t.Logf("10,000 USDC → DAI: two-hop V3 %s, direct V3 0.01%% %s, direct V2 %s", twoHop, directV3, directV2)
	for name, direct := range map[string]*big.Int{"V3 0.01%": directV3, "V2": directV2} {
		if twoHop.Cmp(direct) <= 0 {
			t.Errorf("two-hop USDC→WETH→DAI pays %s DAI base units, direct %s pays %s: the direct pool wins", twoHop, name, direct)
		}
	}
	// Sanity: the two-hop route loses about its fees (0.35%) and a little
	// price impact, no more.
	if twoHop.Cmp(units(9_900, 18)) < 0 || twoHop.Cmp(units(10_000, 18)) > 0 {
		t.Errorf("two-hop pays %s DAI base units for 10,000 USDC, want 9,900..10,000 DAI", twoHop)
	}
}

// A large V3 swap on each WETH/USDC pool crosses several initialized ticks.
func TestV3CrossesSeveralTicks(t *testing.T) {
	d := devnettest.Shared(t)
	for _, fee := range []int64{500, 3000} {
		scale := int64(1)
		if fee == 3000 { // wider ranges (tick spacing 60): a larger swap reaches several
			scale = 2
		}
		for _, dir := range []struct {
			in, out  string
			amountIn *big.Int
		}{
			{devnet.WETH, devnet.USDC, units(1_000*scale, 18)},
			{devnet.USDC, devnet.WETH, units(3_000_000*scale, 6)},
		} {
			res := quoterCall(t, d, "quoteExactInputSingle", quoteSingleParams{
				TokenIn: d.Address(dir.in), TokenOut: d.Address(dir.out), AmountIn: dir.amountIn, Fee: big.NewInt(fee), SqrtPriceLimitX96: new(big.Int),
			})
			crossed := res[2].(uint32)
			t.Logf("%s %s→%s on the %d pool crosses %d initialized ticks", dir.amountIn, dir.in, dir.out, fee, crossed)
			if crossed < 3 {
				t.Errorf("%s %s→%s on the %d pool crossed %d initialized ticks, want several", dir.amountIn, dir.in, dir.out, fee, crossed)
			}
		}
	}
}

// The trader's swaps during New are on chain as Swap logs: V2 and V3, both
// directions, spread over several blocks.
func TestSwapHistory(t *testing.T) {
	d := devnettest.Shared(t)
	dep := d.Deployment()
	v2Swap := crypto.Keccak256Hash([]byte("Swap(address,uint256,uint256,uint256,uint256,address)"))
	v3Swap := crypto.Keccak256Hash([]byte("Swap(address,address,int256,int256,uint160,uint128,int24)"))
	trader := common.BytesToHash(devnet.Trader().Bytes())
	var addrs []common.Address
	protocol := map[common.Address]string{}
	for _, p := range dep.Pools {
		addrs = append(addrs, p.Address)
		protocol[p.Address] = p.Protocol
	}
	logs, err := d.Client().FilterLogs(t.Context(), ethereum.FilterQuery{
		FromBlock: big.NewInt(0), Addresses: addrs,
		Topics: [][]common.Hash{{v2Swap, v3Swap}, nil, {trader}},
	})
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[uint64]bool{}
	kinds := map[string]bool{}
	for _, l := range logs {
		blocks[l.BlockNumber] = true
		switch protocol[l.Address] {
		case "uniswap-v2":
			// amount0In > 0: token0 in.
			kinds["v2 "+dirOf(new(big.Int).SetBytes(l.Data[:32]).Sign() > 0)] = true
		case "uniswap-v3":
			kinds["v3 "+dirOf(new(big.Int).SetBytes(l.Data[:32]).Cmp(new(big.Int).Lsh(big.NewInt(1), 255)) < 0)] = true // amount0 > 0: token0 in
		}
	}
	if len(logs) != devnet.HistorySwaps {
		t.Errorf("%d Swap logs to the trader, want %d", len(logs), devnet.HistorySwaps)
	}
	if len(blocks) < 5 {
		t.Errorf("history in %d blocks, want several", len(blocks))
	}
	for _, k := range []string{"v2 0→1", "v2 1→0", "v3 0→1", "v3 1→0"} {
		if !kinds[k] {
			t.Errorf("no %s swap in the history (have %v)", k, kinds)
		}
	}
	// The trader is none of the funded accounts.
	for _, a := range dep.Accounts {
		if a.Address == devnet.Trader() {
			t.Errorf("the trader is funded account %s", a.Address)
		}
	}
}

func dirOf(zeroForOne bool) string {
	if zeroForOne {
		return "0→1"
	}
	return "1→0"
}
