package devnet

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
)

// Artifact is a compiled contract: its ABI and its creation code.
type Artifact struct {
	Name     string
	ABI      abi.ABI
	Bytecode []byte // creation (init) code, constructor arguments not included
}

// InitCodeHash is keccak256 of the creation code, the value CREATE2
// address derivations (Uniswap's pairFor / computeAddress) depend on.
func (a *Artifact) InitCodeHash() common.Hash { return crypto.Keccak256Hash(a.Bytecode) }

// LoadArtifact reads a compiled contract from the JSON shapes the pinned
// packages publish: Uniswap v2's build/*.json (waffle: abi, bytecode without
// 0x, evm.bytecode.object), Hardhat artifacts (Uniswap v3, swap-router, Safe,
// OpenZeppelin's build/contracts: abi, bytecode with 0x, linkReferences), and
// solc standard-JSON style {abi, evm: {bytecode: {object}}}. Unlinked library
// placeholders are an error.
func LoadArtifact(path string) (*Artifact, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devnet: artifact: %w", err)
	}
	a, err := parseArtifact(b)
	if err != nil {
		return nil, fmt.Errorf("devnet: artifact %s: %w", path, err)
	}
	if a.Name == "" {
		a.Name = strings.TrimSuffix(filepath.Base(path), ".json")
	}
	return a, nil
}

func parseArtifact(b []byte) (*Artifact, error) {
	var raw struct {
		ContractName string          `json:"contractName"`
		ABI          json.RawMessage `json:"abi"`
		Bytecode     json.RawMessage `json:"bytecode"`
		EVM          *struct {
			Bytecode struct {
				Object string `json:"object"`
			} `json:"bytecode"`
		} `json:"evm"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	abiJSON := raw.ABI
	var abiString string
	if json.Unmarshal(raw.ABI, &abiString) == nil { // some tools store the ABI as a JSON string
		abiJSON = json.RawMessage(abiString)
	}
	if len(abiJSON) == 0 {
		return nil, fmt.Errorf("no abi")
	}
	parsed, err := abi.JSON(bytes.NewReader(abiJSON))
	if err != nil {
		return nil, fmt.Errorf("abi: %w", err)
	}
	var code string
	var obj struct {
		Object string `json:"object"`
	}
	switch {
	case json.Unmarshal(raw.Bytecode, &code) == nil && code != "":
	case json.Unmarshal(raw.Bytecode, &obj) == nil && obj.Object != "":
		code = obj.Object
	case raw.EVM != nil:
		code = raw.EVM.Bytecode.Object
	}
	code = strings.TrimPrefix(strings.TrimSpace(code), "0x")
	if code == "" {
		return nil, fmt.Errorf("no bytecode (an interface or abstract contract?)")
	}
	if strings.Contains(code, "__") {
		return nil, fmt.Errorf("bytecode has unlinked library references")
	}
	bc, err := hexutil.Decode("0x" + code)
	if err != nil {
		return nil, fmt.Errorf("bytecode: %w", err)
	}
	return &Artifact{Name: raw.ContractName, ABI: parsed, Bytecode: bc}, nil
}

// artifactPaths says where, under node_modules, each deployed contract's
// published artifact lives.
var artifactPaths = map[string]string{
	"WETH9":                        "@uniswap/v2-periphery/build/WETH9.json",
	"DeflatingERC20":               "@uniswap/v2-periphery/build/DeflatingERC20.json",
	"UniswapV2Factory":             "@uniswap/v2-core/build/UniswapV2Factory.json",
	"UniswapV2Pair":                "@uniswap/v2-core/build/UniswapV2Pair.json",
	"UniswapV2Router02":            "@uniswap/v2-periphery/build/UniswapV2Router02.json",
	"UniswapV3Factory":             "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json",
	"UniswapV3Pool":                "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json",
	"NonfungiblePositionManager":   "@uniswap/v3-periphery/artifacts/contracts/NonfungiblePositionManager.sol/NonfungiblePositionManager.json",
	"SwapRouter02":                 "@uniswap/swap-router-contracts/artifacts/contracts/SwapRouter02.sol/SwapRouter02.json",
	"QuoterV2":                     "@uniswap/swap-router-contracts/artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json",
	"Safe":                         "@safe-global/safe-contracts/build/artifacts/contracts/Safe.sol/Safe.json",
	"SafeL2":                       "@safe-global/safe-contracts/build/artifacts/contracts/SafeL2.sol/SafeL2.json",
	"SafeProxyFactory":             "@safe-global/safe-contracts/build/artifacts/contracts/proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
	"MultiSend":                    "@safe-global/safe-contracts/build/artifacts/contracts/libraries/MultiSend.sol/MultiSend.json",
	"MultiSendCallOnly":            "@safe-global/safe-contracts/build/artifacts/contracts/libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json",
	"CompatibilityFallbackHandler": "@safe-global/safe-contracts/build/artifacts/contracts/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json",
	"ERC20":                        "@openzeppelin/contracts/build/contracts/ERC20.json",
}

// ownArtifacts are compiled from contracts/*.sol into the artifacts directory.
var ownArtifacts = []string{"DevnetERC20"}

type artifactSet map[string]*Artifact

var (
	artifactCacheMu sync.Mutex
	artifactCache   = map[string]artifactSet{}
)

// loadArtifacts reads every artifact the devnet needs from dir (after
// EnsureArtifacts). Results are cached per directory and source hash for the
// life of the process; artifacts are read-only once loaded.
func loadArtifacts(dir string) (artifactSet, error) {
	own, err := ownArtifactsDir(dir)
	if err != nil {
		return nil, err
	}
	artifactCacheMu.Lock()
	defer artifactCacheMu.Unlock()
	if set, ok := artifactCache[own]; ok {
		return set, nil
	}
	set := artifactSet{}
	for name, rel := range artifactPaths {
		a, err := LoadArtifact(filepath.Join(dir, "node_modules", filepath.FromSlash(rel)))
		if err != nil {
			return nil, err
		}
		set[name] = a
	}
	for _, name := range ownArtifacts {
		a, err := LoadArtifact(filepath.Join(own, name+".json"))
		if err != nil {
			return nil, err
		}
		set[name] = a
	}
	artifactCache[own] = set
	return set, nil
}
