package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandatehq/mandate/mcp"
	"github.com/mandatehq/mandate/mcp/mcptest"
)

// beef is a recipient no policy of the devnet denies.
const beef = "0x000000000000000000000000000000000000bEEF"

// The official TypeScript client starts `mandate mcp --devnet` as an MCP
// client application does, lists the tools and calls them over stdio.
func TestMCPStdioWithTheTypeScriptClient(t *testing.T) {
	client := mcptest.TSClient(t)
	bin := buildMandate(t)
	usdc := func(amount string) map[string]any {
		return map[string]any{"to": beef, "token": "USDC", "amount": amount}
	}
	tools, results := client.Run(t, mcptest.Plan{Command: bin, Args: []string{"mcp", "--devnet"}, Calls: []mcptest.Call{
		{Name: "wallet_balance", Arguments: map[string]any{"token": "USDC"}},
		{Name: "wallet_transfer", Arguments: usdc("10")},
		{Name: "wallet_balance", Arguments: map[string]any{"token": "USDC"}},
		{Name: "wallet_transfer", Arguments: usdc("5000")},
		{Name: "wallet_transfer", Arguments: map[string]any{"to": "0xnot-an-address", "token": "USDC", "amount": "1"}},
		{Name: "wallet_transfer", Arguments: map[string]any{"to": beef, "token": "USDC", "amount": "1", "memo": "ignore the policy"}},
		{Name: "wallet_drain", Arguments: map[string]any{}},
	}}, "MANDATE_MCP_TOKEN=")

	names := map[string]mcptest.Tool{}
	for _, tl := range tools {
		names[tl.Name] = tl
	}
	for _, want := range []string{"wallet_balance", "wallet_transfer", "dex_swap", "wallet_portfolio"} {
		if _, ok := names[want]; !ok {
			t.Fatalf("the client did not list %s; it listed %d tools", want, len(tools))
		}
	}
	if tr := names["wallet_transfer"]; tr.InputSchema["additionalProperties"] != false || tr.Annotations["readOnlyHint"] != false {
		t.Fatalf("wallet_transfer listed as %+v, want a closed schema and not read-only", tr)
	}
	if names["wallet_balance"].Annotations["readOnlyHint"] != true {
		t.Fatalf("wallet_balance not listed read-only: %+v", names["wallet_balance"].Annotations)
	}

	reply := func(i int) mcp.Reply {
		t.Helper()
		var r mcp.Reply
		if err := json.Unmarshal(results[i].StructuredContent, &r); err != nil {
			t.Fatalf("call %d (%s): structured content %s: %v (protocol error %q)", i, results[i].Name, results[i].StructuredContent, err, results[i].ProtocolError)
		}
		return r
	}
	before, after := reply(0), reply(2)
	if results[0].IsError || !strings.Contains(before.Text, "USDC") {
		t.Fatalf("balance: %+v", results[0])
	}
	if r := reply(1); results[1].IsError || r.Outcome == nil || r.Outcome.Decision != "approve" || r.Outcome.Tx == nil || r.Outcome.Tx.Status != "mined" {
		t.Fatalf("allowed transfer: %+v", results[1])
	}
	if usdcUnits(t, before)-usdcUnits(t, after) != 10_000_000 {
		t.Fatalf("the balance went from %q to %q, want 10 USDC less", before.Text, after.Text)
	}
	if r := reply(3); !results[3].IsError || r.Kind != mcp.KindDenied || !strings.Contains(results[3].Text, "per-tx limit") || r.Advice == "" {
		t.Fatalf("over-limit transfer: %+v", results[3])
	}
	if r := reply(4); !results[4].IsError || r.Kind != mcp.KindBadArgument || !strings.Contains(r.Error, "0xnot-an-address") {
		t.Fatalf("bad address: %+v", results[4])
	}
	if r := reply(5); !results[5].IsError || r.Kind != mcp.KindBadArgument || !strings.Contains(r.Error, `"memo"`) {
		t.Fatalf("extra field: %+v", results[5])
	}
	if res := results[6]; res.ProtocolError == "" || !strings.Contains(res.ProtocolError, "wallet_drain") {
		t.Fatalf("unknown tool: %+v, want a protocol error naming it", res)
	}
}

// usdcUnits is the wallet's USDC balance in base units, from
// wallet_balance's data.
func usdcUnits(t *testing.T, r mcp.Reply) int64 {
	t.Helper()
	b, _ := json.Marshal(r.Data)
	m := regexp.MustCompile(`"base":"(\d+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no base units in the balance's data %s", b)
	}
	var n int64
	if err := json.Unmarshal(m[1], &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// `mandate mcp --listen` serves Streamable HTTP only with a bearer token,
// and the Go SDK's client reads a balance through it.
func TestMCPListen(t *testing.T) {
	bin := buildMandate(t)
	t.Run("no token", func(t *testing.T) {
		cmd := exec.Command(bin, "mcp", "--devnet", "--listen", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "MANDATE_MCP_TOKEN=")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(string(out), "MANDATE_MCP_TOKEN") {
			t.Fatalf("err %v, output %q; want exit 2 naming MANDATE_MCP_TOKEN", err, out)
		}
	})
	const token = "listen-test-token-0123456789"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "mcp", "--devnet", "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "MANDATE_MCP_TOKEN="+token)
	cmd.Dir = t.TempDir()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := regexp.MustCompile(`MCP server at (http://\S+)`).FindStringSubmatch(sc.Text()); m != nil {
				url <- m[1]
			}
		}
	}()
	var endpoint string
	select {
	case endpoint = <-url:
	case <-time.After(5 * time.Minute):
		t.Fatal("mandate mcp --listen did not say where it serves within 5 minutes")
	}
	connect := func(tok string) (*sdk.ClientSession, error) {
		c := sdk.NewClient(&sdk.Implementation{Name: "listen-test", Version: "1"}, nil)
		return c.Connect(t.Context(), &sdk.StreamableClientTransport{Endpoint: endpoint, MaxRetries: -1,
			HTTPClient: &http.Client{Transport: bearerTransport(tok)}}, nil)
	}
	if cs, err := connect("wrong-token-0123456789"); err == nil {
		cs.Close()
		t.Fatal("connected with a wrong token")
	}
	cs, err := connect(token)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "wallet_balance", Arguments: map[string]any{"token": "USDC"}})
	if err != nil || res.IsError {
		t.Fatalf("balance: %v %+v", err, res)
	}
}

type bearerTransport string

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}
