// Package devnet runs a local EVM chain with the real contracts an agent
// trades against, for tests, for `mandate devnet` and for `--devnet`.
//
// The chain is go-ethereum itself, in process: a node (node.New + eth.New)
// driven by catalyst's simulated beacon, chain id 1337, with an in-memory
// database. It mines a block as soon as a transaction reaches the pool, so
// callers send transactions over JSON-RPC and wait for receipts as they would
// on any chain; nobody calls Commit. It is reachable in process through
// (*Devnet).RPC and (*Devnet).Client, and over HTTP (and WebSocket) JSON-RPC
// with (*Devnet).Serve, which also answers mandate_deployment.
//
// # What is deployed
//
// Every contract is deployed from the compiled artifacts its own npm package
// publishes, pinned by exact version (see Pins) and fetched by
// EnsureArtifacts into a git-ignored directory (see ArtifactsDir):
//
//   - WETH9 (@uniswap/v2-periphery 1.1.0-beta.0)
//   - USDC (6 decimals) and DAI (18 decimals): contracts/DevnetERC20.sol, a
//     plain OpenZeppelin 4.9.6 ERC-20 compiled here with solc 0.8.26 (solc-js)
//   - DEFL: Uniswap's fee-on-transfer DeflatingERC20 (1% of every transfer is
//     burnt; on-chain symbol "DTT"), for fee-on-transfer swap paths
//   - UniswapV2Factory (@uniswap/v2-core 1.0.1) and UniswapV2Router02, with
//     pairs WETH/USDC (3,000 USDC per ETH), WETH/DAI, USDC/DAI and DEFL/WETH
//   - UniswapV3Factory (@uniswap/v3-core 1.0.1), NonfungiblePositionManager
//     (@uniswap/v3-periphery 1.4.4; no token descriptor, so tokenURI reverts),
//     SwapRouter02 and QuoterV2 (@uniswap/swap-router-contracts 1.3.1), with
//     pools WETH/USDC at fees 500 and 3000, USDC/DAI at 100 and WETH/DAI at
//     3000; the first three hold a full-range position and a narrower one
//     around the price, and the WETH/USDC pools more (see Market)
//   - Safe and SafeL2 singletons, SafeProxyFactory, MultiSend,
//     MultiSendCallOnly and CompatibilityFallbackHandler
//     (@safe-global/safe-contracts 1.4.1)
//
// New checks that the init-code hashes of UniswapV2Pair and UniswapV3Pool
// equal mainnet's (the routers and the position manager derive pair and pool
// addresses from them) and that every pair and pool sits at the CREATE2
// address derived from them, and fails otherwise.
//
// # Market
//
// After the contracts and their first liquidity (so no address moves), New
// builds a market to route through and a history to read (market.go):
//
//   - Deeper V3 liquidity: the WETH/USDC pools get more concentrated
//     positions, narrow and wide around the price, lopsided, and one-sided
//     above and below it (500: ±20, ±100, -300..+100, ±2,000, +300..+1,500,
//     -1,500..-300, ±5,000 ticks; 3000: ±120, ±600, +600..+3,000,
//     -3,000..-600, ±6,000), so a swap of 1,000 WETH crosses 3 initialized
//     ticks on the 0.05% pool and 2,000 WETH crosses 5 on the 0.3% pool.
//   - A two-hop route that beats the direct pools: the deployer buys DAI with
//     USDC in both direct USDC/DAI pools (V3 0.01% up to its price limit,
//     V2 with 76,080 USDC) until they pay 985 DAI per 1,000 USDC
//     (DirectUSDCDAIPrice), 1.5% off the peg the WETH pools (3,000 USDC and
//     3,000 DAI per WETH) imply, as if a large DAI buyer had just swept them
//     and nobody had arbitraged the gap. For 10,000 USDC, QuoterV2 quotes
//     USDC→WETH→DAI (V3 0.05% then V3 0.3%) at about 9,948 DAI, the direct
//     V3 0.01% pool at about 9,830 and the direct V2 pair at about 9,811: the
//     two-hop route wins by about 118 DAI (1.2%), since its fees (0.35%) and
//     impact cost less than the direct pools' 1.5% skew. The other way,
//     DAI→USDC, the direct pools win (they pay about 1.015 USDC per DAI),
//     and once arbitrage brings them back near the peg they win again for
//     USDC→DAI too.
//   - A block history: a trader account (Trader, keccak256("mandate devnet
//     trader"), not one of the funded accounts) makes HistorySwaps (30)
//     swaps in 6 blocks, one per block on each of V2 WETH/USDC, V3 WETH/USDC
//     500 and 3000, V2 WETH/DAI and V3 WETH/DAI 3000, from 0.25 to 12 WETH,
//     alternating direction, each pair of blocks there and back so prices
//     end where they started. Nothing records them but the chain: the
//     pools' Swap logs (recipient Trader) are the history analytics read.
//   - Oracle history: the seeded V3 pools keep ObservationCardinality
//     observations, and New ends with an empty block OracleAge (120) seconds
//     after the history, so their TWAPs average over at least that long.
//
// A separate deployer key deploys everything, so the funded accounts
// (keccak256("mandate devnet account N"), 10,000 ETH, 1,000,000 USDC and DAI,
// 100 WETH and 9,900 DEFL each: 10,000 sent, 1% burnt) start at nonce 0, and contract addresses are
// the same on every run.
//
// # Fork set
//
// The fork set is pinned rather than taken from params.AllDevChainProtocolChanges:
// everything up to and including Osaka (Fusaka, what Ethereum mainnet runs)
// is active at genesis, and nothing later. go-ethereum's dev config also
// enables an unfinished future fork (Bogota, on Amsterdam's instruction set)
// whose state-gas metering (EIP-8037) changes what storage writes cost, so
// gas estimates and receipts would not match mainnet's; a new go-ethereum release must not
// silently change the rules the devnet runs under.
//
// # Cost
//
// Deploying and funding is about 80 transactions in 3 blocks, the market
// about 55 more in 7, then one empty block: New costs about 0.35 s on an idle 2-core
// machine (BenchmarkNew; the market adds about 0.1 s) and under a second
// when the cores are busy, once the artifacts are in place (the first EnsureArtifacts
// on a machine runs npm, about 40 s, and solc-js, about 10 s). Tests that do
// not need a chain of their own should share one and take fresh funded
// accounts from it: see the devnettest package.
//
// Each block gets the wall-clock time, or its parent's plus one second when
// blocks come faster than that, so after a burst of transactions the chain
// runs ahead of the clock by at most a second per block. New mines about a
// dozen blocks (the deployment, then the market and its history), then the
// block OracleAge seconds later, so a fresh devnet's head is about 130 s
// ahead of the wall clock, and blocks come a second apart until the clock
// catches up two minutes or so later. Deadlines minutes from the wall
// clock (a swap's default is 10) are unaffected.
package devnet

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/eth"
	"github.com/ethereum/go-ethereum/eth/catalyst"
	"github.com/ethereum/go-ethereum/eth/ethconfig"
	"github.com/ethereum/go-ethereum/eth/filters"
	"github.com/ethereum/go-ethereum/eth/tracers"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/node"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	// Native tracers (callTracer, prestateTracer, ...) for debug_traceCall
	// and debug_traceTransaction.
	_ "github.com/ethereum/go-ethereum/eth/tracers/native"
)

// ChainID is the devnet's chain id.
const ChainID = 1337

// BlockGasLimit is the devnet's block gas limit (go-ethereum's default
// target). Osaka additionally caps a single transaction at 2^24 gas.
const BlockGasLimit = 60_000_000

// Funding of each account in Deployment.Accounts, in base units.
var (
	AccountETH  = ether(10_000)
	AccountUSDC = units(1_000_000, 6)
	AccountDAI  = units(1_000_000, 18)
	AccountWETH = ether(100)
	AccountDEFL = units(10_000, 18) // sent; DEFL burns 1% of a transfer, so 9,900 arrive
)

// DefaultAccounts is how many funded accounts New creates.
const DefaultAccounts = 10

// ChainConfig returns the devnet's chain configuration: chain id 1337, every
// fork up to and including Osaka active at genesis, nothing later.
func ChainConfig() *params.ChainConfig {
	zero := uint64(0)
	return &params.ChainConfig{
		ChainID:                 big.NewInt(ChainID),
		HomesteadBlock:          big.NewInt(0),
		EIP150Block:             big.NewInt(0),
		EIP155Block:             big.NewInt(0),
		EIP158Block:             big.NewInt(0),
		ByzantiumBlock:          big.NewInt(0),
		ConstantinopleBlock:     big.NewInt(0),
		PetersburgBlock:         big.NewInt(0),
		IstanbulBlock:           big.NewInt(0),
		MuirGlacierBlock:        big.NewInt(0),
		BerlinBlock:             big.NewInt(0),
		LondonBlock:             big.NewInt(0),
		ArrowGlacierBlock:       big.NewInt(0),
		GrayGlacierBlock:        big.NewInt(0),
		TerminalTotalDifficulty: big.NewInt(0),
		ShanghaiTime:            &zero,
		CancunTime:              &zero,
		PragueTime:              &zero,
		OsakaTime:               &zero,
		// Deliberately nil: BPO1..5, Amsterdam, Bogota, UBT.
		BlobScheduleConfig: &params.BlobScheduleConfig{
			Cancun: params.DefaultCancunBlobConfig,
			Prague: params.DefaultPragueBlobConfig,
		},
	}
}

// Option configures New.
type Option func(*config)

type config struct {
	progress  io.Writer
	artifacts string
	accounts  int
}

// WithProgress prints what New does (npm install, compile, deploy, timing)
// to w.
func WithProgress(w io.Writer) Option { return func(c *config) { c.progress = w } }

// WithArtifacts uses dir as the artifacts directory instead of ArtifactsDir().
func WithArtifacts(dir string) Option { return func(c *config) { c.artifacts = dir } }

// WithAccounts sets how many funded accounts to create (default 10).
func WithAccounts(n int) Option { return func(c *config) { c.accounts = n } }

// Devnet is a running local chain with the contracts deployed. Close it when
// done. Its methods are safe for concurrent use.
type Devnet struct {
	stack   *node.Node
	eth     *eth.Ethereum
	beacon  *catalyst.SimulatedBeacon
	rpc     *rpc.Client
	client  *ethclient.Client
	filters *filters.FilterAPI // shared by the in-process and the served API sets
	arts    artifactSet

	sealMu sync.Mutex // serialises block production

	deployerKey *ecdsa.PrivateKey
	deployerMu  sync.Mutex // serialises the deployer's transactions after New
	extra       int        // accounts handed out by NewAccount
	extraSafes  int        // Safes made by NewSafe

	mu      sync.Mutex
	dep     *Deployment
	keys    []*ecdsa.PrivateKey
	servers []*http.Server
	public  *rpc.Server

	quit      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New starts a devnet and deploys the contracts. It first makes sure the
// artifacts are in place (EnsureArtifacts), which needs node and npm the
// first time on a machine.
func New(ctx context.Context, opts ...Option) (*Devnet, error) {
	cfg := config{accounts: DefaultAccounts}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.progress == nil {
		cfg.progress = io.Discard
	}
	if cfg.artifacts == "" {
		cfg.artifacts = ArtifactsDir()
	}
	if cfg.accounts < 0 {
		return nil, fmt.Errorf("devnet: WithAccounts(%d): negative", cfg.accounts)
	}
	start := time.Now()
	if err := EnsureArtifacts(ctx, cfg.artifacts, cfg.progress); err != nil {
		return nil, err
	}
	arts, err := loadArtifacts(cfg.artifacts)
	if err != nil {
		return nil, err
	}
	if err := checkInitCodeHashes(arts); err != nil {
		return nil, err
	}

	d := &Devnet{arts: arts, quit: make(chan struct{}), deployerKey: mustKey("mandate devnet deployer")}
	for i := 0; i < cfg.accounts; i++ {
		d.keys = append(d.keys, mustKey(fmt.Sprintf("mandate devnet account %d", i)))
	}
	if err := d.startNode(); err != nil {
		return nil, err
	}
	fmt.Fprintf(cfg.progress, "devnet: chain %d started (forks through Osaka), deploying contracts\n", ChainID)
	dep, err := d.deploy(ctx)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.mu.Lock()
	d.dep = dep
	d.mu.Unlock()
	if err := d.startAutoMine(); err != nil {
		d.Close()
		return nil, err
	}
	fmt.Fprintf(cfg.progress, "devnet: %d contracts, %d pools, %d funded accounts ready in %s\n",
		len(dep.Contracts), len(dep.Pools), len(dep.Accounts), time.Since(start).Round(time.Millisecond))
	return d, nil
}

func (d *Devnet) startNode() error {
	nodeConf := node.DefaultConfig
	nodeConf.Name = "mandate-devnet"
	nodeConf.DataDir = "" // in memory
	nodeConf.IPCPath = ""
	nodeConf.HTTPHost, nodeConf.WSHost = "", "" // (*Devnet).Serve serves, with its own API set
	nodeConf.P2P = p2p.Config{NoDiscovery: true, MaxPeers: 0, ListenAddr: ""}
	stack, err := node.New(&nodeConf)
	if err != nil {
		return fmt.Errorf("devnet: node: %w", err)
	}

	alloc := core.SystemContractAllocs() // beacon roots, history, request contracts (Cancun, Prague)
	for _, k := range d.keys {
		alloc[crypto.PubkeyToAddress(k.PublicKey)] = types.Account{Balance: AccountETH}
	}
	alloc[crypto.PubkeyToAddress(d.deployerKey.PublicKey)] = types.Account{Balance: ether(10_000_000)}
	alloc[Trader()] = types.Account{Balance: TraderETH} // pays the gas of the swap history

	ethConf := ethconfig.Defaults
	ethConf.Genesis = &core.Genesis{
		Config:    ChainConfig(),
		GasLimit:  BlockGasLimit,
		BaseFee:   big.NewInt(params.InitialBaseFee),
		Timestamp: uint64(time.Now().Unix()),
		// Random extra data makes each devnet's genesis hash its own, even
		// for two started in the same second: journals, ledgers and order
		// books tell chains apart by chain id and genesis, and a restarted
		// devnet is a new chain whose history must not answer for the old.
		ExtraData: genesisNonce(),
		Alloc:     alloc,
	}
	ethConf.NetworkId = ChainID
	ethConf.SyncMode = ethconfig.FullSync
	ethConf.Miner.GasCeil = BlockGasLimit
	// The pool admits any tip of at least 1 wei; the miner's floor must be
	// the same or such transactions sit in the pool forever. (go-ethereum's
	// default miner floor is 0.001 gwei; the gas price oracle starts from it,
	// then follows the tips actually paid.)
	ethConf.TxPool.PriceLimit = 1
	ethConf.Miner.GasPrice = big.NewInt(1)
	ethConf.TxPool.NoLocals = true
	ethConf.LogNoHistory = true // unindexed log search: no indexer lagging behind the head
	ethConf.DatabaseCache = 16
	ethConf.TrieCleanCache = 16
	ethConf.TrieDirtyCache = 16
	ethConf.SnapshotCache = 16
	ethConf.FilterLogCacheSize = 8

	backend, err := eth.New(stack, &ethConf)
	if err != nil {
		stack.Close()
		return fmt.Errorf("devnet: eth: %w", err)
	}
	d.filters = filters.NewFilterAPI(filters.NewFilterSystem(backend.APIBackend, filters.Config{}))
	stack.RegisterAPIs([]rpc.API{
		{Namespace: "eth", Service: d.filters},
		{Namespace: "mandate", Service: &mandateAPI{d}},
	})
	stack.RegisterAPIs(tracers.APIs(backend.APIBackend))
	if err := stack.Start(); err != nil {
		stack.Close()
		return fmt.Errorf("devnet: start node: %w", err)
	}
	beacon, err := catalyst.NewSimulatedBeacon(0, common.Address{}, backend)
	if err != nil {
		stack.Close()
		return fmt.Errorf("devnet: simulated beacon: %w", err)
	}
	d.stack, d.eth, d.beacon = stack, backend, beacon
	d.rpc = stack.Attach()
	d.client = ethclient.NewClient(d.rpc)
	return nil
}

// seal produces one block from the pool and returns it.
func (d *Devnet) seal() *types.Block {
	d.sealMu.Lock()
	defer d.sealMu.Unlock()
	h := d.beacon.Commit()
	return d.eth.BlockChain().GetBlockByHash(h)
}

// startAutoMine mines whenever transactions become executable in the pool,
// the way `geth --dev` used to with period 0. Events are only recorded by the
// subscriber goroutine, never acted on there: the pool sends them while a
// seal may be waiting on the pool (TxPool.Sync), so blocking would deadlock.
func (d *Devnet) startAutoMine() error {
	events := make(chan core.NewTxsEvent, 16)
	sub := d.eth.TxPool().SubscribeTransactions(events, true)
	kick := make(chan struct{}, 1)
	d.wg.Add(2)
	go func() {
		defer d.wg.Done()
		defer sub.Unsubscribe()
		for {
			select {
			case <-events:
				select {
				case kick <- struct{}{}:
				default:
				}
			case <-sub.Err():
				return
			case <-d.quit:
				return
			}
		}
	}()
	go func() {
		defer d.wg.Done()
		for {
			select {
			case <-kick:
			case <-d.quit:
				return
			}
			// Keep sealing while blocks fill and executable transactions
			// remain; stop when a block comes out empty (what is left cannot
			// be mined yet, e.g. a fee cap under the base fee).
			for i := 0; i < 1024; i++ {
				b := d.seal()
				pending, _ := d.eth.TxPool().Stats()
				if b == nil || len(b.Transactions()) == 0 || pending == 0 {
					break
				}
				select {
				case <-d.quit:
					return
				default:
				}
			}
		}
	}()
	// Anything that arrived before the subscription.
	if pending, _ := d.eth.TxPool().Stats(); pending > 0 {
		kick <- struct{}{}
	}
	return nil
}

// RPC returns an in-process JSON-RPC client with every API of the node,
// debug tracing included. Do not close it; Close does.
func (d *Devnet) RPC() *rpc.Client { return d.rpc }

// Client returns an ethclient over RPC. Do not close it; Close does.
func (d *Devnet) Client() *ethclient.Client { return d.client }

// Deployment returns a copy of the deployment description. RPC is the first
// URL Serve returned, or empty.
func (d *Devnet) Deployment() *Deployment {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dep.Clone()
}

// Accounts returns the funded accounts.
func (d *Devnet) Accounts() []Account { return d.Deployment().Accounts }

// Key returns the private key of funded account i.
func (d *Devnet) Key(i int) *ecdsa.PrivateKey { return d.keys[i] }

// Address returns the address of a deployed contract by its name in
// Deployment.Contracts ("USDC", "SwapRouter02", ...), or the zero address.
func (d *Devnet) Address(name string) common.Address {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dep.Contracts[name]
}

// WriteDeployment writes the deployment JSON to path (atomically).
func (d *Devnet) WriteDeployment(path string) error { return d.Deployment().WriteFile(path) }

// ABI returns the ABI of a deployed contract by its name in
// Deployment.Contracts, or of an artifact by contract name
// ("UniswapV2Pair", "UniswapV3Pool", "ERC20", "DevnetERC20").
// The result shares its maps with the loaded artifact: read it, do not modify it.
func (d *Devnet) ABI(name string) (abi.ABI, error) {
	art, ok := d.arts[artifactFor(name)]
	if !ok {
		return abi.ABI{}, fmt.Errorf("devnet: no artifact for %q", name)
	}
	return art.ABI, nil
}

// artifactFor maps a name in Deployment.Contracts to its artifact's name.
func artifactFor(name string) string {
	switch name {
	case WETH:
		return "WETH9"
	case USDC, DAI:
		return "DevnetERC20"
	case DEFL:
		return "DeflatingERC20"
	}
	return name
}

// WaitMined polls until the transaction's receipt is available (a receipt
// can lag the block that holds it) or ctx is done.
func (d *Devnet) WaitMined(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	return waitMined(ctx, d.client, hash)
}

func waitMined(ctx context.Context, c *ethclient.Client, hash common.Hash) (*types.Receipt, error) {
	delay := 2 * time.Millisecond
	for {
		r, err := c.TransactionReceipt(ctx, hash)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, ethereum.NotFound) {
			return nil, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, 50*time.Millisecond)
	}
}

// AdjustTime mines an empty block whose timestamp is adv later than the
// head's, for deadlines and time-based orders. It fails while transactions
// are pending.
func (d *Devnet) AdjustTime(adv time.Duration) error {
	d.sealMu.Lock()
	defer d.sealMu.Unlock()
	// The pool drops mined transactions on a background reset; until it
	// has, the beacon would count the last block's as pending.
	if err := d.eth.TxPool().Sync(); err != nil {
		return fmt.Errorf("devnet: transaction pool: %w", err)
	}
	return d.beacon.AdjustTime(adv)
}

// Close stops serving and shuts the chain down.
func (d *Devnet) Close() error {
	d.closeOnce.Do(func() {
		close(d.quit)
		d.mu.Lock()
		servers := d.servers
		d.servers = nil
		public := d.public
		d.mu.Unlock()
		var errs []error
		for _, s := range servers {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := s.Shutdown(ctx); err != nil {
				s.Close()
			}
			cancel()
		}
		if public != nil {
			public.Stop()
		}
		d.wg.Wait()
		if d.rpc != nil {
			d.rpc.Close()
		}
		if d.beacon != nil {
			errs = append(errs, d.beacon.Stop())
		}
		if d.stack != nil {
			errs = append(errs, d.stack.Close())
		}
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

func mustKey(seed string) *ecdsa.PrivateKey {
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte(seed)))
	if err != nil {
		panic(fmt.Sprintf("devnet: key for %q: %v", seed, err)) // a keccak output outside the curve order: not going to happen
	}
	return k
}

func accountOf(k *ecdsa.PrivateKey) Account {
	return Account{
		Address:    crypto.PubkeyToAddress(k.PublicKey),
		PrivateKey: "0x" + common.Bytes2Hex(crypto.FromECDSA(k)),
	}
}

func ether(n int64) *big.Int { return units(n, 18) }

func units(n int64, decimals int) *big.Int {
	return new(big.Int).Mul(big.NewInt(n), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil))
}

// genesisNonce is 16 random bytes for the genesis block's extra data.
func genesisNonce() []byte {
	b := make([]byte, 16)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}
