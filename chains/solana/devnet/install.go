package devnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gofrs/flock"
)

// pins are the npm packages the runtime runs, by exact version. litesvm
// brings the SVM and the programs; kit and the token client are what
// server.js decodes transactions and token accounts with. Changing one is a
// change to what the Solana devnet runs.
var pins = []struct{ name, version string }{
	{"litesvm", "1.5.0"},
	{"@solana/kit", "8.4.0"},
	{"@solana-program/token", "0.16.1"},
	{"@solana-program/system", "0.14.1"},
}

// Pins returns the pinned npm packages as "name@version".
func Pins() []string {
	out := make([]string, len(pins))
	for i, p := range pins {
		out[i] = p.name + "@" + p.version
	}
	return out
}

// RuntimeDir is where, inside an artifacts directory (the EVM devnet's
// ArtifactsDir), the Solana runtime's npm packages and server live.
func RuntimeDir(artifactsDir string) string {
	return filepath.Join(artifactsDir, "solana")
}

// Ensure makes RuntimeDir(artifactsDir) hold the pinned npm packages,
// installing them with npm when any is missing or at another version. It
// prints what it does to progress (nil: quiet). Concurrent callers, in this
// process or others, wait for each other.
func Ensure(ctx context.Context, artifactsDir string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	dir := RuntimeDir(artifactsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("solana devnet: runtime directory: %w", err)
	}
	lock := flock.New(filepath.Join(dir, ".lock"))
	ok, err := lock.TryLockContext(ctx, 100*time.Millisecond)
	if err != nil {
		return fmt.Errorf("solana devnet: lock %s: %w", dir, err)
	}
	if !ok {
		return fmt.Errorf("solana devnet: could not lock %s", dir)
	}
	defer lock.Unlock()

	missing := missingPins(dir)
	if len(missing) == 0 {
		return nil
	}
	if err := npmInstall(ctx, dir, missing, progress); err != nil {
		return err
	}
	if still := missingPins(dir); len(still) > 0 {
		return fmt.Errorf("solana devnet: npm install finished but %s still missing or at another version in %s", strings.Join(still, ", "), dir)
	}
	return nil
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
		return errors.New("solana devnet: npm is not installed (not in PATH); install Node.js with npm to fetch the pinned litesvm runtime, or point MANDATE_ARTIFACTS at a directory that has it")
	}
	if _, err := exec.LookPath("node"); err != nil {
		return errors.New("solana devnet: node is not installed (not in PATH); install Node.js to run the Solana devnet")
	}
	deps := map[string]string{}
	for _, p := range pins {
		deps[p.name] = p.version
	}
	pkg, _ := json.MarshalIndent(map[string]any{
		"name":         "mandate-solana-devnet",
		"private":      true,
		"description":  "The Mandate Solana devnet runtime (litesvm), pinned by exact version. Written by chains/solana/devnet; do not edit.",
		"dependencies": deps,
	}, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "package.json"), append(pkg, '\n'), 0o644); err != nil {
		return fmt.Errorf("solana devnet: write package.json: %w", err)
	}
	fmt.Fprintf(progress, "solana devnet: installing %s into %s with npm (once per machine)\n", strings.Join(missing, ", "), dir)
	args := append([]string{"install", "--prefix", dir, "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact"}, Pins()...)
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout = progress
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("solana devnet: npm install of litesvm failed: %w: %s", err, tail(stderr.String(), 2000))
	}
	fmt.Fprintf(progress, "solana devnet: npm install done in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}
