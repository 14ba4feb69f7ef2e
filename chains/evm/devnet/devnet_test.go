package devnet_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi/bind/v2"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/params"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
)

// contract binds a deployed contract (by Deployment.Contracts name) or, with
// at, an artifact's ABI at another address.
func contract(t *testing.T, d *devnet.Devnet, name string, at ...common.Address) *bind.BoundContract {
	t.Helper()
	a, err := d.ABI(name)
	if err != nil {
		t.Fatal(err)
	}
	addr := d.Address(name)
	if len(at) > 0 {
		addr = at[0]
	}
	return bind.NewBoundContract(addr, a, d.Client(), d.Client(), d.Client())
}

func call(t *testing.T, c *bind.BoundContract, method string, args ...any) []any {
	t.Helper()
	var out []any
	if err := c.Call(&bind.CallOpts{Context: t.Context()}, &out, method, args...); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return out
}

// transact sends a transaction the ordinary way (bind: suggested tip,
// estimated gas) and waits for its receipt; nobody mines by hand.
func transact(t *testing.T, d *devnet.Devnet, key *ecdsa.PrivateKey, c *bind.BoundContract, value *big.Int, method string, args ...any) *types.Receipt {
	t.Helper()
	opts := bind.NewKeyedTransactor(key, big.NewInt(devnet.ChainID))
	opts.Context = t.Context()
	opts.Value = value
	tx, err := c.Transact(opts, method, args...)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	r, err := d.WaitMined(t.Context(), tx.Hash())
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	if r.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("%s: reverted", method)
	}
	return r
}

func balanceOf(t *testing.T, d *devnet.Devnet, token string, who common.Address) *big.Int {
	t.Helper()
	return call(t, contract(t, d, token), "balanceOf", who)[0].(*big.Int)
}

func units(n int64, decimals int) *big.Int {
	return new(big.Int).Mul(big.NewInt(n), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil))
}

var allContracts = []string{
	devnet.WETH, devnet.USDC, devnet.DAI, devnet.DEFL,
	devnet.UniswapV2Factory, devnet.UniswapV2Router02,
	devnet.UniswapV3Factory, devnet.NonfungiblePositionManager, devnet.SwapRouter02, devnet.QuoterV2,
	devnet.Safe, devnet.SafeL2, devnet.SafeProxyFactory, devnet.MultiSend, devnet.MultiSendCallOnly,
	devnet.CompatibilityFallbackHandler,
}

func TestContractsHaveCode(t *testing.T) {
	d := devnettest.Shared(t)
	dep := d.Deployment()
	for _, name := range allContracts {
		addr, ok := dep.Contracts[name]
		if !ok {
			t.Errorf("%s missing from the deployment", name)
			continue
		}
		code, err := d.Client().CodeAt(t.Context(), addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(code) == 0 {
			t.Errorf("%s at %s has no code", name, addr)
		}
	}
	for _, p := range dep.Pools {
		code, err := d.Client().CodeAt(t.Context(), p.Address, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(code) == 0 {
			t.Errorf("%s pool %s has no code", p.Protocol, p.Address)
		}
	}
}

func TestTokens(t *testing.T) {
	d := devnettest.Shared(t)
	dep := d.Deployment()
	tests := []struct {
		symbol, onchainSymbol string
		decimals              uint8
	}{
		{"WETH", "WETH", 18},
		{"USDC", "USDC", 6},
		{"DAI", "DAI", 18},
		{"DEFL", "DTT", 18}, // Uniswap's DeflatingERC20 calls itself DTT
	}
	for _, tt := range tests {
		info, ok := dep.Token(tt.symbol)
		if !ok {
			t.Fatalf("token list has no %s", tt.symbol)
		}
		if info.ChainID != devnet.ChainID || info.Address != dep.Contracts[tt.symbol] || info.Decimals != tt.decimals {
			t.Errorf("token list entry %+v", info)
		}
		c := contract(t, d, tt.symbol)
		if got := call(t, c, "decimals")[0].(uint8); got != tt.decimals {
			t.Errorf("%s decimals on chain = %d, want %d", tt.symbol, got, tt.decimals)
		}
		if got := call(t, c, "symbol")[0].(string); got != tt.onchainSymbol {
			t.Errorf("%s symbol on chain = %q, want %q", tt.symbol, got, tt.onchainSymbol)
		}
	}
}

// The standard accounts are funded exactly; a fresh devnet, since tests on
// the shared one may spend from them.
func TestFundedAccounts(t *testing.T) {
	d := devnettest.New(t, devnet.WithAccounts(3))
	accts := d.Accounts()
	if len(accts) != 3 {
		t.Fatalf("%d accounts, want 3", len(accts))
	}
	for i, a := range accts {
		want := crypto.PubkeyToAddress(d.Key(i).PublicKey)
		if a.Address != want {
			t.Errorf("account %d address %s, key says %s", i, a.Address, want)
		}
		seed := crypto.Keccak256([]byte(fmt.Sprintf("mandate devnet account %d", i)))
		if a.PrivateKey != "0x"+common.Bytes2Hex(seed) {
			t.Errorf("account %d key is not keccak256(\"mandate devnet account %d\")", i, i)
		}
		eth, err := d.Client().BalanceAt(t.Context(), a.Address, nil)
		if err != nil {
			t.Fatal(err)
		}
		nonce, err := d.Client().NonceAt(t.Context(), a.Address, nil)
		if err != nil {
			t.Fatal(err)
		}
		if eth.Cmp(devnet.AccountETH) != 0 || nonce != 0 {
			t.Errorf("account %d: %s wei, nonce %d", i, eth, nonce)
		}
		for token, want := range map[string]*big.Int{devnet.USDC: devnet.AccountUSDC, devnet.DAI: devnet.AccountDAI, devnet.WETH: devnet.AccountWETH} {
			if got := balanceOf(t, d, token, a.Address); got.Cmp(want) != 0 {
				t.Errorf("account %d %s balance %s, want %s", i, token, got, want)
			}
		}
		if got := balanceOf(t, d, devnet.DEFL, a.Address); got.Sign() <= 0 {
			t.Errorf("account %d has no DEFL", i)
		}
	}
}

func TestPoolsHaveLiquidity(t *testing.T) {
	d := devnettest.Shared(t)
	dep := d.Deployment()
	var v2, v3 int
	for _, p := range dep.Pools {
		switch p.Protocol {
		case "uniswap-v2":
			v2++
			out := call(t, contract(t, d, "UniswapV2Pair", p.Address), "getReserves")
			if out[0].(*big.Int).Sign() <= 0 || out[1].(*big.Int).Sign() <= 0 {
				t.Errorf("V2 pair %s reserves %v %v", p.Address, out[0], out[1])
			}
			got := call(t, contract(t, d, devnet.UniswapV2Factory), "getPair", p.Token0, p.Token1)[0].(common.Address)
			if want := devnet.V2PairAddress(dep.Contracts[devnet.UniswapV2Factory], p.Token0, p.Token1); got != want || got != p.Address {
				t.Errorf("getPair = %s, CREATE2 = %s, deployment = %s", got, want, p.Address)
			}
		case "uniswap-v3":
			v3++
			pool := contract(t, d, "UniswapV3Pool", p.Address)
			if l := call(t, pool, "liquidity")[0].(*big.Int); l.Sign() <= 0 {
				t.Errorf("V3 pool %s fee %d has no liquidity in range", p.Address, p.Fee)
			}
			got := call(t, contract(t, d, devnet.UniswapV3Factory), "getPool", p.Token0, p.Token1, big.NewInt(int64(p.Fee)))[0].(common.Address)
			if want := devnet.V3PoolAddress(dep.Contracts[devnet.UniswapV3Factory], p.Token0, p.Token1, p.Fee); got != want || got != p.Address {
				t.Errorf("getPool = %s, CREATE2 = %s, deployment = %s", got, want, p.Address)
			}
		default:
			t.Errorf("unknown protocol %q", p.Protocol)
		}
	}
	if v2 < 3 || v3 < 3 {
		t.Errorf("%d V2 pairs and %d V3 pools", v2, v3)
	}
}

// V2: 1 ETH for USDC through Router02 at about 3,000 USDC per ETH.
func TestSwapV2(t *testing.T) {
	d := devnettest.Shared(t)
	acct, key := devnettest.Account(t, d)
	weth, usdc := d.Address(devnet.WETH), d.Address(devnet.USDC)
	before := balanceOf(t, d, devnet.USDC, acct.Address)
	transact(t, d, key, contract(t, d, devnet.UniswapV2Router02), big.NewInt(params.Ether), "swapExactETHForTokens",
		big.NewInt(1), []common.Address{weth, usdc}, acct.Address, big.NewInt(time.Now().Add(time.Hour).Unix()))
	got := new(big.Int).Sub(balanceOf(t, d, devnet.USDC, acct.Address), before)
	if got.Cmp(units(2_900, 6)) < 0 || got.Cmp(units(3_000, 6)) > 0 {
		t.Errorf("1 ETH bought %s USDC base units, want 2,900..3,000 USDC", got)
	}
}

// V2 with a fee-on-transfer token: the plain path fails, the supporting one works.
func TestSwapV2FeeOnTransfer(t *testing.T) {
	d := devnettest.Shared(t)
	acct, key := devnettest.Account(t, d)
	router := contract(t, d, devnet.UniswapV2Router02)
	transact(t, d, key, contract(t, d, devnet.DEFL), nil, "approve", router.Address(), units(1_000, 18))
	before := balanceOf(t, d, devnet.WETH, acct.Address)
	transact(t, d, key, router, nil, "swapExactTokensForTokensSupportingFeeOnTransferTokens",
		units(100, 18), big.NewInt(1), []common.Address{d.Address(devnet.DEFL), d.Address(devnet.WETH)}, acct.Address, big.NewInt(time.Now().Add(time.Hour).Unix()))
	if got := balanceOf(t, d, devnet.WETH, acct.Address); got.Cmp(before) <= 0 {
		t.Errorf("WETH %s -> %s", before, got)
	}
}

// V3: 3,000 USDC for WETH through SwapRouter02 on the 0.05% pool.
func TestSwapV3(t *testing.T) {
	d := devnettest.Shared(t)
	acct, key := devnettest.Account(t, d)
	router := contract(t, d, devnet.SwapRouter02)
	transact(t, d, key, contract(t, d, devnet.USDC), nil, "approve", router.Address(), units(3_000, 6))
	type exactInputSingle struct {
		TokenIn, TokenOut common.Address
		Fee               *big.Int
		Recipient         common.Address
		AmountIn          *big.Int
		AmountOutMinimum  *big.Int
		SqrtPriceLimitX96 *big.Int
	}
	usdcBefore := balanceOf(t, d, devnet.USDC, acct.Address)
	wethBefore := balanceOf(t, d, devnet.WETH, acct.Address)
	transact(t, d, key, router, nil, "exactInputSingle", exactInputSingle{
		TokenIn: d.Address(devnet.USDC), TokenOut: d.Address(devnet.WETH), Fee: big.NewInt(500),
		Recipient: acct.Address, AmountIn: units(3_000, 6), AmountOutMinimum: big.NewInt(1), SqrtPriceLimitX96: new(big.Int),
	})
	if spent := new(big.Int).Sub(usdcBefore, balanceOf(t, d, devnet.USDC, acct.Address)); spent.Cmp(units(3_000, 6)) != 0 {
		t.Errorf("spent %s USDC base units, want 3,000 USDC", spent)
	}
	got := new(big.Int).Sub(balanceOf(t, d, devnet.WETH, acct.Address), wethBefore)
	if got.Cmp(units(99, 16)) < 0 || got.Cmp(units(1, 18)) > 0 {
		t.Errorf("3,000 USDC bought %s wei of WETH, want 0.99..1 WETH", got)
	}
}

// QuoterV2 answers through eth_call; a large trade crosses initialized ticks
// (the concentrated position's edges).
func TestQuoterV2(t *testing.T) {
	d := devnettest.Shared(t)
	a, err := d.ABI(devnet.QuoterV2)
	if err != nil {
		t.Fatal(err)
	}
	type quoteParams struct {
		TokenIn, TokenOut common.Address
		AmountIn          *big.Int
		Fee               *big.Int
		SqrtPriceLimitX96 *big.Int
	}
	quote := func(amountIn *big.Int) (amountOut *big.Int, ticksCrossed uint32) {
		t.Helper()
		data, err := a.Pack("quoteExactInputSingle", quoteParams{
			TokenIn: d.Address(devnet.WETH), TokenOut: d.Address(devnet.USDC), AmountIn: amountIn, Fee: big.NewInt(500), SqrtPriceLimitX96: new(big.Int),
		})
		if err != nil {
			t.Fatal(err)
		}
		to := d.Address(devnet.QuoterV2)
		out, err := d.Client().CallContract(t.Context(), ethereum.CallMsg{To: &to, Data: data}, nil)
		if err != nil {
			t.Fatalf("eth_call quoteExactInputSingle: %v", err)
		}
		res, err := a.Unpack("quoteExactInputSingle", out)
		if err != nil {
			t.Fatal(err)
		}
		return res[0].(*big.Int), res[2].(uint32)
	}
	out, _ := quote(big.NewInt(params.Ether))
	if out.Cmp(units(2_900, 6)) < 0 || out.Cmp(units(3_100, 6)) > 0 {
		t.Errorf("quote for 1 WETH = %s USDC base units, want about 3,000 USDC", out)
	}
	if _, crossed := quote(units(2_000, 18)); crossed == 0 {
		t.Errorf("a 2,000 WETH quote crossed no initialized tick")
	}
}

func TestSafeProxy(t *testing.T) {
	d := devnettest.Shared(t)
	acct, key := devnettest.Account(t, d)
	owners := []common.Address{acct.Address, d.Accounts()[1].Address, d.Accounts()[2].Address}
	safeABI, err := d.ABI(devnet.Safe)
	if err != nil {
		t.Fatal(err)
	}
	setup, err := safeABI.Pack("setup", owners, big.NewInt(2), common.Address{}, []byte{},
		d.Address(devnet.CompatibilityFallbackHandler), common.Address{}, new(big.Int), common.Address{})
	if err != nil {
		t.Fatal(err)
	}
	factory := contract(t, d, devnet.SafeProxyFactory)
	r := transact(t, d, key, factory, nil, "createProxyWithNonce", d.Address(devnet.SafeL2), setup, big.NewInt(42))
	var proxy common.Address
	factoryABI, _ := d.ABI(devnet.SafeProxyFactory)
	for _, l := range r.Logs {
		if l.Address == factory.Address() && len(l.Topics) > 1 && l.Topics[0] == factoryABI.Events["ProxyCreation"].ID {
			proxy = common.BytesToAddress(l.Topics[1].Bytes())
		}
	}
	if proxy == (common.Address{}) {
		t.Fatal("no ProxyCreation event")
	}
	safe := contract(t, d, devnet.Safe, proxy)
	got := call(t, safe, "getOwners")[0].([]common.Address)
	if !slices.Equal(got, owners) {
		t.Errorf("getOwners = %v, want %v", got, owners)
	}
	if th := call(t, safe, "getThreshold")[0].(*big.Int); th.Int64() != 2 {
		t.Errorf("threshold %s", th)
	}
	if v := call(t, safe, "VERSION")[0].(string); v != "1.4.1" {
		t.Errorf("VERSION %q", v)
	}
}

// A transaction with a 1-wei tip is mined (the miner's floor equals the
// pool's), and so is one with the suggested tip.
func TestLowTipMined(t *testing.T) {
	d := devnettest.Shared(t)
	acct, key := devnettest.Account(t, d)
	c := d.Client()
	suggested, err := c.SuggestGasTipCap(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, tip := range []*big.Int{big.NewInt(1), suggested} {
		head, err := c.HeaderByNumber(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		nonce, err := c.PendingNonceAt(t.Context(), acct.Address)
		if err != nil {
			t.Fatal(err)
		}
		to := common.HexToAddress("0x000000000000000000000000000000000000dEaD")
		tx, err := types.SignNewTx(key, types.LatestSignerForChainID(big.NewInt(devnet.ChainID)), &types.DynamicFeeTx{
			ChainID: big.NewInt(devnet.ChainID), Nonce: nonce, GasTipCap: tip,
			GasFeeCap: new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip),
			Gas:       21_000, To: &to, Value: big.NewInt(1),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SendTransaction(t.Context(), tx); err != nil {
			t.Fatalf("tip %s: %v", tip, err)
		}
		if r, err := d.WaitMined(t.Context(), tx.Hash()); err != nil || r.Status != 1 {
			t.Fatalf("tip %s: %v", tip, err)
		}
	}
}

func TestChain(t *testing.T) {
	d := devnettest.Shared(t)
	id, err := d.Client().ChainID(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if id.Int64() != 1337 {
		t.Errorf("chain id %s", id)
	}
	cfg := devnet.ChainConfig()
	if err := cfg.CheckConfigForkOrder(); err != nil {
		t.Fatal(err)
	}
	head, err := d.Client().HeaderByNumber(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.IsOsaka(head.Number, head.Time) {
		t.Error("Osaka not active")
	}
	if cfg.IsAmsterdam(head.Number, head.Time) || cfg.IsBogota(head.Number, head.Time) || cfg.BPO1Time != nil || cfg.UBTTime != nil {
		t.Error("a fork after Osaka is enabled")
	}
}

func TestServeHTTP(t *testing.T) {
	d := devnettest.New(t, devnet.WithAccounts(2))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	url, err := d.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("url %q", url)
	}

	// mandate_deployment from a separate client over real HTTP.
	dep, err := devnet.FetchDeployment(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	local := d.Deployment()
	if dep.RPC != url || local.RPC != url {
		t.Errorf("rpc %q / %q, want %q", dep.RPC, local.RPC, url)
	}
	if dep.ChainID != 1337 || len(dep.Accounts) != 2 || dep.Contracts[devnet.SwapRouter02] != local.Contracts[devnet.SwapRouter02] ||
		len(dep.Tokens.Tokens) != 4 || len(dep.Pools) != len(local.Pools) {
		t.Errorf("fetched deployment differs: %+v", dep)
	}

	// A transaction sent over HTTP is mined with nobody committing, and its
	// receipt arrives over HTTP.
	c, err := ethclient.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key, err := dep.Accounts[0].Key()
	if err != nil {
		t.Fatal(err)
	}
	usdc, _ := d.ABI(devnet.USDC)
	token := bind.NewBoundContract(dep.Contracts[devnet.USDC], usdc, c, c, c)
	opts := bind.NewKeyedTransactor(key, big.NewInt(devnet.ChainID))
	opts.Context = t.Context()
	to := dep.Accounts[1].Address
	tx, err := token.Transact(opts, "transfer", to, big.NewInt(1_000_000))
	if err != nil {
		t.Fatal(err)
	}
	var r *types.Receipt
	for r == nil {
		r, err = c.TransactionReceipt(t.Context(), tx.Hash())
		if err != nil && !errors.Is(err, ethereum.NotFound) {
			t.Fatal(err)
		}
		if r == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if r.Status != 1 {
		t.Fatal("transfer reverted")
	}
	var out []any
	if err := token.Call(&bind.CallOpts{Context: t.Context()}, &out, "balanceOf", to); err != nil {
		t.Fatal(err)
	}
	if want := new(big.Int).Add(devnet.AccountUSDC, big.NewInt(1_000_000)); out[0].(*big.Int).Cmp(want) != 0 {
		t.Errorf("recipient has %s, want %s", out[0], want)
	}

	// Node administration is not served.
	raw, err := rpc.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var info any
	if err := raw.CallContext(t.Context(), &info, "admin_nodeInfo"); err == nil {
		t.Error("admin_nodeInfo is served over HTTP")
	}
	var version string
	if err := raw.CallContext(t.Context(), &version, "web3_clientVersion"); err != nil || !strings.HasPrefix(version, "mandate-devnet/") {
		t.Errorf("web3_clientVersion = %q, %v", version, err)
	}

	// Cancelling ctx stops serving.
	cancel()
	for {
		if _, err := devnet.FetchDeployment(t.Context(), url); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFetchDeploymentNotDevnet(t *testing.T) {
	srv := rpc.NewServer()
	defer srv.Stop()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	_, err := devnet.FetchDeployment(t.Context(), hs.URL)
	if !errors.Is(err, devnet.ErrNotDevnet) {
		t.Fatalf("err = %v, want ErrNotDevnet", err)
	}
}

func TestDeploymentJSON(t *testing.T) {
	d := devnettest.Shared(t)
	path := filepath.Join(t.TempDir(), "devnet.json")
	if err := d.WriteDeployment(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"rpc", "chainId", "accounts", "contracts", "tokens"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	var accounts []map[string]string
	if err := json.Unmarshal(doc["accounts"], &accounts); err != nil || len(accounts) == 0 || accounts[0]["address"] == "" || !strings.HasPrefix(accounts[0]["privateKey"], "0x") {
		t.Errorf("accounts %s: %v", doc["accounts"], err)
	}
	var contracts map[string]string
	if err := json.Unmarshal(doc["contracts"], &contracts); err != nil {
		t.Fatal(err)
	}
	for _, name := range allContracts {
		if !common.IsHexAddress(contracts[name]) {
			t.Errorf("contracts.%s = %q", name, contracts[name])
		}
	}
	var list struct {
		Name      string `json:"name"`
		Timestamp string `json:"timestamp"`
		Version   struct{ Major, Minor, Patch *int }
		Tokens    []struct {
			ChainID  *int   `json:"chainId"`
			Address  string `json:"address"`
			Symbol   string `json:"symbol"`
			Name     string `json:"name"`
			Decimals *int   `json:"decimals"`
		} `json:"tokens"`
	}
	if err := json.Unmarshal(doc["tokens"], &list); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339, list.Timestamp); err != nil || list.Name == "" || list.Version.Major == nil || list.Version.Minor == nil || list.Version.Patch == nil {
		t.Errorf("token list header: %s", doc["tokens"])
	}
	var symbols []string
	for _, tok := range list.Tokens {
		if tok.ChainID == nil || *tok.ChainID != 1337 || !common.IsHexAddress(tok.Address) || tok.Name == "" || tok.Decimals == nil {
			t.Errorf("token %+v", tok)
		}
		symbols = append(symbols, tok.Symbol)
	}
	if !slices.Equal(symbols, []string{"WETH", "USDC", "DAI", "DEFL"}) {
		t.Errorf("symbols %v", symbols)
	}
	var back devnet.Deployment
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Contracts[devnet.USDC] != d.Address(devnet.USDC) {
		t.Error("round trip lost USDC")
	}
}

// Contract addresses do not depend on the run: a deployment file written
// yesterday still points at the right contracts.
func TestAddressesDeterministic(t *testing.T) {
	a := devnettest.Shared(t).Deployment()
	b := devnettest.New(t, devnet.WithAccounts(1)).Deployment()
	for _, name := range allContracts {
		if a.Contracts[name] != b.Contracts[name] {
			t.Errorf("%s at %s and %s", name, a.Contracts[name], b.Contracts[name])
		}
	}
}

func TestAdjustTime(t *testing.T) {
	d := devnettest.New(t, devnet.WithAccounts(1))
	before, err := d.Client().HeaderByNumber(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.AdjustTime(time.Hour); err != nil {
		t.Fatal(err)
	}
	after, err := d.Client().HeaderByNumber(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if after.Time < before.Time+3600 {
		t.Errorf("time %d -> %d", before.Time, after.Time)
	}
}

func TestInitCodeHashes(t *testing.T) {
	// The constants are mainnet's, spelled out here so an edit to them shows.
	if devnet.UniswapV2PairInitCodeHash != common.HexToHash("0x96e8ac4277198ff8b6f785478aa9a39f403cb768dd02cbee326c3e7da348845f") ||
		devnet.UniswapV3PoolInitCodeHash != common.HexToHash("0xe34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54") {
		t.Fatal("init-code hash constants are not mainnet's")
	}
	devnettest.Shared(t) // makes sure the artifacts are in place
	dir := filepath.Join(devnet.ArtifactsDir(), "node_modules")
	for _, tt := range []struct {
		path string
		want common.Hash
	}{
		{"@uniswap/v2-core/build/UniswapV2Pair.json", devnet.UniswapV2PairInitCodeHash},
		{"@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json", devnet.UniswapV3PoolInitCodeHash},
	} {
		a, err := devnet.LoadArtifact(filepath.Join(dir, filepath.FromSlash(tt.path)))
		if err != nil {
			t.Fatal(err)
		}
		if got := a.InitCodeHash(); got != tt.want {
			t.Errorf("%s: init-code hash %s, want %s", tt.path, got, tt.want)
		}
	}
}

// BenchmarkNew measures starting a devnet and deploying everything (the
// artifacts already in place): go test -run '^$' -bench New ./chains/evm/devnet
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		d, err := devnet.New(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		d.Close()
	}
}

// Two devnets are two chains even when started in the same second with the
// same options: the journal, the ledger and the order book tell chains apart
// by genesis, so a restarted devnet must not share the old one's. They start
// side by side, so without the genesis's own randomness their genesis blocks
// would usually be equal.
func TestGenesisDiffers(t *testing.T) {
	var nets [2]*devnet.Devnet
	var errs [2]error
	var wg sync.WaitGroup
	for i := range nets {
		wg.Go(func() { nets[i], errs[i] = devnet.New(t.Context(), devnet.WithAccounts(1)) })
	}
	wg.Wait()
	for i, d := range nets {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { d.Close() })
	}
	var hashes [2]common.Hash
	for i, d := range nets {
		h, err := d.Client().HeaderByNumber(t.Context(), big.NewInt(0))
		if err != nil {
			t.Fatal(err)
		}
		hashes[i] = h.Hash()
	}
	if hashes[0] == hashes[1] {
		t.Fatalf("two devnets share genesis %s", hashes[0])
	}
}
