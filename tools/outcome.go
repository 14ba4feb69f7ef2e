package tools

import (
	"encoding/json"
	"math/big"

	"github.com/mandatehq/mandate/policies"
)

// Outcome is what a value-moving tool did with its intent: the policy's
// decision and reasons, the transaction, what arrived. Every such tool
// returns one in Result.Outcome, so a front end renders a swap, an
// approval, an order's run and a Safe proposal the way it renders a
// transfer, without knowing any of those tools.
type Outcome struct {
	Intent   json.RawMessage   `json:"intent"`
	Decision policies.Decision `json:"decision"`
	Reasons  []string          `json:"reasons,omitempty"`
	// Duplicate: the call's idempotency key had already acted, and the
	// outcome is that earlier attempt's; nothing was decided or sent again.
	Duplicate bool             `json:"duplicate,omitempty"`
	Report    *policies.Report `json:"report,omitempty"` // dry runs: what the policy would decide
	Gas       uint64           `json:"gas,omitempty"`    // simulated gas
	Tx        *Tx              `json:"tx,omitempty"`
	Received  *Amount          `json:"received,omitempty"` // what reached the wallet, once mined (swaps)
}

// DryRun reports whether the outcome is an evaluation that signed nothing.
func (o *Outcome) DryRun() bool { return o.Report != nil }

// Tx is a transaction as tools report it, on any chain.
type Tx struct {
	Hash   string `json:"hash"`
	Nonce  uint64 `json:"nonce"`
	Status string `json:"status"` // signed, sent, mined, reverted, replaced, failed
	Block  uint64 `json:"block,omitempty"`
	Error  string `json:"error,omitempty"`
	// Final: the status will not change any more.
	Final bool `json:"-"`
	// Action is the digest of the action the transaction carries
	// (policies.ActionDigest), for telling a retry from another action
	// under the same key.
	Action string `json:"-"`
}

// Statuses of a Tx a caller branches on.
const (
	TxMined    = "mined"
	TxReverted = "reverted"
)

// Amount is an exact amount of a token: base units beside the decimals.
type Amount struct {
	Token    string   `json:"token"`
	Value    *big.Int `json:"-"`
	Decimals uint8    `json:"decimals"`
}

// String is the amount in token units with its symbol ("1,234.5 USDC").
func (a Amount) String() string {
	return policies.FormatUnits(a.Value, a.Decimals) + " " + a.Token
}

// MarshalJSON writes the amount exactly, in token units and in base units,
// both as strings (a JSON number would lose digits in most readers).
func (a Amount) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Token     string `json:"token"`
		Amount    string `json:"amount"`
		BaseUnits string `json:"base_units"`
		Decimals  uint8  `json:"decimals"`
	}{a.Token, policies.DecimalUnits(a.Value, a.Decimals), baseString(a.Value), a.Decimals})
}

func baseString(v *big.Int) string {
	if v == nil {
		return "0"
	}
	return v.String()
}
