package mcp_test

import (
	"context"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandatehq/mandate/mcp"
)

// A client that gives up on a transfer after the server started it (it
// cancels the call, or its connection drops) does not leave it half-done:
// the transfer runs to its end under a context the request's cancellation
// does not reach, and is mined and recorded once.
func TestClientGoneMidTransfer(t *testing.T) {
	rt := openRuntime(t, nil)
	to := rt.Deployment().Accounts[4].Address.Hex()
	for _, how := range []string{"cancelled", "disconnected"} {
		t.Run(how, func(t *testing.T) {
			srv := mcp.New(rt)
			url, hs := serveHTTP(t, srv)
			cs := mustConnect(t, url, nil)
			callCtx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var giveUp func(reqCtx context.Context) // once, at the first call's start
			var once sync.Once
			mcp.OnCallStart(srv, func(reqCtx context.Context, tool string) {
				if tool == "wallet_transfer" {
					once.Do(func() { giveUp(reqCtx) })
				}
			})
			giveUp = func(reqCtx context.Context) {
				if how == "disconnected" {
					// A session's requests outlive their connection (the
					// client may come back for the answer): nothing to
					// wait for but the call's end.
					hs.CloseClientConnections()
					return
				}
				cancel() // the client sends notifications/cancelled
				select {
				case <-reqCtx.Done():
				case <-time.After(30 * time.Second):
					t.Error("the request's context was not cancelled 30 s after the client cancelled the call")
				}
			}
			before := usdcOf(t, rt, to)
			key := "gone-" + how
			_, err := cs.CallTool(callCtx, &sdk.CallToolParams{Name: "wallet_transfer",
				Arguments: map[string]any{"to": to, "token": "USDC", "amount": "2", "idempotency_key": key}})
			if err == nil {
				t.Fatal("the call returned a result to a client that had gone")
			}
			srv.Wait()
			if got := new(big.Int).Sub(usdcOf(t, rt, to), before); got.Cmp(big.NewInt(2_000_000)) != 0 {
				t.Fatalf("the recipient got %s base units, want the 2 USDC sent once", got)
			}
			// A retry under the same key converges on the transfer that
			// was sent, and sends nothing more.
			cs2 := mustConnect(t, url, nil)
			res, r := call(t, cs2, "wallet_transfer", map[string]any{"to": to, "token": "USDC", "amount": "2", "idempotency_key": key})
			if res.IsError || r.Outcome == nil || !r.Outcome.Duplicate || r.Outcome.Tx == nil || r.Outcome.Tx.Status != "mined" {
				b, _ := json.Marshal(r)
				t.Fatalf("retry: isError %v, reply %s; want the first transfer, mined", res.IsError, b)
			}
			if got := new(big.Int).Sub(usdcOf(t, rt, to), before); got.Cmp(big.NewInt(2_000_000)) != 0 {
				t.Fatalf("after the retry the recipient got %s base units, want 2 USDC once", got)
			}
		})
	}
}
