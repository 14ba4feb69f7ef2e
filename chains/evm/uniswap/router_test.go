package uniswap_test

import (
	"bytes"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/holiman/uint256"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
)

func (o *onChain) router02() uniswap.Router02 {
	return uniswap.Router02{Address: o.d.Address(devnet.SwapRouter02), WETH: o.d.Address(devnet.WETH)}
}

// TestSwapCallExecutesAsQuoted builds each route's SwapRouter02 call,
// reads it back with DecodeSwap, and runs it (after its approval) on the
// real router with eth_simulateV1 at the block the route was quoted: what
// reaches the recipient equals the local quote exactly.
func TestSwapCallExecutesAsQuoted(t *testing.T) {
	o := newOnChain(t)
	acct, _ := devnettest.Account(t, o.d)
	g, _ := o.discover(t)
	usdc, dai, weth := o.token(t, "USDC"), o.token(t, "DAI"), o.token(t, "WETH")
	r := o.router02()

	// A graph of only the V2 USDC/WETH pair and the V3 WETH/DAI pools
	// forces a mixed route: a V2 run, then a V3 run.
	var mixed []*uniswap.Pool
	for _, p := range g.Pools {
		if (p.Version == uniswap.V2 && (p.Token0 == usdc || p.Token1 == usdc) && (p.Token0 == weth || p.Token1 == weth)) ||
			(p.Version == uniswap.V3 && (p.Token0 == dai || p.Token1 == dai) && (p.Token0 == weth || p.Token1 == weth)) {
			mixed = append(mixed, p)
		}
	}
	mg := uniswap.NewGraph(g.Block, g.WETH, mixed)

	cases := []struct {
		name                string
		g                   *uniswap.Graph
		in, out             common.Address
		amount              string
		nativeIn, nativeOut bool
		wantHops, wantSteps int
	}{
		{"ETH→USDC", g, weth, usdc, "500000000000000000", true, false, 0, 0},
		{"USDC→DAI two hops", g, usdc, dai, "1000000000", false, false, 2, 0},
		{"USDC→ETH", g, usdc, weth, "2500000000", false, true, 1, 0},
		{"WETH→DAI", g, weth, dai, "1000000000000000000", false, false, 0, 0},
		{"USDC→DAI V2 then V3", mg, usdc, dai, "750000000", false, false, 2, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			route, err := tc.g.Best(tc.in, tc.out, uint256.MustFromDecimal(tc.amount), 3)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantHops != 0 && len(route.Hops) != tc.wantHops {
				t.Fatalf("route has %d hops, want %d", len(route.Hops), tc.wantHops)
			}
			quoted := route.AmountOut.ToBig()
			p := uniswap.SwapParams{Recipient: acct.Address, MinOut: quoted, Deadline: time.Now().Add(time.Hour).Unix(), NativeIn: tc.nativeIn, NativeOut: tc.nativeOut}
			call, err := r.SwapCall(route, p)
			if err != nil {
				t.Fatal(err)
			}
			sc, err := r.DecodeSwap(call)
			if err != nil {
				t.Fatal(err)
			}
			wantIn, wantOut := tc.in, tc.out
			if tc.nativeIn {
				wantIn = common.Address{}
			}
			if tc.nativeOut {
				wantOut = common.Address{}
			}
			if sc.TokenIn != wantIn || sc.TokenOut != wantOut || sc.AmountIn.String() != tc.amount || sc.MinOut.Cmp(quoted) != 0 ||
				sc.Recipient != acct.Address || sc.Deadline != p.Deadline || len(sc.Path) != len(route.Hops)+1 {
				t.Fatalf("decoded %+v, built from %+v", sc, p)
			}
			calls := []policies.Call{}
			if !tc.nativeIn {
				approve := append(common.FromHex("0x095ea7b3"), common.LeftPadBytes(r.Address.Bytes(), 32)...)
				approve = append(approve, common.LeftPadBytes(route.AmountIn.Bytes(), 32)...)
				calls = append(calls, policies.Call{To: tc.in.Hex(), Value: new(big.Int), Data: approve})
			}
			calls = append(calls, call)
			res, err := o.c.SimulateCalls(t.Context(), acct.Address, calls)
			if err != nil {
				t.Fatal(err)
			}
			got := r.Received(res[len(res)-1].Logs, wantOut, acct.Address)
			if got.Cmp(quoted) != 0 {
				t.Errorf("received %s, quoted %s", got, quoted)
			}
			// One base unit more than the quote as the floor: the router
			// reverts, so the floor is what it enforces.
			p.MinOut = new(big.Int).Add(quoted, big.NewInt(1))
			tight, _ := r.SwapCall(route, p)
			calls[len(calls)-1] = tight
			if _, err := o.c.SimulateCalls(t.Context(), acct.Address, calls); err == nil {
				t.Errorf("a floor one unit above the quote did not revert")
			}
		})
	}
}

// TestDecodeSwapRefuses tampers with a good call in each way a router call
// could hide something from the intent it is checked against.
func TestDecodeSwapRefuses(t *testing.T) {
	weth, usdc, dai := common.HexToAddress("0x1000000000000000000000000000000000000001"), common.HexToAddress("0x2000000000000000000000000000000000000002"), common.HexToAddress("0x3000000000000000000000000000000000000003")
	me := common.HexToAddress("0x4000000000000000000000000000000000000004")
	r := uniswap.Router02{Address: common.HexToAddress("0x5000000000000000000000000000000000000005"), WETH: weth}
	route := uniswap.Route{AmountIn: uint256.NewInt(1000), Hops: []uniswap.Hop{
		{Version: uniswap.V3, Fee: 500, TokenIn: usdc, TokenOut: weth},
		{Version: uniswap.V2, Fee: 3000, TokenIn: weth, TokenOut: dai},
	}}
	good, err := r.SwapCall(route, uniswap.SwapParams{Recipient: me, MinOut: big.NewInt(990), Deadline: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.DecodeSwap(good); err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(c *policies.Call)) policies.Call {
		c := policies.Call{To: good.To, Value: new(big.Int), Data: bytes.Clone(good.Data)}
		f(&c)
		return c
	}
	for name, c := range map[string]policies.Call{
		"another target":     mutate(func(c *policies.Call) { c.To = usdc.Hex() }),
		"value with a token": mutate(func(c *policies.Call) { c.Value = big.NewInt(1000) }),
		"trailing bytes":     mutate(func(c *policies.Call) { c.Data = append(c.Data, 0) }),
		"short":              mutate(func(c *policies.Call) { c.Data = c.Data[:len(c.Data)-1] }),
		"not multicall":      mutate(func(c *policies.Call) { c.Data[0] ^= 0xff }),
		"no deadline multicall": func() policies.Call {
			c := mutate(func(*policies.Call) {})
			c.Data = append(common.FromHex("0xac9650d8"), c.Data[36:]...) // multicall(bytes[])
			return c
		}(),
		"first step takes balance": func() policies.Call {
			c, _ := r.SwapCall(uniswap.Route{AmountIn: uint256.NewInt(1), Hops: route.Hops}, uniswap.SwapParams{Recipient: me, MinOut: big.NewInt(1), Deadline: 1e9})
			// amountIn 1 → 0: find the word and clear it.
			i := bytes.Index(c.Data, common.LeftPadBytes([]byte{1}, 32))
			c.Data[i+31] = 0
			return c
		}(),
		"intermediate pays out": func() policies.Call {
			c := mutate(func(*policies.Call) {})
			i := bytes.Index(c.Data, common.LeftPadBytes(uniswap.AddressThis.Bytes(), 32))
			copy(c.Data[i:i+32], common.LeftPadBytes(me.Bytes(), 32))
			return c
		}(),
	} {
		if _, err := r.DecodeSwap(c); err == nil {
			t.Errorf("%s: decoded", name)
		} else if !strings.Contains(err.Error(), "SwapRouter02") {
			t.Errorf("%s: error %q does not name the router", name, err)
		}
	}
	if _, err := r.SwapCall(route, uniswap.SwapParams{Recipient: me, MinOut: big.NewInt(0), Deadline: 1e9}); err == nil {
		t.Error("SwapCall built a swap with no floor")
	}
	if _, err := r.SwapCall(route, uniswap.SwapParams{Recipient: uniswap.AddressThis, MinOut: big.NewInt(1), Deadline: 1e9}); err == nil {
		t.Error("SwapCall built a swap that leaves its output in the router")
	}
}
