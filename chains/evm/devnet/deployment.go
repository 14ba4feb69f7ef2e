package devnet

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
)

// Deployment describes a running devnet: where to reach it, its funded
// accounts, the contracts deployed on it and its tokens. Its JSON is a public
// contract (the design's "Devnet"): `mandate devnet --out FILE` writes it and
// the node answers mandate_deployment with it.
type Deployment struct {
	RPC       string                    `json:"rpc"` // HTTP JSON-RPC URL; empty while the devnet is only in-process
	ChainID   uint64                    `json:"chainId"`
	Accounts  []Account                 `json:"accounts"`
	Contracts map[string]common.Address `json:"contracts"`
	Tokens    TokenList                 `json:"tokens"` // Uniswap Token Lists shape
	Pools     []Pool                    `json:"pools"`  // the pools seeded with liquidity
}

// Contract names in Deployment.Contracts.
const (
	WETH                         = "WETH"
	USDC                         = "USDC"
	DAI                          = "DAI"
	DEFL                         = "DEFL" // Uniswap's fee-on-transfer DeflatingERC20 (1% burnt per transfer)
	UniswapV2Factory             = "UniswapV2Factory"
	UniswapV2Router02            = "UniswapV2Router02"
	UniswapV3Factory             = "UniswapV3Factory"
	NonfungiblePositionManager   = "NonfungiblePositionManager"
	SwapRouter02                 = "SwapRouter02"
	QuoterV2                     = "QuoterV2"
	Safe                         = "Safe"
	SafeL2                       = "SafeL2"
	SafeProxyFactory             = "SafeProxyFactory"
	MultiSend                    = "MultiSend"
	MultiSendCallOnly            = "MultiSendCallOnly"
	CompatibilityFallbackHandler = "CompatibilityFallbackHandler"
)

// Account is a funded devnet account. The keys are public knowledge: never
// send anything of value to them on a real chain.
type Account struct {
	Address    common.Address `json:"address"`
	PrivateKey string         `json:"privateKey"` // 0x-prefixed hex
}

// Key parses the account's private key.
func (a Account) Key() (*ecdsa.PrivateKey, error) {
	return crypto.HexToECDSA(strings.TrimPrefix(a.PrivateKey, "0x"))
}

// TokenList is a token list in the Uniswap Token Lists JSON format
// (https://tokenlists.org), so tools learn the devnet's tokens from it alone.
type TokenList struct {
	Name      string           `json:"name"`
	Timestamp string           `json:"timestamp"` // RFC 3339
	Version   TokenListVersion `json:"version"`
	Tokens    []TokenInfo      `json:"tokens"`
}

// TokenListVersion is a token list's semantic version.
type TokenListVersion struct {
	Major int `json:"major"`
	Minor int `json:"minor"`
	Patch int `json:"patch"`
}

// TokenInfo is one token of a token list.
type TokenInfo struct {
	ChainID  uint64         `json:"chainId"`
	Address  common.Address `json:"address"`
	Symbol   string         `json:"symbol"`
	Name     string         `json:"name"`
	Decimals uint8          `json:"decimals"`
}

// Pool is a Uniswap pool the devnet seeded with liquidity.
type Pool struct {
	Protocol string         `json:"protocol"` // "uniswap-v2" or "uniswap-v3"
	Address  common.Address `json:"address"`
	Token0   common.Address `json:"token0"`
	Token1   common.Address `json:"token1"`
	Fee      uint32         `json:"fee"` // hundredths of a bip: 500 = 0.05%; 3000 for every V2 pair
}

// Token returns the token with the given symbol (case-insensitive).
func (d *Deployment) Token(symbol string) (TokenInfo, bool) {
	for _, t := range d.Tokens.Tokens {
		if strings.EqualFold(t.Symbol, symbol) {
			return t, true
		}
	}
	return TokenInfo{}, false
}

// Clone returns a deep copy.
func (d *Deployment) Clone() *Deployment {
	if d == nil {
		return nil
	}
	c := *d
	c.Accounts = append([]Account(nil), d.Accounts...)
	c.Contracts = make(map[string]common.Address, len(d.Contracts))
	for k, v := range d.Contracts {
		c.Contracts[k] = v
	}
	c.Tokens.Tokens = append([]TokenInfo(nil), d.Tokens.Tokens...)
	c.Pools = append([]Pool(nil), d.Pools...)
	return &c
}

// WriteFile writes the deployment as indented JSON, replacing path atomically.
func (d *Deployment) WriteFile(path string) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("devnet: write deployment: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("devnet: write deployment: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("devnet: write deployment: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("devnet: write deployment: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("devnet: write deployment: %w", err)
	}
	return nil
}

// ErrNotDevnet is returned by FetchDeployment when the node answers JSON-RPC
// but is not a Mandate devnet.
var ErrNotDevnet = errors.New("not a Mandate devnet")

// FetchDeployment asks the node at rpcURL for its deployment
// (mandate_deployment). A node that does not know the method yields an error
// wrapping ErrNotDevnet.
func FetchDeployment(ctx context.Context, rpcURL string) (*Deployment, error) {
	c, err := rpc.DialContext(ctx, rpcURL)
	if err != nil {
		return nil, fmt.Errorf("devnet: dial %s: %w", rpcURL, err)
	}
	defer c.Close()
	var dep *Deployment
	if err := c.CallContext(ctx, &dep, "mandate_deployment"); err != nil {
		var rerr rpc.Error
		if errors.As(err, &rerr) && rerr.ErrorCode() == -32601 {
			return nil, fmt.Errorf("devnet: %s does not answer mandate_deployment: %w", rpcURL, ErrNotDevnet)
		}
		return nil, fmt.Errorf("devnet: mandate_deployment at %s: %w", rpcURL, err)
	}
	if dep == nil || len(dep.Contracts) == 0 {
		return nil, fmt.Errorf("devnet: %s answered mandate_deployment with no contracts: %w", rpcURL, ErrNotDevnet)
	}
	if dep.RPC == "" {
		dep.RPC = rpcURL
	}
	return dep, nil
}

// TokenList returns the deployment's tokens as a token list, the form the
// wallet tools resolve symbols through.
func (d *Deployment) TokenList() (*tokenlist.List, error) {
	b, err := json.Marshal(d.Tokens)
	if err != nil {
		return nil, err
	}
	return tokenlist.Parse(b)
}

// Uniswap returns where the deployment's pools are found and its
// SwapRouter02, for the dex tools and for evm.WithSwapDecoder; ok is false
// when the deployment lacks them.
func (d *Deployment) Uniswap() (f uniswap.Factories, r uniswap.Router02, ok bool) {
	c := d.Contracts
	f = uniswap.Factories{V2: c[UniswapV2Factory], V3: c[UniswapV3Factory], WETH: c[WETH]}
	r = uniswap.Router02{Address: c[SwapRouter02], WETH: c[WETH]}
	ok = r.Address != (common.Address{}) && r.WETH != (common.Address{}) && (f.V2 != (common.Address{}) || f.V3 != (common.Address{}))
	return f, r, ok
}
