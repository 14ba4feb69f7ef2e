package uniswap_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
)

// A pool pushed one block before is the "independent" price. A V3 pool
// keeps one oracle observation until someone grows it (every pool starts
// so; most small pools stay so), and a swap in a new block overwrites it.
// The next block, observe([1800, 0]) reverts, finish shortens the window
// to the 12 seconds since the push, and the TWAP is the pushed spot price:
// exactly what swaps.max_loss_bps and the USD limits rest on not being.
// Here one swap of 1 WETH lifts TKN about 4× and, a block later, a swap
// that gives 0.1 ETH (300 USD) for 60 TKN (about 90 USD at the price TKN
// held for the half hour before) must not pass max_loss_bps 300. The
// source is configured as the runtime configures it on a devnet (a minimum
// history of devnet.OracleAge, below the window): the pool's 12 s of
// history fall short of it, so TKN has no price rather than the pushed one.
func TestTWAPOfAPoolPushedOneBlockBefore(t *testing.T) {
	d := devnettest.New(t)
	c := newClient(t, d)
	ctx := t.Context()
	weth, usdc, router := d.Address(devnet.WETH), d.Address(devnet.USDC), d.Address(devnet.SwapRouter02)
	f := uniswap.Factories{V3: d.Address(devnet.UniswapV3Factory), WETH: weth}
	ps := uniswap.NewPriceSource(c, f, []uniswap.Stablecoin{{Symbol: "USDC", Address: usdc, Decimals: 6}}, uniswap.WithMinTWAPWindow(devnet.OracleAge))

	// TKN at 0.0005 WETH (about 1.5 USD) in a pool of 2,000 TKN and 1 WETH,
	// untouched for an hour.
	me := newActor(t, d)
	tkn, err := d.DeployToken(ctx, "Test Token", "TKN", 18, units(1_000_000, 18), me.from)
	if err != nil {
		t.Fatal(err)
	}
	me.call(devnet.WETH, weth, ether(10), "deposit")
	for _, tok := range []common.Address{tkn, weth} {
		me.call("DevnetERC20", tok, nil, "approve", d.Address(devnet.NonfungiblePositionManager), new(big.Int).Lsh(big.NewInt(1), 255))
	}
	me.call(devnet.WETH, weth, nil, "approve", router, ether(10))
	pool := me.newPool(tkn, weth, 3000, ether(2_000), ether(1))
	if err := d.AdjustTime(time.Hour); err != nil {
		t.Fatal(err)
	}
	tknTok := policies.Token{Symbol: "TKN", Address: tkn.Hex(), Decimals: 18}
	fair, err := ps.Quote(ctx, tknTok)
	if err != nil {
		t.Fatal(err)
	}

	// The push: 1 WETH into the pool, then one block.
	me.call(devnet.SwapRouter02, router, nil, "exactInputSingle", exactInputSingle{
		TokenIn: weth, TokenOut: tkn, Fee: big.NewInt(3000), Recipient: me.from,
		AmountIn: ether(1), AmountOutMinimum: new(big.Int), SqrtPriceLimitX96: new(big.Int),
	})
	if err := d.AdjustTime(12 * time.Second); err != nil {
		t.Fatal(err)
	}
	pushed, err := ps.Quote(ctx, tknTok)
	if err != nil && (!errors.Is(err, uniswap.ErrShortOracleHistory) || !strings.Contains(err.Error(), pool.Hex()) || strings.Contains(err.Error(), "\n")) {
		t.Errorf("a block after a push: %v; want ErrShortOracleHistory naming pool %s, on one line", err, pool.Hex())
	}
	if err == nil {
		// Over the 1800 s asked for, 12 s at 4× moves the mean by about 2%.
		limit := new(big.Rat).Mul(fair.USD, big.NewRat(110, 100))
		if pushed.USD.Cmp(limit) > 0 {
			t.Errorf("a block after a push, TKN = %s USD by %q (window %ds); it held %s USD for the hour before: the price source followed the push",
				pushed.USD.FloatString(4), pushed.Source, pushed.Window, fair.USD.FloatString(4))
		}
	}

	// What the policy makes of it.
	p, err := policies.Parse([]byte(`version: 1
chains: [` + c.Chain() + `]
tokens:
  TKN: {chain: ` + c.Chain() + `, address: "` + tkn.Hex() + `", decimals: 18}
limits: {per_tx: {ETH: "10", TKN: "1000000"}}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800, max_loss_bps: 300}
`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	eng := policies.NewEngine(p, policies.NewMemLedger(), policies.WithPrices(ps), policies.WithClock(func() time.Time { return now }))
	wallet := me.from.Hex()
	swap := policies.Swap{
		Header: policies.Header{Chain: c.Chain(), From: wallet}, Venue: "uniswap-v3",
		TokenIn: policies.Token{Symbol: "ETH", Decimals: 18}, AmountIn: big.NewInt(1e17), TokenOut: tknTok,
		Quoted: units(60, 18), MinOut: units(60, 18), Recipient: wallet, SlippageBps: 0, Deadline: now.Unix() + 600,
	}
	if _, err := eng.Decide(context.Background(), swap); err == nil {
		t.Errorf("0.1 ETH for 60 TKN (about %s USD at the hour's price) passed swaps.max_loss_bps 300",
			new(big.Rat).Mul(fair.USD, big.NewRat(60, 1)).FloatString(2))
	}
}
