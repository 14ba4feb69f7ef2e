package mcp_test

import (
	"encoding/json"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandatehq/mandate/mcp"
)

// BenchmarkToolCall measures a read-only tool called directly through the
// registry, and through the MCP server over stdio framing (OS pipes) and
// over Streamable HTTP (loopback), each call waiting for its answer: the
// difference is the server's overhead.
//
//	go test -run '^$' -bench ToolCall -benchmem ./mcp
func BenchmarkToolCall(b *testing.B) {
	rt := sharedRuntime(b)
	for _, tc := range []struct {
		tool string
		args map[string]any
	}{
		{"wallet_address", map[string]any{}},
		{"wallet_balance", map[string]any{"token": "USDC"}},
	} {
		raw, _ := json.Marshal(tc.args)
		b.Run(tc.tool+"/direct", func(b *testing.B) {
			reg := rt.Tools()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := reg.Call(b.Context(), tc.tool, raw); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
		b.Run(tc.tool+"/stdio", func(b *testing.B) {
			cs := pipeSession(b, mcp.New(rt))
			loop(b, cs, tc.tool, tc.args)
		})
		b.Run(tc.tool+"/http", func(b *testing.B) {
			cs := mustConnect(b, serve(b, mcp.New(rt), mcp.WithRateLimit(1e9, 1<<30)), nil)
			loop(b, cs, tc.tool, tc.args)
		})
	}
}

func loop(b *testing.B, cs *sdk.ClientSession, tool string, args map[string]any) {
	b.ReportAllocs()
	for b.Loop() {
		res, err := cs.CallTool(b.Context(), &sdk.CallToolParams{Name: tool, Arguments: args})
		if err != nil || res.IsError {
			b.Fatalf("%v %+v", err, res)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
