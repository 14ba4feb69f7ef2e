package memory

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/mandatehq/mandate/policies"
)

// DefaultDecisionLimit is how many decisions Decisions returns when the
// filter sets no Limit.
const DefaultDecisionLimit = 100

// DecisionFilter selects decisions from the audit. Zero fields match
// everything.
type DecisionFilter struct {
	Wallet     string // an EVM address matches in any letter case
	Chain      string
	ApprovalID string
	Key        string            // idempotency key
	Decision   policies.Decision // approve, deny or ask
	Kind       policies.Kind     // transfer, swap, approve, call, safe_tx
	// Token matches a decision whose intent names it as a JSON value: a
	// symbol ("USDC") or an address or mint, in any letter case.
	Token string
	Since time.Time // at or after
	Until time.Time // before
	Limit int       // at most this many, newest first; 0 means DefaultDecisionLimit
}

// likeEscaper escapes LIKE's wildcards, so a token is matched as written.
var likeEscaper = strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`)

// Decisions reads the audit back, newest first. Approvals carry the spends
// they charged, including spends later voided by a release.
func (s *Store) Decisions(ctx context.Context, f DecisionFilter) ([]policies.Entry, error) {
	q := s.read(ctx).Model(&decisionRow{})
	if f.Wallet != "" {
		q = q.Where("wallet_key = ?", walletKey(f.Wallet))
	}
	if f.Chain != "" {
		q = q.Where("chain = ?", f.Chain)
	}
	if f.ApprovalID != "" {
		q = q.Where("approval_id = ?", f.ApprovalID)
	}
	if f.Key != "" {
		q = q.Where("idem_key = ?", f.Key)
	}
	if f.Decision != "" {
		q = q.Where("decision = ?", string(f.Decision))
	}
	if f.Kind != "" {
		q = q.Where("kind = ?", string(f.Kind))
	}
	if f.Token != "" {
		q = q.Where(`LOWER(intent) LIKE ? ESCAPE '\'`, "%"+likeEscaper.Replace(`"`+strings.ToLower(f.Token)+`"`)+"%")
	}
	if !f.Since.IsZero() {
		q = q.Where("at_ns >= ?", nanos(f.Since))
	}
	if !f.Until.IsZero() {
		q = q.Where("at_ns < ?", nanos(f.Until))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultDecisionLimit
	}
	var rows []decisionRow
	if err := q.Order("at_ns DESC, id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("memory: decisions: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}

	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	var spends []spendRow
	if err := s.read(ctx).Where("decision_id IN ?", ids).Order("id").Find(&spends).Error; err != nil {
		return nil, fmt.Errorf("memory: decisions: %w", err)
	}
	byDecision := map[int64][]policies.Spend{}
	for _, sp := range spends {
		amount, ok := new(big.Int).SetString(sp.Amount, 10)
		if !ok {
			return nil, fmt.Errorf("memory: decisions: corrupt amount %q in bucket %s", sp.Amount, sp.Bucket)
		}
		byDecision[sp.DecisionID] = append(byDecision[sp.DecisionID], policies.Spend{Bucket: sp.Bucket, Amount: amount})
	}

	out := make([]policies.Entry, len(rows))
	for i, r := range rows {
		reasons, err := unmarshalStrings(r.Reasons)
		if err != nil {
			return nil, fmt.Errorf("memory: decisions: reasons of %d: %w", r.ID, err)
		}
		prices, err := unmarshalStrings(r.Prices)
		if err != nil {
			return nil, fmt.Errorf("memory: decisions: prices of %d: %w", r.ID, err)
		}
		var intent json.RawMessage
		if r.Intent != "" {
			intent = json.RawMessage(r.Intent)
		}
		out[i] = policies.Entry{
			ApprovalID: r.ApprovalID,
			Wallet:     r.Wallet,
			Chain:      r.Chain,
			Key:        r.IdemKey,
			Kind:       policies.Kind(r.Kind),
			Digest:     r.Digest,
			Intent:     intent,
			Decision:   policies.Decision(r.Decision),
			Reasons:    reasons,
			Prices:     prices,
			Spends:     byDecision[r.ID],
			At:         fromNanos(r.AtNs),
		}
	}
	return out, nil
}
