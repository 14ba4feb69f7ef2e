package devnet

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"fmt"
	"math"
	"math/big"
	"sort"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/params"
)

// Mainnet init-code hashes. The v2 router and library, the v3 position
// manager and routers compute pair and pool addresses from these; a factory
// built from other creation code would leave them pointing at empty addresses.
var (
	UniswapV2PairInitCodeHash = common.HexToHash("0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f")
	UniswapV3PoolInitCodeHash = common.HexToHash("0xe34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54")
)

func checkInitCodeHashes(arts artifactSet) error {
	for _, c := range []struct {
		name string
		want common.Hash
	}{
		{"UniswapV2Pair", UniswapV2PairInitCodeHash},
		{"UniswapV3Pool", UniswapV3PoolInitCodeHash},
	} {
		if got := arts[c.name].InitCodeHash(); got != c.want {
			return fmt.Errorf("devnet: %s init-code hash is %s, mainnet's is %s: the artifact is not the published build, routers would derive wrong pool addresses", c.name, got.Hex(), c.want.Hex())
		}
	}
	return nil
}

// V2PairAddress is the CREATE2 address of the Uniswap V2 pair of two tokens.
func V2PairAddress(factory, tokenA, tokenB common.Address) common.Address {
	t0, t1 := sortTokens(tokenA, tokenB)
	salt := crypto.Keccak256Hash(t0.Bytes(), t1.Bytes())
	return crypto.CreateAddress2(factory, salt, UniswapV2PairInitCodeHash.Bytes())
}

// V3PoolAddress is the CREATE2 address of the Uniswap V3 pool of two tokens
// and a fee.
func V3PoolAddress(factory, tokenA, tokenB common.Address, fee uint32) common.Address {
	t0, t1 := sortTokens(tokenA, tokenB)
	salt := crypto.Keccak256Hash(
		common.LeftPadBytes(t0.Bytes(), 32),
		common.LeftPadBytes(t1.Bytes(), 32),
		common.LeftPadBytes(big.NewInt(int64(fee)).Bytes(), 32),
	)
	return crypto.CreateAddress2(factory, salt, UniswapV3PoolInitCodeHash.Bytes())
}

func sortTokens(a, b common.Address) (common.Address, common.Address) {
	if bytes.Compare(a.Bytes(), b.Bytes()) < 0 {
		return a, b
	}
	return b, a
}

// txBatch sends transactions from one key with consecutive nonces, each gas
// limit estimated against the latest block, so transactions that do not
// depend on each other go out together and land in few blocks. The first
// error sticks: later calls do nothing and mine/wait return it.
type txBatch struct {
	d      *Devnet
	ctx    context.Context
	key    *ecdsa.PrivateKey
	from   common.Address
	nonce  uint64
	signer types.Signer
	tip    *big.Int
	feeCap *big.Int
	order  []common.Hash
	what   map[common.Hash]string
	err    error
}

func (d *Devnet) newBatch(ctx context.Context, key *ecdsa.PrivateKey) *txBatch {
	b := &txBatch{
		d: d, ctx: ctx, key: key,
		from:   crypto.PubkeyToAddress(key.PublicKey),
		signer: types.LatestSignerForChainID(big.NewInt(ChainID)),
		tip:    big.NewInt(params.GWei),
		what:   map[common.Hash]string{},
	}
	b.nonce, b.err = d.client.PendingNonceAt(ctx, b.from)
	if b.err == nil {
		head := d.eth.BlockChain().CurrentBlock()
		b.feeCap = new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(4)), big.NewInt(10*params.GWei))
	}
	return b
}

// send signs and sends a transaction; gas 0 means estimate it.
func (b *txBatch) send(what string, to *common.Address, value *big.Int, data []byte, gas uint64) {
	if b.err != nil {
		return
	}
	if value == nil {
		value = new(big.Int)
	}
	if gas == 0 {
		est, err := b.d.client.EstimateGas(b.ctx, ethereum.CallMsg{From: b.from, To: to, Value: value, Data: data})
		if err != nil {
			b.err = fmt.Errorf("devnet: %s: estimate gas: %w", what, err)
			return
		}
		gas = min(est+est/4+30_000, params.MaxTxGas)
	}
	tx, err := types.SignNewTx(b.key, b.signer, &types.DynamicFeeTx{
		ChainID: big.NewInt(ChainID), Nonce: b.nonce, GasTipCap: b.tip, GasFeeCap: b.feeCap,
		Gas: gas, To: to, Value: value, Data: data,
	})
	if err != nil {
		b.err = fmt.Errorf("devnet: %s: sign: %w", what, err)
		return
	}
	if err := b.d.client.SendTransaction(b.ctx, tx); err != nil {
		b.err = fmt.Errorf("devnet: %s: send: %w", what, err)
		return
	}
	b.nonce++
	b.order = append(b.order, tx.Hash())
	b.what[tx.Hash()] = what
}

// deploy sends a contract creation and returns the address it will have.
func (b *txBatch) deploy(what string, art *Artifact, args ...any) common.Address {
	addr := crypto.CreateAddress(b.from, b.nonce)
	if b.err != nil {
		return addr
	}
	input, err := art.ABI.Pack("", args...)
	if err != nil {
		b.err = fmt.Errorf("devnet: %s: constructor arguments: %w", what, err)
		return addr
	}
	b.send("deploy "+what, nil, nil, append(bytes.Clone(art.Bytecode), input...), 0)
	return addr
}

func (b *txBatch) call(what string, to common.Address, a *Artifact, method string, value *big.Int, args ...any) {
	b.callGas(what, 0, to, a, method, value, args...)
}

// callGas is call with a fixed gas limit, for a transaction whose estimate
// would depend on one not yet mined.
func (b *txBatch) callGas(what string, gas uint64, to common.Address, a *Artifact, method string, value *big.Int, args ...any) {
	if b.err != nil {
		return
	}
	data, err := a.ABI.Pack(method, args...)
	if err != nil {
		b.err = fmt.Errorf("devnet: %s: %s arguments: %w", what, method, err)
		return
	}
	b.send(what, &to, value, data, gas)
}

// mine seals blocks until every transaction sent is in one, and checks
// they all succeeded. Only for use before auto-mining starts.
func (b *txBatch) mine() error {
	if b.err != nil {
		return b.err
	}
	left := len(b.order)
	for empty := 0; left > 0; {
		if err := b.ctx.Err(); err != nil {
			return err
		}
		blk := b.d.seal()
		if blk == nil || len(blk.Transactions()) == 0 {
			if empty++; empty > 3 {
				return fmt.Errorf("devnet: %d deployment transactions were not mined", left)
			}
			continue
		}
		receipts := b.d.eth.BlockChain().GetReceiptsByHash(blk.Hash())
		for i, tx := range blk.Transactions() {
			what, ok := b.what[tx.Hash()]
			if !ok {
				continue
			}
			left--
			if receipts[i].Status != types.ReceiptStatusSuccessful {
				return fmt.Errorf("devnet: %s: transaction %s reverted", what, tx.Hash().Hex())
			}
		}
	}
	b.order, b.what = nil, map[common.Hash]string{}
	return nil
}

// wait waits for the receipts of every transaction sent (auto-mining mines
// them) and checks they all succeeded.
func (b *txBatch) wait() error {
	if b.err != nil {
		return b.err
	}
	for _, h := range b.order {
		r, err := waitMined(b.ctx, b.d.client, h)
		if err != nil {
			return fmt.Errorf("devnet: %s: %w", b.what[h], err)
		}
		if r.Status != types.ReceiptStatusSuccessful {
			return fmt.Errorf("devnet: %s: transaction %s reverted", b.what[h], h.Hex())
		}
	}
	b.order, b.what = nil, map[common.Hash]string{}
	return nil
}

// v3MintParams is NonfungiblePositionManager.mint's argument.
type v3MintParams struct {
	Token0, Token1                 common.Address
	Fee, TickLower, TickUpper      *big.Int
	Amount0Desired, Amount1Desired *big.Int
	Amount0Min, Amount1Min         *big.Int
	Recipient                      common.Address
	Deadline                       *big.Int
}

// v3Position is a liquidity position to mint: amounts are the desired
// amounts of the pool's token A and B; ticks around the price is the half
// width of a concentrated range, 0 for full range.
type v3Position struct {
	amountA, amountB *big.Int
	ticks            int
}

type v3Spec struct {
	a, b      string
	fee       uint32
	priceA    *big.Int // raw units of B per priceUnit raw units of A; with priceUnit this sets the pool price
	priceUnit *big.Int
	positions []v3Position
}

type v2Spec struct {
	a, b             string
	amountA, amountB *big.Int
}

var (
	v2Pairs = []v2Spec{
		{WETH, USDC, ether(10_000), units(30_000_000, 6)},
		{WETH, DAI, ether(10_000), units(30_000_000, 18)},
		{USDC, DAI, units(10_000_000, 6), units(10_000_000, 18)},
		{DEFL, WETH, units(1_000_000, 18), ether(100)},
	}
	v3Pools = []v3Spec{
		{WETH, USDC, 500, units(3_000, 6), ether(1), []v3Position{
			{ether(5_000), units(15_000_000, 6), 0},
			{ether(1_000), units(3_000_000, 6), 1_000}, // about ±10%
		}},
		{WETH, USDC, 3000, units(3_000, 6), ether(1), []v3Position{
			{ether(2_000), units(6_000_000, 6), 0},
			{ether(500), units(1_500_000, 6), 2_400}, // about ±27%
		}},
		{USDC, DAI, 100, units(1, 18), units(1, 6), []v3Position{
			{units(5_000_000, 6), units(5_000_000, 18), 0},
			{units(2_000_000, 6), units(2_000_000, 18), 50}, // about ±0.5%
		}},
		{WETH, DAI, 3000, units(3_000, 18), ether(1), []v3Position{
			{ether(2_000), units(6_000_000, 18), 0},
		}},
	}
)

func tickSpacing(fee uint32) int {
	switch fee {
	case 100:
		return 1
	case 500:
		return 10
	case 3000:
		return 60
	}
	return 200
}

const maxTick = 887272

// sqrtPriceX96 is floor(sqrt(amount1/amount0) * 2^96), the pool price
// encoding, computed exactly.
func sqrtPriceX96(amount0, amount1 *big.Int) *big.Int {
	num := new(big.Int).Lsh(amount1, 192)
	return num.Sqrt(num.Quo(num, amount0))
}

// priceTick is the tick at price amount1/amount0 (approximate; only used
// to centre concentrated ranges).
func priceTick(amount0, amount1 *big.Int) int {
	r, _ := new(big.Float).Quo(new(big.Float).SetInt(amount1), new(big.Float).SetInt(amount0)).Float64()
	return int(math.Floor(math.Log(r) / math.Log(1.0001)))
}

func floorTo(x, m int) int {
	q := x / m
	if x%m != 0 && x < 0 {
		q--
	}
	return q * m
}

// deploy deploys and funds everything, in three rounds of independent
// transactions, then checks what it built.
func (d *Devnet) deploy(ctx context.Context) (*Deployment, error) {
	a := d.arts
	b := d.newBatch(ctx, d.deployerKey)
	me := b.from
	c := map[string]common.Address{}

	// Round 1: every contract. Constructors only store addresses, so they
	// need no other contract to exist yet.
	c[WETH] = b.deploy(WETH, a["WETH9"])
	c[USDC] = b.deploy(USDC, a["DevnetERC20"], "USD Coin", "USDC", uint8(6), units(1_000_000_000_000, 6), me)
	c[DAI] = b.deploy(DAI, a["DevnetERC20"], "Dai Stablecoin", "DAI", uint8(18), units(1_000_000_000_000, 18), me)
	c[DEFL] = b.deploy(DEFL, a["DeflatingERC20"], units(1_000_000_000, 18))
	c[UniswapV2Factory] = b.deploy(UniswapV2Factory, a["UniswapV2Factory"], me)
	c[UniswapV2Router02] = b.deploy(UniswapV2Router02, a["UniswapV2Router02"], c[UniswapV2Factory], c[WETH])
	c[UniswapV3Factory] = b.deploy(UniswapV3Factory, a["UniswapV3Factory"])
	// v3-core 1.0.1 knows fees 500, 3000 and 10000; governance enabled 100
	// (tick spacing 1) on mainnet later, and so does the devnet. The factory
	// is created earlier in the same block, so the gas is fixed, not estimated.
	b.callGas("enable V3 fee 100", 100_000, c[UniswapV3Factory], a["UniswapV3Factory"], "enableFeeAmount", nil, big.NewInt(100), big.NewInt(1))
	c[NonfungiblePositionManager] = b.deploy(NonfungiblePositionManager, a["NonfungiblePositionManager"], c[UniswapV3Factory], c[WETH], common.Address{})
	c[SwapRouter02] = b.deploy(SwapRouter02, a["SwapRouter02"], c[UniswapV2Factory], c[UniswapV3Factory], c[NonfungiblePositionManager], c[WETH])
	c[QuoterV2] = b.deploy(QuoterV2, a["QuoterV2"], c[UniswapV3Factory], c[WETH])
	for _, name := range []string{Safe, SafeL2, SafeProxyFactory, MultiSend, MultiSendCallOnly, CompatibilityFallbackHandler} {
		c[name] = b.deploy(name, a[name])
	}
	if err := b.mine(); err != nil {
		return nil, err
	}

	// Round 2: wrap ETH, approve the routers, pay the accounts their tokens,
	// create and price the V3 pools.
	erc20 := a["DevnetERC20"]
	maxUint := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	b.call("wrap ETH", c[WETH], a["WETH9"], "deposit", ether(100_000))
	for _, tok := range []string{WETH, USDC, DAI, DEFL} {
		for _, spender := range []string{UniswapV2Router02, NonfungiblePositionManager} {
			b.call("approve "+tok+" to "+spender, c[tok], erc20, "approve", nil, c[spender], maxUint)
		}
	}
	for _, k := range d.keys {
		to := crypto.PubkeyToAddress(k.PublicKey)
		b.call("pay USDC", c[USDC], erc20, "transfer", nil, to, AccountUSDC)
		b.call("pay DAI", c[DAI], erc20, "transfer", nil, to, AccountDAI)
		b.call("pay DEFL", c[DEFL], erc20, "transfer", nil, to, AccountDEFL)
	}
	var pools []Pool
	for _, p := range v3Pools {
		t0, t1 := sortTokens(c[p.a], c[p.b])
		amt0, amt1 := p.priceUnit, p.priceA // B per A
		if t0 != c[p.a] {
			amt0, amt1 = p.priceA, p.priceUnit
		}
		b.call(fmt.Sprintf("create V3 pool %s/%s %d", p.a, p.b, p.fee), c[NonfungiblePositionManager], a["NonfungiblePositionManager"],
			"createAndInitializePoolIfNecessary", nil, t0, t1, big.NewInt(int64(p.fee)), sqrtPriceX96(amt0, amt1))
		pools = append(pools, Pool{Protocol: "uniswap-v3", Address: V3PoolAddress(c[UniswapV3Factory], t0, t1, p.fee), Token0: t0, Token1: t1, Fee: p.fee})
	}
	if err := b.mine(); err != nil {
		return nil, err
	}

	// Round 3: WETH to the accounts, liquidity into every pair and pool.
	deadline := big.NewInt(time.Now().Add(24 * time.Hour).Unix())
	for _, k := range d.keys {
		b.call("pay WETH", c[WETH], erc20, "transfer", nil, crypto.PubkeyToAddress(k.PublicKey), AccountWETH)
	}
	for _, p := range v2Pairs {
		b.call(fmt.Sprintf("add V2 liquidity %s/%s", p.a, p.b), c[UniswapV2Router02], a["UniswapV2Router02"], "addLiquidity", nil,
			c[p.a], c[p.b], p.amountA, p.amountB, new(big.Int), new(big.Int), me, deadline)
		t0, t1 := sortTokens(c[p.a], c[p.b])
		pools = append(pools, Pool{Protocol: "uniswap-v2", Address: V2PairAddress(c[UniswapV2Factory], t0, t1), Token0: t0, Token1: t1, Fee: 3000})
	}
	type mintParams = v3MintParams
	for _, p := range v3Pools {
		t0, t1 := sortTokens(c[p.a], c[p.b])
		flip := t0 != c[p.a]
		price0, price1 := p.priceUnit, p.priceA
		if flip {
			price0, price1 = p.priceA, p.priceUnit
		}
		spacing := tickSpacing(p.fee)
		for _, pos := range p.positions {
			lo, hi := -(maxTick / spacing * spacing), maxTick/spacing*spacing
			if pos.ticks > 0 {
				tick := priceTick(price0, price1)
				lo = floorTo(tick-pos.ticks, spacing)
				hi = floorTo(tick+pos.ticks, spacing) + spacing
			}
			amt0, amt1 := pos.amountA, pos.amountB
			if flip {
				amt0, amt1 = pos.amountB, pos.amountA
			}
			b.call(fmt.Sprintf("mint V3 position %s/%s %d [%d,%d]", p.a, p.b, p.fee, lo, hi), c[NonfungiblePositionManager], a["NonfungiblePositionManager"], "mint", nil,
				mintParams{
					Token0: t0, Token1: t1, Fee: big.NewInt(int64(p.fee)),
					TickLower: big.NewInt(int64(lo)), TickUpper: big.NewInt(int64(hi)),
					Amount0Desired: amt0, Amount1Desired: amt1,
					Amount0Min: new(big.Int), Amount1Min: new(big.Int),
					Recipient: me, Deadline: deadline,
				})
		}
	}
	if err := b.mine(); err != nil {
		return nil, err
	}
	if err := d.verify(ctx, c, pools); err != nil {
		return nil, err
	}
	// Rounds 4 and on: deeper V3 liquidity, the skewed direct USDC/DAI
	// pools and the trader's swap history (market.go). Everything above
	// keeps its address; this only adds transactions after it.
	if err := d.buildMarket(ctx, b, c, deadline); err != nil {
		return nil, err
	}
	// The pools' oracles cover only the few seconds since the pools were
	// made; one empty block OracleAge later gives them that much history.
	if err := d.AdjustTime(OracleAge * time.Second); err != nil {
		return nil, fmt.Errorf("devnet: age the oracles: %w", err)
	}

	dep := &Deployment{
		ChainID:   ChainID,
		Contracts: c,
		Tokens: TokenList{
			Name:      "Mandate devnet",
			Timestamp: time.Now().UTC().Format(time.RFC3339),
			Version:   TokenListVersion{Major: 1},
			Tokens: []TokenInfo{
				{ChainID: ChainID, Address: c[WETH], Symbol: "WETH", Name: "Wrapped Ether", Decimals: 18},
				{ChainID: ChainID, Address: c[USDC], Symbol: "USDC", Name: "USD Coin", Decimals: 6},
				{ChainID: ChainID, Address: c[DAI], Symbol: "DAI", Name: "Dai Stablecoin", Decimals: 18},
				{ChainID: ChainID, Address: c[DEFL], Symbol: "DEFL", Name: "Deflating Test Token", Decimals: 18},
			},
		},
		Pools: pools,
	}
	for _, k := range d.keys {
		dep.Accounts = append(dep.Accounts, accountOf(k))
	}
	return dep, nil
}

// verify checks that every contract has code and every pair and pool sits
// where the CREATE2 derivation from mainnet's init-code hashes puts it.
func (d *Devnet) verify(ctx context.Context, c map[string]common.Address, pools []Pool) error {
	names := make([]string, 0, len(c))
	for name := range c {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		code, err := d.client.CodeAt(ctx, c[name], nil)
		if err != nil {
			return fmt.Errorf("devnet: code of %s: %w", name, err)
		}
		if len(code) == 0 {
			return fmt.Errorf("devnet: %s at %s has no code after deployment", name, c[name].Hex())
		}
	}
	for _, p := range pools {
		var (
			got []any
			err error
		)
		if p.Protocol == "uniswap-v2" {
			got, err = d.call(ctx, c[UniswapV2Factory], d.arts["UniswapV2Factory"], "getPair", p.Token0, p.Token1)
		} else {
			got, err = d.call(ctx, c[UniswapV3Factory], d.arts["UniswapV3Factory"], "getPool", p.Token0, p.Token1, big.NewInt(int64(p.Fee)))
		}
		if err != nil {
			return err
		}
		if addr := got[0].(common.Address); addr != p.Address {
			return fmt.Errorf("devnet: %s pool %s/%s fee %d is at %s, the CREATE2 derivation with mainnet's init-code hash says %s",
				p.Protocol, p.Token0.Hex(), p.Token1.Hex(), p.Fee, addr.Hex(), p.Address.Hex())
		}
	}
	return nil
}

// call runs a read-only contract call against the latest block.
func (d *Devnet) call(ctx context.Context, to common.Address, a *Artifact, method string, args ...any) ([]any, error) {
	data, err := a.ABI.Pack(method, args...)
	if err != nil {
		return nil, fmt.Errorf("devnet: %s: %w", method, err)
	}
	out, err := d.client.CallContract(ctx, ethereum.CallMsg{To: &to, Data: data}, nil)
	if err != nil {
		return nil, fmt.Errorf("devnet: %s on %s: %w", method, to.Hex(), err)
	}
	res, err := a.ABI.Unpack(method, out)
	if err != nil {
		return nil, fmt.Errorf("devnet: %s on %s: %w", method, to.Hex(), err)
	}
	return res, nil
}

// NewAccount creates a fresh account, separate from Deployment.Accounts, and
// funds it like them (ETH, USDC, DAI, WETH, DEFL) from the deployer, so a
// test sharing a devnet with others can own balances nobody else touches.
// Keys are deterministic per devnet: keccak256("mandate devnet extra account N").
func (d *Devnet) NewAccount(ctx context.Context) (Account, error) {
	d.deployerMu.Lock()
	defer d.deployerMu.Unlock()
	key := mustKey(fmt.Sprintf("mandate devnet extra account %d", d.extra))
	d.extra++
	to := crypto.PubkeyToAddress(key.PublicKey)
	erc20 := d.arts["DevnetERC20"]
	b := d.newBatch(ctx, d.deployerKey)
	b.send("fund ETH", &to, AccountETH, nil, 0)
	b.call("fund USDC", d.Address(USDC), erc20, "transfer", nil, to, AccountUSDC)
	b.call("fund DAI", d.Address(DAI), erc20, "transfer", nil, to, AccountDAI)
	b.call("fund WETH", d.Address(WETH), erc20, "transfer", nil, to, AccountWETH)
	b.call("fund DEFL", d.Address(DEFL), erc20, "transfer", nil, to, AccountDEFL)
	if err := b.wait(); err != nil {
		return Account{}, err
	}
	return accountOf(key), nil
}

// DeployToken deploys a plain ERC-20 (the devnet's own DevnetERC20) with
// the whole supply held by holder. Tests use it for tokens with odd names,
// symbols or decimals: a symbol that collides with a listed one, a name
// that carries instructions for a model.
func (d *Devnet) DeployToken(ctx context.Context, name, symbol string, decimals uint8, supply *big.Int, holder common.Address) (common.Address, error) {
	d.deployerMu.Lock()
	defer d.deployerMu.Unlock()
	b := d.newBatch(ctx, d.deployerKey)
	addr := b.deploy("token "+symbol, d.arts["DevnetERC20"], name, symbol, decimals, supply, holder)
	if err := b.wait(); err != nil {
		return common.Address{}, err
	}
	return addr, nil
}
