package mandate_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/mcp"
	"github.com/mandatehq/mandate/mcp/remote"
	"github.com/mandatehq/mandate/tools"
)

// The tools of an MCP server in mcp_servers reach the agent namespaced and
// read-only: even a peer's transfer tool cannot move this runtime's value
// (it never reaches this runtime's signer), and its results come back as
// the peer's data.
func TestMCPServersConfigured(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	ctx := context.Background()
	peer, err := mandate.Open(ctx, mandate.Config{Devnet: true})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	const token = "a-long-random-token-for-the-peer"
	h, err := mcp.New(peer).Handler(token)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	cfgFile := filepath.Join(t.TempDir(), "mandate.yaml")
	yaml := "mcp_servers:\n  - name: peer\n    url: " + srv.URL + mcp.Path + "\n    token: " + token + "\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := mandate.LoadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.MCPServers) != 1 || cfg.MCPServers[0].Name != "peer" || cfg.MCPServers[0].URL != srv.URL+mcp.Path || cfg.MCPServers[0].Token != token {
		t.Fatalf("mcp_servers read as %+v", cfg.MCPServers)
	}
	cfg.Devnet = true
	rt, err := mandate.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	transfer, ok := rt.Tools().Get("peer" + remote.Sep + "wallet_transfer")
	if !ok {
		t.Fatal("the peer's tools are not in the registry")
	}
	if tools.MovesValue(transfer) {
		t.Fatal("a peer's tool claims to move this runtime's value")
	}
	res, err := rt.Tools().Call(ctx, "peer"+remote.Sep+"wallet_address", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(res)
	if !strings.Contains(string(b), peer.Wallet().Address().Hex()) {
		t.Fatalf("the peer's wallet_address answered %s, want the peer's address %s", b, peer.Wallet().Address().Hex())
	}
	if rt.RemoteTools() == nil {
		t.Fatal("RemoteTools is nil with a server configured")
	}
}
