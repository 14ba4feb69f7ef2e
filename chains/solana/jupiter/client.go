// Package jupiter gets swaps from Jupiter's Swap API and checks the
// transaction it returns before anything signs it.
//
// Jupiter builds the whole transaction, so nothing in it is trusted: Verify
// decodes it, finds its one route instruction, and requires the mints, the
// amount in, the output floor, the slippage and the token accounts to be the
// ones quoted and the wallet's own; any other instruction must be one a swap
// needs (compute budget, the wallet's own associated token accounts, wrapping
// and unwrapping its own SOL). What it returns is a policies.Swap the policy
// decides like any other swap.
//
// The flow: Client.Quote, Client.Swap, Verify (which resolves the
// transaction's lookup tables in place), the policy's Decide, then the
// wallet signs with a Decoder made from the verified intent (NewDecoder),
// so the signing path reads the transaction into the same Swap on its own
// instead of trusting the one handed to it.
package jupiter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	sol "github.com/gagliardetto/solana-go"
)

// DefaultBaseURL is Jupiter's public Swap API (v1; the v6 quote API has
// the same shapes under its own base).
const DefaultBaseURL = "https://lite-api.jup.ag/swap/v1"

// Limits of the client: an answer larger than these is refused rather than
// read into memory.
const (
	defaultTimeout = 15 * time.Second
	maxQuoteBody   = 1 << 20
	maxSwapBody    = 2 << 20
	maxErrorBody   = 4 << 10
)

// ErrBadResponse is the error of an answer that is not the documented
// JSON, or does not answer what was asked.
var ErrBadResponse = errors.New("jupiter: the API's answer is not usable")

// HTTPError is an answer with a status other than 200, for callers that
// retry on 429 or 5xx.
type HTTPError struct {
	Op      string // "GET /quote", "POST /swap"
	Status  int
	Message string // the API's error message, one line
}

func (e *HTTPError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("jupiter: %s: HTTP %d: %s", e.Op, e.Status, msg)
}

// Client calls Jupiter's Swap API.
type Client struct {
	base   string
	http   *http.Client
	apiKey string
}

// ClientOption configures a Client.
type ClientOption func(*Client)

// WithBaseURL points the client at another host: a paid or self-hosted
// Swap API, or a test server.
func WithBaseURL(u string) ClientOption {
	return func(c *Client) { c.base = strings.TrimRight(u, "/") }
}

// WithHTTPClient replaces the default HTTP client (15 s timeout).
func WithHTTPClient(h *http.Client) ClientOption { return func(c *Client) { c.http = h } }

// WithAPIKey sends key in the x-api-key header, as the paid API wants.
func WithAPIKey(key string) ClientOption { return func(c *Client) { c.apiKey = key } }

// NewClient returns a client of DefaultBaseURL unless told otherwise.
func NewClient(opts ...ClientOption) *Client {
	c := &Client{base: DefaultBaseURL, http: &http.Client{Timeout: defaultTimeout}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// QuoteRequest asks for an exact-in quote.
type QuoteRequest struct {
	InputMint   sol.PublicKey
	OutputMint  sol.PublicKey
	Amount      *big.Int // base units of InputMint
	SlippageBps uint16
	// RestrictIntermediateTokens keeps routes to liquid intermediate tokens.
	RestrictIntermediateTokens bool
	// MaxAccounts bounds the route's accounts; 0 leaves it to Jupiter.
	MaxAccounts int
}

// SwapModeExactIn is the only mode this package asks for and accepts.
const SwapModeExactIn = "ExactIn"

// Quote is a /quote answer. Amounts are exact base units.
type Quote struct {
	InputMint            sol.PublicKey
	OutputMint           sol.PublicKey
	InAmount             *big.Int
	OutAmount            *big.Int
	OtherAmountThreshold *big.Int // for ExactIn, the least output the swap accepts
	SwapMode             string
	SlippageBps          uint16
	PlatformFee          *PlatformFee // nil when none
	PriceImpactPct       string
	RoutePlan            []RouteStep
	ContextSlot          uint64

	// raw is the answer as received: /swap wants the quote back unchanged.
	raw json.RawMessage
}

// PlatformFee is an integrator's fee taken from the output.
type PlatformFee struct {
	Amount *big.Int
	FeeBps uint16
}

// RouteStep is one hop of a quote's route, as Jupiter reports it.
type RouteStep struct {
	AMM        string
	Label      string
	InputMint  string
	OutputMint string
	InAmount   *big.Int
	OutAmount  *big.Int
	Percent    int
}

// Raw returns the quote as Jupiter sent it.
func (q *Quote) Raw() json.RawMessage { return append(json.RawMessage(nil), q.raw...) }

// wire shapes of the documented JSON.
type wireQuote struct {
	InputMint            string          `json:"inputMint"`
	InAmount             string          `json:"inAmount"`
	OutputMint           string          `json:"outputMint"`
	OutAmount            string          `json:"outAmount"`
	OtherAmountThreshold string          `json:"otherAmountThreshold"`
	SwapMode             string          `json:"swapMode"`
	SlippageBps          *int            `json:"slippageBps"`
	PlatformFee          *wirePlatform   `json:"platformFee"`
	PriceImpactPct       json.RawMessage `json:"priceImpactPct"`
	RoutePlan            []wireStep      `json:"routePlan"`
	ContextSlot          uint64          `json:"contextSlot"`
}

type wirePlatform struct {
	Amount string `json:"amount"`
	FeeBps int    `json:"feeBps"`
}

type wireStep struct {
	SwapInfo struct {
		AmmKey     string `json:"ammKey"`
		Label      string `json:"label"`
		InputMint  string `json:"inputMint"`
		OutputMint string `json:"outputMint"`
		InAmount   string `json:"inAmount"`
		OutAmount  string `json:"outAmount"`
	} `json:"swapInfo"`
	Percent *int `json:"percent"`
}

// Quote asks /quote for an exact-in route and checks that the answer is a
// quote for what was asked: the same mints, amount, mode and slippage.
func (c *Client) Quote(ctx context.Context, req QuoteRequest) (*Quote, error) {
	if req.Amount == nil || req.Amount.Sign() <= 0 || !req.Amount.IsUint64() {
		return nil, errors.New("jupiter: quote: the amount must be a positive number of base units below 2^64")
	}
	if req.InputMint.Equals(req.OutputMint) {
		return nil, errors.New("jupiter: quote: the input and output mints are the same")
	}
	if req.SlippageBps > 10000 {
		return nil, fmt.Errorf("jupiter: quote: slippage %d bps is above 10000", req.SlippageBps)
	}
	v := url.Values{}
	v.Set("inputMint", req.InputMint.String())
	v.Set("outputMint", req.OutputMint.String())
	v.Set("amount", req.Amount.String())
	v.Set("slippageBps", strconv.Itoa(int(req.SlippageBps)))
	v.Set("swapMode", SwapModeExactIn)
	if req.RestrictIntermediateTokens {
		v.Set("restrictIntermediateTokens", "true")
	}
	if req.MaxAccounts > 0 {
		v.Set("maxAccounts", strconv.Itoa(req.MaxAccounts))
	}
	body, err := c.do(ctx, "GET /quote", http.MethodGet, "/quote?"+v.Encode(), nil, maxQuoteBody)
	if err != nil {
		return nil, err
	}
	q, err := ParseQuote(body)
	if err != nil {
		return nil, err
	}
	if err := q.Answers(req); err != nil {
		return nil, err
	}
	return q, nil
}

// ParseQuote reads a /quote answer in the documented JSON shape.
func ParseQuote(body []byte) (*Quote, error) {
	var w wireQuote
	if err := strictJSON(body, &w); err != nil {
		return nil, fmt.Errorf("%w: quote: not the documented JSON (%v)", ErrBadResponse, err)
	}
	q := &Quote{SwapMode: w.SwapMode, ContextSlot: w.ContextSlot, raw: append(json.RawMessage(nil), body...)}
	var err error
	bad := func(field string, e error) (*Quote, error) {
		return nil, fmt.Errorf("%w: quote: %s: %v", ErrBadResponse, field, e)
	}
	if q.InputMint, err = sol.PublicKeyFromBase58(w.InputMint); err != nil {
		return bad("inputMint", err)
	}
	if q.OutputMint, err = sol.PublicKeyFromBase58(w.OutputMint); err != nil {
		return bad("outputMint", err)
	}
	if q.InAmount, err = amount(w.InAmount); err != nil {
		return bad("inAmount", err)
	}
	if q.OutAmount, err = amount(w.OutAmount); err != nil {
		return bad("outAmount", err)
	}
	if q.OtherAmountThreshold, err = amount(w.OtherAmountThreshold); err != nil {
		return bad("otherAmountThreshold", err)
	}
	if w.SlippageBps == nil || *w.SlippageBps < 0 || *w.SlippageBps > 10000 {
		return bad("slippageBps", errors.New("missing or outside 0-10000"))
	}
	q.SlippageBps = uint16(*w.SlippageBps)
	if w.PlatformFee != nil {
		a, err := amount(w.PlatformFee.Amount)
		if err != nil {
			return bad("platformFee.amount", err)
		}
		if w.PlatformFee.FeeBps < 0 || w.PlatformFee.FeeBps > 10000 {
			return bad("platformFee.feeBps", errors.New("outside 0-10000"))
		}
		q.PlatformFee = &PlatformFee{Amount: a, FeeBps: uint16(w.PlatformFee.FeeBps)}
	}
	if len(w.PriceImpactPct) > 0 {
		var s string
		if json.Unmarshal(w.PriceImpactPct, &s) != nil {
			s = string(w.PriceImpactPct)
		}
		q.PriceImpactPct = s
	}
	if len(w.RoutePlan) == 0 {
		return bad("routePlan", errors.New("empty"))
	}
	for i, s := range w.RoutePlan {
		st := RouteStep{AMM: s.SwapInfo.AmmKey, Label: s.SwapInfo.Label, InputMint: s.SwapInfo.InputMint, OutputMint: s.SwapInfo.OutputMint}
		if st.InAmount, err = amount(s.SwapInfo.InAmount); err != nil {
			return bad(fmt.Sprintf("routePlan[%d].swapInfo.inAmount", i), err)
		}
		if st.OutAmount, err = amount(s.SwapInfo.OutAmount); err != nil {
			return bad(fmt.Sprintf("routePlan[%d].swapInfo.outAmount", i), err)
		}
		if s.Percent != nil {
			st.Percent = *s.Percent
		}
		q.RoutePlan = append(q.RoutePlan, st)
	}
	return q, nil
}

// Answers checks that q quotes req: the same mints, amount in, exact-in
// mode and slippage. A quote for anything else is ErrBadResponse.
func (q *Quote) Answers(req QuoteRequest) error {
	switch {
	case q.SwapMode != SwapModeExactIn:
		return fmt.Errorf("%w: quote: swapMode is %q, %s was asked", ErrBadResponse, q.SwapMode, SwapModeExactIn)
	case !q.InputMint.Equals(req.InputMint):
		return fmt.Errorf("%w: quote: inputMint is %s, %s was asked", ErrBadResponse, q.InputMint, req.InputMint)
	case !q.OutputMint.Equals(req.OutputMint):
		return fmt.Errorf("%w: quote: outputMint is %s, %s was asked", ErrBadResponse, q.OutputMint, req.OutputMint)
	case req.Amount == nil || q.InAmount.Cmp(req.Amount) != 0:
		return fmt.Errorf("%w: quote: inAmount is %s, %v was asked", ErrBadResponse, q.InAmount, req.Amount)
	case q.SlippageBps != req.SlippageBps:
		return fmt.Errorf("%w: quote: slippageBps is %d, %d was asked", ErrBadResponse, q.SlippageBps, req.SlippageBps)
	case q.OutAmount.Sign() <= 0:
		return fmt.Errorf("%w: quote: outAmount is zero", ErrBadResponse)
	case q.OtherAmountThreshold.Cmp(q.OutAmount) > 0:
		return fmt.Errorf("%w: quote: otherAmountThreshold %s is above outAmount %s", ErrBadResponse, q.OtherAmountThreshold, q.OutAmount)
	}
	return nil
}

// SwapRequest asks /swap for the transaction of a quote.
type SwapRequest struct {
	UserPublicKey sol.PublicKey
	// WrapAndUnwrapSol spends and receives native SOL rather than wSOL.
	WrapAndUnwrapSol bool
	// DynamicComputeUnitLimit lets Jupiter simulate for the unit limit.
	DynamicComputeUnitLimit bool
	// Priority is the priority fee; nil leaves it to Jupiter ("auto").
	Priority *PriorityFee
	// FeeAccount is the platform fee account, when an integrator fee was
	// quoted; Verify checks it with WithPlatformFee.
	FeeAccount *sol.PublicKey
}

// PriorityFee is prioritizationFeeLamports: an exact number of lamports, or
// a level ("medium", "high", "veryHigh") with a cap.
type PriorityFee struct {
	Lamports    uint64 // exact; used when Level is empty
	Level       string
	MaxLamports uint64
}

func (p *PriorityFee) MarshalJSON() ([]byte, error) {
	if p.Level == "" {
		return json.Marshal(p.Lamports)
	}
	type level struct {
		MaxLamports   uint64 `json:"maxLamports"`
		PriorityLevel string `json:"priorityLevel"`
	}
	return json.Marshal(map[string]level{"priorityLevelWithMaxLamports": {p.MaxLamports, p.Level}})
}

// SwapResponse is a /swap answer with its transaction decoded (unsigned,
// its address lookup tables not yet resolved).
type SwapResponse struct {
	Transaction               *sol.Transaction
	SwapTransaction           string // base64, as received
	LastValidBlockHeight      uint64
	PrioritizationFeeLamports uint64
	ComputeUnitLimit          uint32
}

type wireSwapRequest struct {
	QuoteResponse             json.RawMessage `json:"quoteResponse"`
	UserPublicKey             string          `json:"userPublicKey"`
	WrapAndUnwrapSol          bool            `json:"wrapAndUnwrapSol"`
	DynamicComputeUnitLimit   bool            `json:"dynamicComputeUnitLimit"`
	PrioritizationFeeLamports any             `json:"prioritizationFeeLamports,omitempty"`
	FeeAccount                string          `json:"feeAccount,omitempty"`
	AsLegacyTransaction       bool            `json:"asLegacyTransaction"`
}

type wireSwapResponse struct {
	SwapTransaction           string          `json:"swapTransaction"`
	LastValidBlockHeight      uint64          `json:"lastValidBlockHeight"`
	PrioritizationFeeLamports uint64          `json:"prioritizationFeeLamports"`
	ComputeUnitLimit          uint32          `json:"computeUnitLimit"`
	SimulationError           json.RawMessage `json:"simulationError"`
}

// Swap asks /swap for q's transaction, to be signed by req.UserPublicKey.
// The transaction is returned as is; run Verify on it before anything
// signs it.
func (c *Client) Swap(ctx context.Context, q *Quote, req SwapRequest) (*SwapResponse, error) {
	if q == nil || len(q.raw) == 0 {
		return nil, errors.New("jupiter: swap: no quote; get one with Quote")
	}
	if req.UserPublicKey.IsZero() {
		return nil, errors.New("jupiter: swap: no user public key")
	}
	w := wireSwapRequest{QuoteResponse: q.raw, UserPublicKey: req.UserPublicKey.String(),
		WrapAndUnwrapSol: req.WrapAndUnwrapSol, DynamicComputeUnitLimit: req.DynamicComputeUnitLimit}
	if req.Priority != nil {
		w.PrioritizationFeeLamports = req.Priority
	}
	if req.FeeAccount != nil {
		w.FeeAccount = req.FeeAccount.String()
	}
	in, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("jupiter: swap: encode the request: %w", err)
	}
	body, err := c.do(ctx, "POST /swap", http.MethodPost, "/swap", in, maxSwapBody)
	if err != nil {
		return nil, err
	}
	return ParseSwap(body)
}

// ParseSwap reads a /swap answer in the documented JSON shape.
func ParseSwap(body []byte) (*SwapResponse, error) {
	var w wireSwapResponse
	if err := strictJSON(body, &w); err != nil {
		return nil, fmt.Errorf("%w: swap: not the documented JSON (%v)", ErrBadResponse, err)
	}
	if s := bytes.TrimSpace(w.SimulationError); len(s) > 0 && !bytes.Equal(s, []byte("null")) {
		return nil, fmt.Errorf("%w: swap: Jupiter's simulation of the transaction failed: %s", ErrBadResponse, oneLine(string(s)))
	}
	if w.SwapTransaction == "" {
		return nil, fmt.Errorf("%w: swap: no swapTransaction", ErrBadResponse)
	}
	tx, err := sol.TransactionFromBase64(w.SwapTransaction)
	if err != nil {
		return nil, fmt.Errorf("%w: swap: swapTransaction is not a serialized transaction: %v", ErrBadResponse, err)
	}
	return &SwapResponse{Transaction: tx, SwapTransaction: w.SwapTransaction, LastValidBlockHeight: w.LastValidBlockHeight,
		PrioritizationFeeLamports: w.PrioritizationFeeLamports, ComputeUnitLimit: w.ComputeUnitLimit}, nil
}

// do sends one request and returns the body of a 200 answer, refusing one
// longer than limit.
func (c *Client) do(ctx context.Context, op, method, path string, body []byte, limit int64) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("jupiter: %s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.apiKey != "" {
		req.Header.Set("x-api-key", c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jupiter: %s: %w", op, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, &HTTPError{Op: op, Status: resp.StatusCode, Message: apiMessage(b)}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("jupiter: %s: reading the answer: %w", op, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: %s: the answer is over %d bytes", ErrBadResponse, op, limit)
	}
	return b, nil
}

// apiMessage is the error an API body states ({"error": ...} or
// {"message": ...}), else the body itself, on one line.
func apiMessage(b []byte) string {
	var e struct {
		Error   any    `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &e) == nil {
		if s, ok := e.Error.(string); ok && s != "" {
			return oneLine(s)
		}
		if e.Message != "" {
			return oneLine(e.Message)
		}
	}
	return oneLine(string(b))
}

// oneLine folds s to one line of at most 200 characters.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// strictJSON decodes one JSON object and refuses trailing data.
func strictJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON object")
	}
	return nil
}

// amount reads a decimal string of base units: digits only, below 2^64 as
// every on-chain amount is.
func amount(s string) (*big.Int, error) {
	if s == "" {
		return nil, errors.New("missing")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return nil, fmt.Errorf("%q is not a decimal amount", s)
		}
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || !n.IsUint64() {
		return nil, fmt.Errorf("%q is not an amount below 2^64", s)
	}
	return n, nil
}
