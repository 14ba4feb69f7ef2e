package devnet

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const tinyABI = `[{"inputs":[],"stateMutability":"nonpayable","type":"constructor"},{"inputs":[],"name":"x","outputs":[{"internalType":"uint256","name":"","type":"uint256"}],"stateMutability":"view","type":"function"}]`

func TestParseArtifactShapes(t *testing.T) {
	tests := []struct {
		name, json string
		wantErr    string
	}{
		{"uniswap v2 build (waffle)", `{"abi":` + tinyABI + `,"bytecode":"6080604052","evm":{"bytecode":{"object":"6080604052"}}}`, ""},
		{"hardhat", `{"_format":"hh-sol-artifact-1","contractName":"T","abi":` + tinyABI + `,"bytecode":"0x6080604052","linkReferences":{}}`, ""},
		{"truffle", `{"contractName":"T","abi":` + tinyABI + `,"bytecode":"0x6080604052","deployedBytecode":"0x00"}`, ""},
		{"solc standard json", `{"abi":` + tinyABI + `,"evm":{"bytecode":{"object":"6080604052"}}}`, ""},
		{"bytecode object", `{"abi":` + tinyABI + `,"bytecode":{"object":"0x6080604052"}}`, ""},
		{"abi as string", `{"abi":` + quoteJSON(tinyABI) + `,"bytecode":"0x6080604052"}`, ""},
		{"interface", `{"abi":` + tinyABI + `,"bytecode":"0x"}`, "no bytecode"},
		{"unlinked", `{"abi":` + tinyABI + `,"bytecode":"0x6080__$abc$__6052"}`, "unlinked"},
		{"no abi", `{"bytecode":"0x6080604052"}`, "no abi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := parseArtifact([]byte(tt.json))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.Bytecode, []byte{0x60, 0x80, 0x60, 0x40, 0x52}) {
				t.Errorf("bytecode %x", a.Bytecode)
			}
			if _, ok := a.ABI.Methods["x"]; !ok {
				t.Error("abi has no x()")
			}
		})
	}
}

func quoteJSON(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
}

// Every artifact the devnet deploys loads from the pinned packages, in each
// of their shapes.
func TestLoadPinnedArtifacts(t *testing.T) {
	dir := ArtifactsDir()
	if err := EnsureArtifacts(t.Context(), dir, nil); err != nil {
		t.Fatal(err)
	}
	set, err := loadArtifacts(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name := range artifactPaths {
		if len(set[name].Bytecode) == 0 {
			t.Errorf("%s: empty bytecode", name)
		}
	}
	if len(set["DevnetERC20"].ABI.Constructor.Inputs) != 5 {
		t.Errorf("DevnetERC20 constructor %v", set["DevnetERC20"].ABI.Constructor)
	}
}

// New refuses artifacts whose pair or pool creation code is not mainnet's.
func TestInitCodeHashMismatch(t *testing.T) {
	dir := ArtifactsDir()
	if err := EnsureArtifacts(t.Context(), dir, nil); err != nil {
		t.Fatal(err)
	}
	set, err := loadArtifacts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkInitCodeHashes(set); err != nil {
		t.Fatalf("published artifacts: %v", err)
	}
	for _, name := range []string{"UniswapV2Pair", "UniswapV3Pool"} {
		tampered := artifactSet{}
		for k, v := range set {
			tampered[k] = v
		}
		a := *set[name]
		a.Bytecode = append(bytes.Clone(a.Bytecode), 0) // e.g. another compiler setting
		tampered[name] = &a
		err := checkInitCodeHashes(tampered)
		if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "init-code hash") {
			t.Errorf("%s tampered: err = %v", name, err)
		}
	}
}

func TestArtifactsDir(t *testing.T) {
	t.Setenv("MANDATE_ARTIFACTS", "/somewhere/else")
	if got := ArtifactsDir(); got != "/somewhere/else" {
		t.Errorf("with MANDATE_ARTIFACTS: %q", got)
	}
	t.Setenv("MANDATE_ARTIFACTS", "")
	// The test runs in chains/evm/devnet; the module root is three up.
	wd, _ := os.Getwd()
	root := filepath.Dir(filepath.Dir(filepath.Dir(wd)))
	if got, want := ArtifactsDir(), filepath.Join(root, ".cache", "artifacts"); got != want {
		t.Errorf("in the repo: %q, want %q", got, want)
	}
	t.Chdir(t.TempDir())
	if got := ArtifactsDir(); !strings.HasSuffix(got, filepath.Join("mandate", "artifacts")) {
		t.Errorf("outside the repo: %q", got)
	}
}

func TestEnsureArtifactsWithoutNpm(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no npm, no node
	err := EnsureArtifacts(context.Background(), t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "npm is not installed") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v", err)
	}
}

func TestOwnSourceHashCoversSources(t *testing.T) {
	h, err := ownSourceHash()
	if err != nil {
		t.Fatal(err)
	}
	names, _ := ownSourceNames()
	if len(names) == 0 || len(h) != 16 {
		t.Fatalf("sources %v, hash %q", names, h)
	}
}
