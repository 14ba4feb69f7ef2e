package safe

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
)

// Service is a client of the Safe Transaction Service's REST API (v1): the
// service where a Safe's owners propose transactions and collect each
// other's confirmations before one of them executes.
type Service struct {
	base   string
	http   *http.Client
	apiKey string
}

// ServiceOption configures a Service.
type ServiceOption func(*Service)

// WithHTTPClient sets the HTTP client (default: 15 s timeout).
func WithHTTPClient(c *http.Client) ServiceOption { return func(s *Service) { s.http = c } }

// WithAPIKey sends key as a bearer token, as Safe's hosted API asks.
func WithAPIKey(key string) ServiceOption { return func(s *Service) { s.apiKey = key } }

// NewService returns a client for the service at base (e.g. the URL that
// ends before /api/v1).
func NewService(base string, opts ...ServiceOption) (*Service, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("safe: transaction service URL %q is not an http(s) URL", base)
	}
	s := &Service{base: u.String(), http: &http.Client{Timeout: 15 * time.Second}}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Confirmation is one owner's signature as the service lists it.
type Confirmation struct {
	Owner         string `json:"owner"`
	Signature     string `json:"signature"`
	SignatureType string `json:"signatureType,omitempty"`
}

// Pending is a transaction as the service lists it: the signed fields
// (ServiceTx, to be checked like any input) and its confirmations.
type Pending struct {
	ServiceTx
	Confirmations         []Confirmation `json:"confirmations"`
	ConfirmationsRequired int            `json:"confirmationsRequired"`
	IsExecuted            bool           `json:"isExecuted"`
}

// ServiceError is a non-2xx answer.
type ServiceError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *ServiceError) Error() string {
	return fmt.Sprintf("safe transaction service: %s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Body)
}

func (s *Service) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if s.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+s.apiKey)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("safe transaction service: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("safe transaction service: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(raw))
		if len(msg) > 300 {
			msg = msg[:300] + "…"
		}
		return &ServiceError{Method: method, Path: path, Status: resp.StatusCode, Body: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("safe transaction service: %s %s: the answer is not the expected JSON: %v", method, path, err)
	}
	return nil
}

// Pending lists the Safe's transactions not yet executed with a nonce of
// at least fromNonce, following the service's pages.
func (s *Service) Pending(ctx context.Context, safe common.Address, fromNonce uint64) ([]Pending, error) {
	path := fmt.Sprintf("/api/v1/safes/%s/multisig-transactions/?executed=false&nonce__gte=%d&limit=100", safe.Hex(), fromNonce)
	var all []Pending
	for page := 0; path != "" && page < 50; page++ {
		var resp struct {
			Next    *string   `json:"next"`
			Results []Pending `json:"results"`
		}
		if err := s.do(ctx, http.MethodGet, path, nil, &resp); err != nil {
			return nil, err
		}
		all = append(all, resp.Results...)
		path = ""
		if resp.Next != nil && *resp.Next != "" {
			u, err := url.Parse(*resp.Next)
			if err != nil {
				return nil, fmt.Errorf("safe transaction service: next page %q is not a URL", *resp.Next)
			}
			path = u.RequestURI() // stay on the configured host
		}
	}
	return all, nil
}

// Propose submits tx with the proposer's own signature.
func (s *Service) Propose(ctx context.Context, tx Tx, v Version, sender common.Address, signature []byte, origin string) error {
	h, err := tx.Hash(v)
	if err != nil {
		return err
	}
	body := map[string]any{
		"to": tx.To.Hex(), "value": nz(tx.Value).String(), "data": nilIfEmpty(tx.Data), "operation": int(tx.Operation),
		"safeTxGas": nz(tx.SafeTxGas).String(), "baseGas": nz(tx.BaseGas).String(), "gasPrice": nz(tx.GasPrice).String(),
		"gasToken": tx.GasToken.Hex(), "refundReceiver": tx.RefundReceiver.Hex(), "nonce": nz(tx.Nonce).String(),
		"contractTransactionHash": h.Hex(), "sender": sender.Hex(), "signature": hexutil.Encode(signature), "origin": origin,
	}
	return s.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/safes/%s/multisig-transactions/", tx.Safe.Hex()), body, nil)
}

func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return hexutil.Encode(b)
}

// Confirm posts an owner's signature of safeTxHash.
func (s *Service) Confirm(ctx context.Context, safeTxHash common.Hash, signature []byte) error {
	return s.do(ctx, http.MethodPost, fmt.Sprintf("/api/v1/multisig-transactions/%s/confirmations/", safeTxHash.Hex()),
		map[string]string{"signature": hexutil.Encode(signature)}, nil)
}

// Transaction fetches one transaction by its safeTxHash.
func (s *Service) Transaction(ctx context.Context, safeTxHash common.Hash) (Pending, error) {
	var p Pending
	err := s.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/multisig-transactions/%s/", safeTxHash.Hex()), nil, &p)
	return p, err
}
