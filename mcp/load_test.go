package mcp_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandatehq/mandate/mcp"
)

// pipeSession serves srv over a pair of OS pipes with the stdio framing
// (what `mandate mcp` speaks on stdin and stdout) and connects the Go SDK's
// client to it.
func pipeSession(t testing.TB, srv *mcp.Server) *sdk.ClientSession {
	t.Helper()
	sr, cw, err := os.Pipe() // client → server
	if err != nil {
		t.Fatal(err)
	}
	cr, sw, err := os.Pipe() // server → client
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, &sdk.IOTransport{Reader: sr, Writer: sw}) }()
	c := sdk.NewClient(&sdk.Implementation{Name: "pipe-test", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &sdk.IOTransport{Reader: cr, Writer: cw}, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cs.Close()
		cancel()
		<-done
	})
	return cs
}

// A thousand calls at once on one stdio session all get their own answer.
func TestThousandCallsAtOnce(t *testing.T) {
	rt := sharedRuntime(t)
	cs := pipeSession(t, mcp.New(rt))
	want := rt.Wallet().Address().Hex()
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for range 1000 {
		wg.Go(func() {
			res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "wallet_address", Arguments: map[string]any{}})
			switch {
			case err != nil:
				errs <- err.Error()
			case res.IsError:
				errs <- "tool error"
			default:
				if tc, ok := res.Content[0].(*sdk.TextContent); !ok || !strings.Contains(tc.Text, want) {
					errs <- "a wrong answer"
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("one of 1000 concurrent calls failed: %s", e)
	}
}

// A thousand requests at once from one HTTP client: the burst is served,
// the rest get 429, and the server goes on serving.
func TestThousandRequestsAtOnceOverHTTP(t *testing.T) {
	url := serve(t, mcp.New(sharedRuntime(t)), mcp.WithRateLimit(0.001, 40))
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes = map[int]int{}
	)
	for range 1000 {
		wg.Go(func() {
			c := post(t, url, token, []byte(initialize)).StatusCode
			mu.Lock()
			codes[c]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusOK] != 40 || codes[http.StatusTooManyRequests] != 960 {
		t.Fatalf("statuses %v, want 40 × 200 and 960 × 429", codes)
	}
}
