package devnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// pins are the npm packages whose published, compiled artifacts the devnet
// deploys, by exact version. Changing one is a change to what the devnet runs.
var pins = []struct{ name, version string }{
	{"@uniswap/v2-core", "1.0.1"},
	{"@uniswap/v2-periphery", "1.1.0-beta.0"},
	{"@uniswap/v3-core", "1.0.1"},
	{"@uniswap/v3-periphery", "1.4.4"},
	{"@uniswap/swap-router-contracts", "1.3.1"},
	{"@safe-global/safe-contracts", "1.4.1"},
	{"@openzeppelin/contracts", "4.9.6"},
	{"solc", "0.8.26"},
}

// Pins returns the pinned npm packages as "name@version", in install order.
func Pins() []string {
	out := make([]string, len(pins))
	for i, p := range pins {
		out[i] = p.name + "@" + p.version
	}
	return out
}

// The repo's own contracts and the script that compiles them. They are
// embedded so a mandate binary built anywhere can compile them into its
// artifacts directory without a checkout of the repository.
//
//go:embed contracts/*.sol compile.js
var ownSources embed.FS

// ArtifactsDir is where the devnet keeps its npm packages and compiled
// contracts: $MANDATE_ARTIFACTS if set; else .cache/artifacts at the root of
// the github.com/mandatehq/mandate module the working directory lies in; else
// mandate/artifacts under the user cache directory.
func ArtifactsDir() string {
	if d := os.Getenv("MANDATE_ARTIFACTS"); d != "" {
		return d
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; {
			if isMandateModule(filepath.Join(dir, "go.mod")) {
				return filepath.Join(dir, ".cache", "artifacts")
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "mandate", "artifacts")
	}
	return filepath.Join(os.TempDir(), "mandate-artifacts")
}

func isMandateModule(gomod string) bool {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == "github.com/mandatehq/mandate"
		}
	}
	return false
}

// EnsureArtifacts makes dir hold everything the devnet deploys: the pinned
// npm packages (installed with npm when any is missing or at another version)
// and the repo's own contracts compiled with the pinned solc (recompiled when
// their sources change). It prints what it does to progress (nil: quiet).
// Concurrent callers, in this process or others, wait for each other.
func EnsureArtifacts(ctx context.Context, dir string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("devnet: artifacts directory: %w", err)
	}
	lock := flock.New(filepath.Join(dir, ".lock"))
	ok, err := lock.TryLockContext(ctx, 100*time.Millisecond)
	if err != nil {
		return fmt.Errorf("devnet: lock artifacts directory %s: %w", dir, err)
	}
	if !ok {
		return fmt.Errorf("devnet: could not lock artifacts directory %s", dir)
	}
	defer lock.Unlock()

	if missing := missingPins(dir); len(missing) > 0 {
		if err := npmInstall(ctx, dir, missing, progress); err != nil {
			return err
		}
		if still := missingPins(dir); len(still) > 0 {
			return fmt.Errorf("devnet: npm install finished but %s still missing or at another version in %s", strings.Join(still, ", "), dir)
		}
	}
	_, err = compileOwn(ctx, dir, progress)
	return err
}

// missingPins lists the pins not installed at exactly their version.
func missingPins(dir string) []string {
	var missing []string
	for _, p := range pins {
		b, err := os.ReadFile(filepath.Join(dir, "node_modules", filepath.FromSlash(p.name), "package.json"))
		var pkg struct {
			Version string `json:"version"`
		}
		if err != nil || json.Unmarshal(b, &pkg) != nil || pkg.Version != p.version {
			missing = append(missing, p.name+"@"+p.version)
		}
	}
	return missing
}

func npmInstall(ctx context.Context, dir string, missing []string, progress io.Writer) error {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return errors.New("devnet: npm is not installed (not in PATH); install Node.js with npm to fetch the pinned contract artifacts, or point MANDATE_ARTIFACTS at a directory that has them")
	}
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("devnet: node is not installed (not in PATH); install Node.js to fetch and compile the devnet contracts")
	}
	deps := map[string]string{}
	for _, p := range pins {
		deps[p.name] = p.version
	}
	pkg, _ := json.MarshalIndent(map[string]any{
		"name":         "mandate-devnet-artifacts",
		"private":      true,
		"description":  "Contract artifacts for the Mandate devnet, pinned by exact version. Written by chains/evm/devnet; do not edit.",
		"dependencies": deps,
	}, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "package.json"), append(pkg, '\n'), 0o644); err != nil {
		return fmt.Errorf("devnet: write package.json: %w", err)
	}
	fmt.Fprintf(progress, "devnet: installing %s into %s with npm (once per machine)\n", strings.Join(missing, ", "), dir)
	args := append([]string{"install", "--prefix", dir, "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact"}, Pins()...)
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout = progress
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("devnet: npm install of the pinned contract packages failed: %w: %s", err, tail(stderr.String(), 2000))
	}
	fmt.Fprintf(progress, "devnet: npm install done in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// ownSourceHash keys the compiled output: the solc pin, the compile script
// and every source file, so any edit recompiles.
func ownSourceHash() (string, error) {
	h := sha256.New()
	for _, p := range pins {
		if p.name == "solc" {
			fmt.Fprintf(h, "solc@%s\n", p.version)
		}
	}
	names, err := ownSourceNames()
	if err != nil {
		return "", err
	}
	for _, name := range append([]string{"compile.js"}, names...) {
		b, err := ownSources.ReadFile(name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func ownSourceNames() ([]string, error) {
	entries, err := ownSources.ReadDir("contracts")
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sol") {
			names = append(names, "contracts/"+e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// ownArtifactsDir is where the compiled own contracts for the current
// sources live inside an artifacts directory.
func ownArtifactsDir(dir string) (string, error) {
	h, err := ownSourceHash()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "mandate", h), nil
}

// compileOwn compiles the embedded sources into dir/mandate/HASH unless that
// directory already exists. Output is written to a temporary directory and
// renamed into place, so a reader never sees half of it.
func compileOwn(ctx context.Context, dir string, progress io.Writer) (string, error) {
	out, err := ownArtifactsDir(dir)
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return out, nil
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return "", errors.New("devnet: node is not installed (not in PATH); install Node.js to compile the devnet's contracts with the pinned solc")
	}
	work, err := os.MkdirTemp(dir, ".compile-")
	if err != nil {
		return "", fmt.Errorf("devnet: %w", err)
	}
	defer os.RemoveAll(work)
	names, err := ownSourceNames()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(work, "contracts"), 0o755); err != nil {
		return "", err
	}
	for _, name := range append([]string{"compile.js"}, names...) {
		b, _ := ownSources.ReadFile(name)
		if err := os.WriteFile(filepath.Join(work, filepath.FromSlash(name)), b, 0o644); err != nil {
			return "", fmt.Errorf("devnet: %w", err)
		}
	}
	fmt.Fprintf(progress, "devnet: compiling %s with solc-js (once per source change)\n", strings.Join(names, ", "))
	start := time.Now()
	staged := filepath.Join(work, "out")
	cmd := exec.CommandContext(ctx, node, filepath.Join(work, "compile.js"),
		filepath.Join(dir, "node_modules"), filepath.Join(work, "contracts"), staged)
	var combined bytes.Buffer
	cmd.Stdout = &combined
	cmd.Stderr = &combined
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("devnet: compiling the devnet contracts failed: %w: %s", err, tail(combined.String(), 4000))
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(staged, out); err != nil {
		if fi, statErr := os.Stat(out); statErr == nil && fi.IsDir() {
			return out, nil // someone else finished first
		}
		return "", fmt.Errorf("devnet: %w", err)
	}
	fmt.Fprintf(progress, "devnet: compiled in %s\n", time.Since(start).Round(time.Millisecond))
	return out, nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
