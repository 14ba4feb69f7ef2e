package jupiter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/policies"
)

// recorded serves recorded /quote and /swap answers under the Swap API's
// path, and keeps what the client sent.
type recorded struct {
	t           *testing.T
	quote, swap string
	quoteStatus int
	swapStatus  int

	mu        sync.Mutex
	query     map[string]string
	swapBody  map[string]json.RawMessage
	swapCalls int
}

func (r *recorded) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case req.Method == http.MethodGet && req.URL.Path == "/swap/v1/quote":
		r.query = map[string]string{}
		for k, v := range req.URL.Query() {
			r.query[k] = v[0]
		}
		if r.quoteStatus != 0 {
			w.WriteHeader(r.quoteStatus)
		}
		_, _ = io.WriteString(w, r.quote)
	case req.Method == http.MethodPost && req.URL.Path == "/swap/v1/swap":
		r.swapCalls++
		if ct := req.Header.Get("Content-Type"); ct != "application/json" {
			http.Error(w, `{"error":"content type `+ct+`"}`, http.StatusUnsupportedMediaType)
			return
		}
		if err := json.NewDecoder(req.Body).Decode(&r.swapBody); err != nil {
			http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
			return
		}
		if r.swapStatus != 0 {
			w.WriteHeader(r.swapStatus)
		}
		_, _ = io.WriteString(w, r.swap)
	default:
		http.NotFound(w, req)
	}
}

func serve(t *testing.T, r *recorded) *Client {
	t.Helper()
	r.t = t
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return NewClient(WithBaseURL(srv.URL+"/swap/v1/"), WithHTTPClient(srv.Client()))
}

func (w *world) request(s swapTx) QuoteRequest {
	return QuoteRequest{InputMint: s.in, OutputMint: s.out, Amount: new(big.Int).SetUint64(s.inAmount), SlippageBps: s.slippageBps}
}

// The whole path against recorded answers: quote, swap, verify.
func TestClientQuoteSwapVerify(t *testing.T) {
	w := newWorld(t)
	s := w.goodSOLtoUSDC()
	b64, _ := w.wire(t, s)
	rec := &recorded{quote: quoteJSON(s), swap: swapJSON(b64)}
	c := serve(t, rec)
	ctx := context.Background()
	q, err := c.Quote(ctx, w.request(s))
	if err != nil {
		t.Fatal(err)
	}
	wantQuery := map[string]string{"inputMint": mintWSOL.String(), "outputMint": mintUSDC.String(), "amount": "1000000000", "slippageBps": "50", "swapMode": "ExactIn"}
	for k, v := range wantQuery {
		if rec.query[k] != v {
			t.Errorf("query %s = %q, want %q", k, rec.query[k], v)
		}
	}
	if q.InAmount.String() != "1000000000" || q.OutAmount.String() != "150123456" || q.OtherAmountThreshold.String() != "149372838" ||
		q.SlippageBps != 50 || len(q.RoutePlan) != 1 || q.RoutePlan[0].Label != "Whirlpool" || q.ContextSlot != 301234567 {
		t.Fatalf("quote %+v", q)
	}
	res, err := c.Swap(ctx, q, SwapRequest{UserPublicKey: w.wallet, WrapAndUnwrapSol: true, DynamicComputeUnitLimit: true,
		Priority: &PriorityFee{Level: "veryHigh", MaxLamports: 1_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	// The quote goes back byte for byte, as Jupiter requires.
	if !bytes.Equal(rec.swapBody["quoteResponse"], []byte(rec.quote)) {
		t.Fatalf("quoteResponse sent back changed:\n%s\n%s", rec.swapBody["quoteResponse"], rec.quote)
	}
	for k, want := range map[string]string{
		"userPublicKey": `"` + w.wallet.String() + `"`, "wrapAndUnwrapSol": "true", "dynamicComputeUnitLimit": "true",
		"prioritizationFeeLamports": `{"priorityLevelWithMaxLamports":{"maxLamports":1000000,"priorityLevel":"veryHigh"}}`,
	} {
		if got := string(rec.swapBody[k]); got != want {
			t.Errorf("swap request %s = %s, want %s", k, got, want)
		}
	}
	if res.LastValidBlockHeight != 279632475 || res.ComputeUnitLimit != 388876 || res.SwapTransaction != b64 {
		t.Fatalf("swap response %+v", res)
	}
	in, err := Verify(ctx, q, res.Transaction, w.wallet, w.look, WithTables(w.tables), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if sw := in.(policies.Swap); sw.AmountIn.String() != "1000000000" || sw.MinOut.String() != "149372838" || sw.Venue != Venue {
		t.Fatalf("intent %+v", sw)
	}
}

func TestClientRefusesBadAnswers(t *testing.T) {
	w := newWorld(t)
	s := w.goodSOLtoUSDC()
	b64, _ := w.wire(t, s)
	good := quoteJSON(s)
	cases := []struct {
		name      string
		rec       *recorded
		swap      bool // the failure is in /swap
		want      string
		is        error
		status    int
		swapCalls int
	}{
		{name: "quote HTTP 500", rec: &recorded{quote: `{"error":"Internal error:\n  routing failed"}`, quoteStatus: 500}, want: "jupiter: GET /quote: HTTP 500: Internal error: routing failed", status: 500},
		{name: "swap HTTP 500", rec: &recorded{quote: good, swap: `<html>oops</html>`, swapStatus: 500}, swap: true, want: "jupiter: POST /swap: HTTP 500: <html>oops</html>", status: 500, swapCalls: 1},
		{name: "quote rate limited", rec: &recorded{quote: `{"message":"Too many requests"}`, quoteStatus: 429}, want: "HTTP 429: Too many requests", status: 429},
		{name: "garbage quote", rec: &recorded{quote: `<html>not json</html>`}, want: "quote: not the documented JSON", is: ErrBadResponse},
		{name: "truncated quote", rec: &recorded{quote: good[:len(good)/2]}, want: "quote: not the documented JSON", is: ErrBadResponse},
		{name: "two objects", rec: &recorded{quote: good + good}, want: "data after the JSON object", is: ErrBadResponse},
		{name: "amount not decimal", rec: &recorded{quote: strings.Replace(good, `"outAmount":"150123456"`, `"outAmount":"1.5e8"`, 1)}, want: `outAmount: "1.5e8" is not a decimal amount`, is: ErrBadResponse},
		{name: "amount negative", rec: &recorded{quote: strings.Replace(good, `"inAmount":"1000000000"`, `"inAmount":"-1"`, 1)}, want: `inAmount: "-1" is not a decimal amount`, is: ErrBadResponse},
		{name: "amount beyond u64", rec: &recorded{quote: strings.Replace(good, `"outAmount":"150123456"`, `"outAmount":"18446744073709551616"`, 1)}, want: "not an amount below 2^64", is: ErrBadResponse},
		{name: "quote for other mints", rec: &recorded{quote: quoteJSONFor(mintWSOL, mintBONK, s.inAmount, s.quotedOut, s.slippageBps)}, want: "outputMint is " + mintBONK.String() + ", " + mintUSDC.String() + " was asked", is: ErrBadResponse},
		{name: "quote for another amount", rec: &recorded{quote: quoteJSONFor(mintWSOL, mintUSDC, 2*s.inAmount, s.quotedOut, s.slippageBps)}, want: "inAmount is 2000000000, 1000000000 was asked", is: ErrBadResponse},
		{name: "quote with other slippage", rec: &recorded{quote: quoteJSONFor(mintWSOL, mintUSDC, s.inAmount, s.quotedOut, 500)}, want: "slippageBps is 500, 50 was asked", is: ErrBadResponse},
		{name: "exact-out quote", rec: &recorded{quote: strings.Replace(good, `"ExactIn"`, `"ExactOut"`, 1)}, want: `swapMode is "ExactOut"`, is: ErrBadResponse},
		{name: "quote too large", rec: &recorded{quote: `{"inputMint":"` + strings.Repeat("1", maxQuoteBody) + `"}`}, want: "over 1048576 bytes", is: ErrBadResponse},
		{name: "garbage swap", rec: &recorded{quote: good, swap: `{"swapTransaction": 12}`}, swap: true, want: "swap: not the documented JSON", is: ErrBadResponse, swapCalls: 1},
		{name: "swap transaction not a transaction", rec: &recorded{quote: good, swap: swapJSON("bm90IGEgdHJhbnNhY3Rpb24=")}, swap: true, want: "swapTransaction is not a serialized transaction", is: ErrBadResponse, swapCalls: 1},
		{name: "swap simulation failed", rec: &recorded{quote: good, swap: strings.Replace(swapJSON(b64), `"simulationError":null`, `"simulationError":{"error":"InstructionError","errorCode":"0x1771"}`, 1)}, swap: true, want: "simulation of the transaction failed", is: ErrBadResponse, swapCalls: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := c.rec
			cl := serve(t, rec)
			ctx := context.Background()
			q, err := cl.Quote(ctx, w.request(s))
			if c.swap {
				if err != nil {
					t.Fatalf("quote: %v", err)
				}
				_, err = cl.Swap(ctx, q, SwapRequest{UserPublicKey: w.wallet, WrapAndUnwrapSol: true})
			}
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want one line containing %q", err, c.want)
			}
			if c.is != nil && !errors.Is(err, c.is) {
				t.Fatalf("error %v is not %v", err, c.is)
			}
			var he *HTTPError
			if got := errors.As(err, &he); got != (c.status != 0) || (got && he.Status != c.status) {
				t.Fatalf("HTTPError %v (%+v), want status %d", got, he, c.status)
			}
			if rec.swapCalls != c.swapCalls {
				t.Fatalf("%d /swap calls, want %d", rec.swapCalls, c.swapCalls)
			}
		})
	}
}

func TestClientRefusesBadRequests(t *testing.T) {
	rec := &recorded{quote: "{}"}
	c := serve(t, rec)
	ctx := context.Background()
	for name, req := range map[string]QuoteRequest{
		"no amount":       {InputMint: mintWSOL, OutputMint: mintUSDC},
		"zero amount":     {InputMint: mintWSOL, OutputMint: mintUSDC, Amount: new(big.Int)},
		"same mints":      {InputMint: mintUSDC, OutputMint: mintUSDC, Amount: big.NewInt(1)},
		"slippage > 100%": {InputMint: mintWSOL, OutputMint: mintUSDC, Amount: big.NewInt(1), SlippageBps: 10001},
	} {
		if _, err := c.Quote(ctx, req); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if rec.query != nil {
		t.Fatal("a bad request reached the API")
	}
	if _, err := c.Swap(ctx, &Quote{}, SwapRequest{UserPublicKey: sol.PublicKey{1}}); err == nil {
		t.Fatal("swap without a fetched quote")
	}
}
