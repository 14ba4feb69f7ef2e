package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
)

// The resources' URIs: read-only views of what the tools act under.
const (
	PolicyURI    = "mandate://policy"
	PortfolioURI = "mandate://portfolio"
	DecisionsURI = "mandate://decisions"
)

// recentDecisions is how many decisions DecisionsURI shows.
const recentDecisions = 50

func (s *Server) addResources() {
	s.srv.AddResource(&sdk.Resource{URI: PolicyURI, Name: "policy", Title: "The policy in force",
		Description: "What the owner's policy allows: chains, tokens, limits, recipients, when a person must confirm.", MIMEType: "text/plain"},
		s.readPolicy)
	s.srv.AddResource(&sdk.Resource{URI: PortfolioURI, Name: "portfolio", Title: "The wallet's portfolio",
		Description: "The wallet's balances and their USD values (what wallet_portfolio answers).", MIMEType: "application/json"},
		s.readPortfolio)
	s.srv.AddResource(&sdk.Resource{URI: DecisionsURI, Name: "decisions", Title: "Recent decisions",
		Description: fmt.Sprintf("The policy's last %d decisions about this wallet, newest first, with their reasons.", recentDecisions), MIMEType: "application/json"},
		s.readDecisions)
}

func (s *Server) readPolicy(_ context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	text := "No policy is configured, so nothing that moves value is allowed.\n"
	if p := s.rt.Policy(); p != nil {
		text = p.Summary()
	}
	return contents(req.Params.URI, "text/plain", text), nil
}

func (s *Server) readPortfolio(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	t, ok := s.reg.Get("wallet_portfolio")
	if !ok {
		return nil, fmt.Errorf("this runtime has no portfolio tool")
	}
	res, err := t.Call(ctx, json.RawMessage("{}"))
	if err != nil {
		return nil, fmt.Errorf("reading the portfolio: %w", err)
	}
	b, err := json.Marshal(map[string]any{"untrusted_data": true, "text": res.Text, "data": res.Data})
	if err != nil {
		return nil, err
	}
	return contents(req.Params.URI, "application/json", string(b)), nil
}

// decision is one entry of the decisions resource.
type decision struct {
	At       time.Time         `json:"at"`
	Decision policies.Decision `json:"decision"`
	Kind     policies.Kind     `json:"kind"`
	Chain    string            `json:"chain"`
	Intent   json.RawMessage   `json:"intent,omitempty"`
	Reasons  []string          `json:"reasons,omitempty"`
	Approval string            `json:"approval_id,omitempty"`
	Key      string            `json:"idempotency_key,omitempty"`
}

func (s *Server) readDecisions(ctx context.Context, req *sdk.ReadResourceRequest) (*sdk.ReadResourceResult, error) {
	st := s.rt.Store()
	if st == nil {
		return nil, fmt.Errorf("this runtime has no database of decisions")
	}
	f := memory.DecisionFilter{Limit: recentDecisions}
	if w := s.rt.Wallet(); w != nil {
		f.Wallet = w.Address().Hex()
	}
	entries, err := st.Decisions(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("reading the decisions: %w", err)
	}
	out := make([]decision, 0, len(entries))
	for _, e := range entries {
		out = append(out, decision{At: e.At.UTC(), Decision: e.Decision, Kind: e.Kind, Chain: e.Chain, Intent: e.Intent,
			Reasons: e.Reasons, Approval: e.ApprovalID, Key: e.Key})
	}
	b, err := json.Marshal(map[string]any{"untrusted_data": true, "decisions": out})
	if err != nil {
		return nil, err
	}
	return contents(req.Params.URI, "application/json", string(b)), nil
}

func contents(uri, mime, text string) *sdk.ReadResourceResult {
	return &sdk.ReadResourceResult{Contents: []*sdk.ResourceContents{{URI: uri, MIMEType: mime, Text: text}}}
}
