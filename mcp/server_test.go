package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/mcp"
)

const token = "test-token-0123456789abcdef"

// shared is one devnet runtime for the tests that only read or that move
// value independently of each other.
var shared struct {
	once sync.Once
	rt   *mandate.Runtime
	err  error
}

func sharedRuntime(t testing.TB) *mandate.Runtime {
	shared.once.Do(func() {
		shared.rt, shared.err = mandate.Open(context.Background(), mandate.Config{Devnet: true})
	})
	if shared.err != nil {
		t.Fatalf("open the devnet runtime: %v", shared.err)
	}
	return shared.rt
}

// openRuntime opens a runtime of its own on the devnet, under policy (the
// devnet's built-in one when nil).
func openRuntime(t testing.TB, policy []byte) *mandate.Runtime {
	t.Helper()
	rt, err := mandate.Open(t.Context(), mandate.Config{Devnet: true, PolicySource: policy})
	if err != nil {
		t.Fatalf("open the devnet runtime: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// serve serves srv over HTTP with token and returns the endpoint's URL.
func serve(t testing.TB, srv *mcp.Server, opts ...mcp.HTTPOption) string {
	t.Helper()
	url, _ := serveHTTP(t, srv, opts...)
	return url
}

func serveHTTP(t testing.TB, srv *mcp.Server, opts ...mcp.HTTPOption) (string, *httptest.Server) {
	t.Helper()
	h, err := srv.Handler(token, opts...)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL + mcp.Path, hs
}

type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

// connect connects the Go SDK's client to url with tok (none when empty).
func connect(ctx context.Context, url, tok string, opts *sdk.ClientOptions) (*sdk.ClientSession, error) {
	c := sdk.NewClient(&sdk.Implementation{Name: "mandate-test", Version: "1"}, opts)
	return c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url, MaxRetries: -1,
		HTTPClient: &http.Client{Transport: bearer{tok, http.DefaultTransport}}}, nil)
}

func mustConnect(t testing.TB, url string, opts *sdk.ClientOptions) *sdk.ClientSession {
	t.Helper()
	cs, err := connect(t.Context(), url, token, opts)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// call calls a tool and decodes its structured content.
func call(t testing.TB, cs *sdk.ClientSession, name string, args any) (*sdk.CallToolResult, mcp.Reply) {
	t.Helper()
	res, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res, reply(t, res)
}

func reply(t testing.TB, res *sdk.CallToolResult) mcp.Reply {
	t.Helper()
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var r mcp.Reply
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("structured content %s: %v", b, err)
	}
	if len(res.Content) != 1 {
		t.Fatalf("want one text content, got %d", len(res.Content))
	}
	if tc, ok := res.Content[0].(*sdk.TextContent); !ok || !strings.Contains(tc.Text, `"untrusted_data":true`) {
		t.Fatalf("the text content is not marked as untrusted data: %#v", res.Content[0])
	}
	return r
}

func post(t testing.TB, url, tok string, body []byte) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`

func TestHTTPNeedsTheToken(t *testing.T) {
	srv := mcp.New(sharedRuntime(t))
	url := serve(t, srv)
	for _, tc := range []struct{ name, tok string }{{"no token", ""}, {"wrong token", token[:len(token)-1] + "X"}, {"token prefix", token[:8]}} {
		t.Run(tc.name, func(t *testing.T) {
			if res := post(t, url, tc.tok, []byte(initialize)); res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", res.StatusCode)
			}
			if cs, err := connect(t.Context(), url, tc.tok, nil); err == nil {
				cs.Close()
				t.Fatal("the SDK's client connected without the right token")
			}
		})
	}
	t.Run("right token", func(t *testing.T) {
		if res := post(t, url, token, []byte(initialize)); res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", res.StatusCode)
		}
		cs := mustConnect(t, url, nil)
		listed, err := cs.ListTools(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		reg := sharedRuntime(t).Tools()
		if len(listed.Tools) != len(reg.List()) {
			t.Fatalf("listed %d tools, the registry has %d", len(listed.Tools), len(reg.List()))
		}
		for _, lt := range listed.Tools {
			tool, ok := reg.Get(lt.Name)
			if !ok {
				t.Fatalf("listed %q, which the registry does not hold", lt.Name)
			}
			if lt.Description != tool.Description() {
				t.Errorf("%s: description %q, want the tool's own %q", lt.Name, lt.Description, tool.Description())
			}
			schema, _ := lt.InputSchema.(map[string]any)
			if schema["type"] != "object" || schema["additionalProperties"] != false {
				t.Errorf("%s: schema %v is not a closed object", lt.Name, lt.InputSchema)
			}
		}
	})
}

func TestHTTPWeakTokenRefused(t *testing.T) {
	srv := mcp.New(sharedRuntime(t))
	for _, tok := range []string{"", "short"} {
		if _, err := srv.Handler(tok); !errors.Is(err, mcp.ErrWeakToken) {
			t.Errorf("Handler(%q): %v, want ErrWeakToken", tok, err)
		}
	}
}

func TestHTTPBodyOverTheLimit(t *testing.T) {
	url := serve(t, mcp.New(sharedRuntime(t)), mcp.WithMaxBody(4<<10))
	big := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"pad":"` + strings.Repeat("x", 8<<10) + `"}}`
	if res := post(t, url, token, []byte(big)); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", res.StatusCode)
	}
	if res := post(t, url, token, []byte(initialize)); res.StatusCode != http.StatusOK {
		t.Fatalf("a body under the limit: status %d, want 200", res.StatusCode)
	}
}

func TestHTTPRateLimit(t *testing.T) {
	url := serve(t, mcp.New(sharedRuntime(t)), mcp.WithRateLimit(0.001, 3))
	var codes []int
	for range 5 {
		codes = append(codes, post(t, url, token, []byte(initialize)).StatusCode)
	}
	want := []int{200, 200, 200, 429, 429}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("statuses %v, want %v", codes, want)
		}
	}
}

func TestBadArguments(t *testing.T) {
	rt := sharedRuntime(t)
	cs := mustConnect(t, serve(t, mcp.New(rt)), nil)
	to := rt.Deployment().Accounts[1].Address.Hex()
	for _, tc := range []struct {
		name, tool string
		args       any
		field      string
	}{
		{"extra field", "wallet_balance", map[string]any{"token": "USDC", "memo": "x"}, `"memo"`},
		{"wrong type", "wallet_transfer", map[string]any{"to": to, "token": "USDC", "amount": 10}, `"amount"`},
		{"missing field", "wallet_transfer", map[string]any{"token": "USDC", "amount": "1"}, `"to"`},
		{"bad address", "wallet_transfer", map[string]any{"to": "0x1234", "token": "USDC", "amount": "1"}, "0x1234"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, r := call(t, cs, tc.tool, tc.args)
			if !res.IsError || r.Kind != mcp.KindBadArgument {
				t.Fatalf("isError %v, kind %q (%s), want a bad argument", res.IsError, r.Kind, r.Error)
			}
			if !strings.Contains(r.Error, tc.field) {
				t.Fatalf("error %q does not name %s", r.Error, tc.field)
			}
			if r.Outcome != nil && r.Outcome.Tx != nil {
				t.Fatalf("a bad argument sent %v", r.Outcome.Tx)
			}
		})
	}
	t.Run("unknown tool", func(t *testing.T) {
		_, err := cs.CallTool(t.Context(), &sdk.CallToolParams{Name: "wallet_drain", Arguments: map[string]any{}})
		if err == nil || !strings.Contains(err.Error(), "wallet_drain") {
			t.Fatalf("err %v, want an error naming the unknown tool", err)
		}
	})
}

func TestBalanceAndTransfers(t *testing.T) {
	rt := openRuntime(t, nil)
	cs := mustConnect(t, serve(t, mcp.New(rt)), nil)
	to := rt.Deployment().Accounts[2].Address

	res, r := call(t, cs, "wallet_balance", map[string]any{"token": "USDC"})
	if res.IsError || !strings.Contains(r.Text, "USDC") {
		t.Fatalf("balance: isError %v, text %q (%s)", res.IsError, r.Text, r.Error)
	}
	before := usdcOf(t, rt, to.Hex())

	res, r = call(t, cs, "wallet_transfer", map[string]any{"to": to.Hex(), "token": "USDC", "amount": "10"})
	if res.IsError || r.Outcome == nil || r.Outcome.Decision != "approve" || r.Outcome.Tx == nil || r.Outcome.Tx.Status != "mined" {
		t.Fatalf("allowed transfer: isError %v, reply %+v", res.IsError, r)
	}
	if got := usdcOf(t, rt, to.Hex()); new(big.Int).Sub(got, before).Cmp(big.NewInt(10_000_000)) != 0 {
		t.Fatalf("the recipient has %s base units, want %s + 10 USDC", got, before)
	}

	res, r = call(t, cs, "wallet_transfer", map[string]any{"to": to.Hex(), "token": "USDC", "amount": "5000"})
	if !res.IsError || r.Kind != mcp.KindDenied || !r.Denied || len(r.Reasons) == 0 || r.Advice == "" {
		t.Fatalf("over-limit transfer: isError %v, reply %+v", res.IsError, r)
	}
	t.Logf("refused: %s", res.Content[0].(*sdk.TextContent).Text)
	if !strings.Contains(strings.Join(r.Reasons, " "), "per_tx") {
		t.Fatalf("reasons %q do not name the per-transaction limit", r.Reasons)
	}
	if r.Outcome == nil || r.Outcome.Decision != "deny" || r.Outcome.Tx != nil {
		t.Fatalf("over-limit transfer's outcome %+v, want a denial that sent nothing", r.Outcome)
	}
	if got := usdcOf(t, rt, to.Hex()); new(big.Int).Sub(got, before).Cmp(big.NewInt(10_000_000)) != 0 {
		t.Fatalf("after the refusal the recipient has %s base units, want %s + 10 USDC", got, before)
	}

	// The decisions resource shows both, newest first.
	rr, err := cs.ReadResource(t.Context(), &sdk.ReadResourceParams{URI: mcp.DecisionsURI})
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Decisions []struct {
			Decision string   `json:"decision"`
			Reasons  []string `json:"reasons"`
		} `json:"decisions"`
	}
	if err := json.Unmarshal([]byte(rr.Contents[0].Text), &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Decisions) < 2 || ds.Decisions[0].Decision != "deny" || ds.Decisions[1].Decision != "approve" {
		t.Fatalf("decisions %+v, want the denial then the approval", ds.Decisions)
	}
}

// usdcOf reads addr's USDC balance from the chain.
func usdcOf(t testing.TB, rt *mandate.Runtime, addr string) *big.Int {
	t.Helper()
	c := rt.Deployment().Contracts["USDC"]
	bal, err := rt.Client().TokenBalance(t.Context(), c, common.HexToAddress(addr))
	if err != nil {
		t.Fatal(err)
	}
	return bal
}
