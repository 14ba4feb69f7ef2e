package mcp_test

import (
	"context"
	"math/big"
	"strings"
	"sync"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandatehq/mandate/mcp"
)

// askPolicy is the devnet's policy with a person asked above 5 USD.
func askPolicy(t testing.TB) []byte {
	src, err := sharedRuntime(t).Deployment().Policy()
	if err != nil {
		t.Fatal(err)
	}
	return append(append([]byte{}, src...), "\nask: {above_usd: 5}\n"...)
}

// person answers elicitations as a client's user would, and remembers
// what it was shown.
type person struct {
	approve bool
	action  string

	mu    sync.Mutex
	shown []string
}

func (p *person) elicit(_ context.Context, req *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
	p.mu.Lock()
	p.shown = append(p.shown, req.Params.Message)
	p.mu.Unlock()
	return &sdk.ElicitResult{Action: p.action, Content: map[string]any{"approve": p.approve}}, nil
}

func TestAskThePersonThroughTheClient(t *testing.T) {
	rt := openRuntime(t, askPolicy(t))
	url := serve(t, mcp.New(rt))
	to := rt.Deployment().Accounts[3].Address.Hex()
	transfer := map[string]any{"to": to, "token": "USDC", "amount": "10"}

	t.Run("approved", func(t *testing.T) {
		p := &person{approve: true, action: "accept"}
		cs := mustConnect(t, url, &sdk.ClientOptions{ElicitationHandler: p.elicit})
		before := usdcOf(t, rt, to)
		res, r := call(t, cs, "wallet_transfer", transfer)
		if res.IsError || r.Outcome == nil || r.Outcome.Decision != "approve" || r.Outcome.Tx == nil || r.Outcome.Tx.Status != "mined" {
			t.Fatalf("isError %v, reply %+v", res.IsError, r)
		}
		if len(p.shown) != 1 || !strings.Contains(p.shown[0], "transfer") || !strings.Contains(p.shown[0], to) || !strings.Contains(p.shown[0], "ask.above_usd") {
			t.Fatalf("the person was shown %q, want one question naming the transfer, its recipient and the rule", p.shown)
		}
		if got := new(big.Int).Sub(usdcOf(t, rt, to), before); got.Cmp(big.NewInt(10_000_000)) != 0 {
			t.Fatalf("the recipient got %s base units, want 10 USDC", got)
		}
	})
	for _, tc := range []struct {
		name   string
		p      *person
		expect string
	}{
		{"declined", &person{approve: false, action: "accept"}, "declined"},
		{"dismissed", &person{approve: true, action: "cancel"}, "declined"},
		{"no elicitation", nil, "Telegram"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts *sdk.ClientOptions
			if tc.p != nil {
				opts = &sdk.ClientOptions{ElicitationHandler: tc.p.elicit}
			}
			cs := mustConnect(t, url, opts)
			before := usdcOf(t, rt, to)
			res, r := call(t, cs, "wallet_transfer", transfer)
			if !res.IsError || r.Kind != mcp.KindNotConfirmed || !strings.Contains(r.Error, tc.expect) {
				t.Fatalf("isError %v, kind %q, error %q; want not confirmed, saying %q", res.IsError, r.Kind, r.Error, tc.expect)
			}
			if r.Outcome == nil || r.Outcome.Tx != nil || len(r.Reasons) == 0 {
				t.Fatalf("outcome %+v reasons %q: want the ask's reasons and nothing sent", r.Outcome, r.Reasons)
			}
			if got := usdcOf(t, rt, to); got.Cmp(before) != 0 {
				t.Fatalf("the recipient's balance moved from %s to %s", before, got)
			}
		})
	}
	t.Run("below the ask threshold", func(t *testing.T) {
		cs := mustConnect(t, url, nil)
		res, r := call(t, cs, "wallet_transfer", map[string]any{"to": to, "token": "USDC", "amount": "1"})
		if res.IsError || r.Outcome == nil || r.Outcome.Decision != "approve" {
			t.Fatalf("isError %v, reply %+v", res.IsError, r)
		}
	})
}
