// Package mcptest installs the official TypeScript MCP client for tests
// that drive `mandate mcp` with it: the npm package pinned by exact
// version, installed once per machine next to the devnet's artifacts.
package mcptest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofrs/flock"

	"github.com/mandatehq/mandate/chains/evm/devnet"
)

// The TypeScript SDK the tests drive the server with, by exact version.
// Changing it is a change to what the tests prove.
const (
	SDKPackage = "@modelcontextprotocol/sdk"
	SDKVersion = "1.32.2"
)

//go:embed client.mjs
var script []byte

// Client is the installed TypeScript client: run Node on Script with a
// plan (see client.mjs).
type Client struct {
	Node   string
	Script string
}

// Dir is where the client is installed: beside the devnet's artifacts.
func Dir() string { return filepath.Join(devnet.ArtifactsDir(), "mcp-client") }

// TSClient installs the client when needed and returns it. Without node or
// npm the test is skipped, saying so, except under CI=true, where it fails:
// CI must run it.
func TSClient(t testing.TB) Client {
	t.Helper()
	node, nerr := exec.LookPath("node")
	_, perr := exec.LookPath("npm")
	if nerr != nil || perr != nil {
		msg := "node and npm are needed to run the TypeScript MCP client (" + SDKPackage + "@" + SDKVersion + "); install Node.js"
		if os.Getenv("CI") == "true" {
			t.Fatal("mcptest: CI=true but " + msg)
		}
		t.Skip("mcptest: " + msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := Dir()
	if err := Ensure(ctx, dir, io.Discard); err != nil {
		t.Fatalf("mcptest: %v", err)
	}
	return Client{Node: node, Script: filepath.Join(dir, "client.mjs")}
}

// Ensure makes dir hold the pinned SDK and the client script, installing
// the SDK with npm when it is missing or at another version. Concurrent
// callers, in this process or others, wait for each other.
//
// It is the devnet's install (chains/evm/devnet, chains/solana/devnet) for
// one more package; those keep their pins and installers unexported.
func Ensure(ctx context.Context, dir string, progress io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("MCP client directory: %w", err)
	}
	lock := flock.New(filepath.Join(dir, ".lock"))
	ok, err := lock.TryLockContext(ctx, 100*time.Millisecond)
	if err != nil {
		return fmt.Errorf("lock %s: %w", dir, err)
	}
	if !ok {
		return fmt.Errorf("could not lock %s", dir)
	}
	defer lock.Unlock()

	if installed(dir) != SDKVersion {
		if err := npmInstall(ctx, dir, progress); err != nil {
			return err
		}
		if v := installed(dir); v != SDKVersion {
			return fmt.Errorf("npm install finished but %s is at %q in %s, not %s", SDKPackage, v, dir, SDKVersion)
		}
	}
	path := filepath.Join(dir, "client.mjs")
	if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, script) {
		if err := os.WriteFile(path, script, 0o644); err != nil {
			return fmt.Errorf("write the client script: %w", err)
		}
	}
	return nil
}

func installed(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", filepath.FromSlash(SDKPackage), "package.json"))
	var pkg struct {
		Version string `json:"version"`
	}
	if err != nil || json.Unmarshal(b, &pkg) != nil {
		return ""
	}
	return pkg.Version
}

func npmInstall(ctx context.Context, dir string, progress io.Writer) error {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return errors.New("npm is not installed (not in PATH)")
	}
	pkg, _ := json.MarshalIndent(map[string]any{
		"name":         "mandate-mcp-client",
		"private":      true,
		"type":         "module",
		"description":  "The TypeScript MCP client Mandate's tests drive `mandate mcp` with, pinned by exact version. Written by mcp/mcptest; do not edit.",
		"dependencies": map[string]string{SDKPackage: SDKVersion},
	}, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "package.json"), append(pkg, '\n'), 0o644); err != nil {
		return fmt.Errorf("write package.json: %w", err)
	}
	fmt.Fprintf(progress, "mcptest: installing %s@%s into %s with npm (once per machine)\n", SDKPackage, SDKVersion, dir)
	cmd := exec.CommandContext(ctx, npm, "install", "--prefix", dir, "--no-audit", "--no-fund", "--ignore-scripts", "--save-exact", SDKPackage+"@"+SDKVersion)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stdout = progress
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm install %s@%s failed: %w: %s", SDKPackage, SDKVersion, err, tail(stderr.String(), 2000))
	}
	return nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// Call is one tool call of a Plan.
type Call struct {
	Name      string         `json:"name"`
	Arguments map[string]any `json:"arguments"`
}

// Plan is what the client does: start Command with Args as an MCP server
// over stdio, list its tools, make the calls in order.
type Plan struct {
	Command string   `json:"command"`
	Args    []string `json:"args"`
	Calls   []Call   `json:"calls"`
}

// Tool is a tool as the client listed it.
type Tool struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	InputSchema map[string]any `json:"inputSchema"`
	Annotations map[string]any `json:"annotations"`
}

// Result is what one call gave the client: a result (IsError, its text
// and structured content), or a protocol error.
type Result struct {
	Name              string          `json:"name"`
	IsError           bool            `json:"isError"`
	Text              string          `json:"text"`
	StructuredContent json.RawMessage `json:"structuredContent"`
	ProtocolError     string          `json:"protocolError"`
	Code              any             `json:"code"`
}

// Run runs plan with env added to the client's environment (which the
// server inherits), within ten minutes, and returns what the client saw.
// The server's stderr is the test's log.
func (c Client) Run(t testing.TB, plan Plan, env ...string) ([]Tool, []Result) {
	t.Helper()
	raw, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Node, c.Script, string(raw))
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if stderr.Len() > 0 {
		t.Logf("client and server stderr:\n%s", tail(stderr.String(), 8000))
	}
	if err != nil {
		t.Fatalf("the TypeScript client failed: %v\nstdout: %s", err, tail(stdout.String(), 4000))
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 1+len(plan.Calls) {
		t.Fatalf("the client printed %d lines, want %d:\n%s", len(lines), 1+len(plan.Calls), stdout.String())
	}
	var listed struct {
		Tools []Tool `json:"tools"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &listed); err != nil {
		t.Fatalf("tool list %q: %v", lines[0], err)
	}
	results := make([]Result, len(plan.Calls))
	for i, l := range lines[1:] {
		if err := json.Unmarshal([]byte(l), &results[i]); err != nil {
			t.Fatalf("result %q: %v", l, err)
		}
	}
	return listed.Tools, results
}
