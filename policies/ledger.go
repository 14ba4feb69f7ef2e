package policies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Ledger keeps spend counters and the audit of decisions. It is implemented
// by the memory package over SQLite or PostgreSQL, and by MemLedger for
// tests and one-shot evaluations.
type Ledger interface {
	// Commit records an approved decision and charges its spends in one
	// database transaction. Before charging it checks every limit: live
	// spends of the limit's bucket since Limit.Since, plus this entry's spend
	// of that bucket, must not exceed Limit.Max. If any limit would be
	// exceeded it records nothing and returns a *LimitError. If the entry's
	// idempotency key was already used by the same wallet it records nothing
	// and returns a *DuplicateError. Concurrent commits are serialised so
	// two entries can never both pass a limit that only one fits. An entry
	// whose ApprovalID was already committed records nothing and returns an
	// error wrapping ErrApprovalCommitted. With e.Supersedes set, the
	// approval it names — the one holding e's key for e's wallet — passes
	// its key to e and, unless e.SupersededSent, is released, in the same
	// transaction, before the limits are checked (a refusal leaves it as
	// it was); any other approval there is a *DuplicateError as usual. The
	// caller vouches for what the superseded attempt did (the wallet reads
	// its journal in the same transaction).
	Commit(ctx context.Context, e Entry, limits []Limit) error
	// Release voids the spends of an approval whose action did not happen.
	// An approval the ledger does not hold is an error wrapping
	// ErrUnknownApproval.
	Release(ctx context.Context, approvalID, reason string) error
	// Record writes a decision that charges nothing (a denial or an ask).
	Record(ctx context.Context, e Entry) error
	// Spent sums the live spends of a bucket since a time.
	Spent(ctx context.Context, bucket string, since time.Time) (*big.Int, error)
}

// Decision is the outcome recorded for an intent.
type Decision string

const (
	DecisionApprove Decision = "approve"
	DecisionDeny    Decision = "deny"
	DecisionAsk     Decision = "ask"
)

// Entry is one decision as the audit table and the ledger keep it.
type Entry struct {
	ApprovalID string          // unique; empty for denials
	Wallet     string          // the acting account (Header.From)
	Chain      string          //
	Key        string          // idempotency key, unique per wallet when set; the engine sets it on approvals (Commit) only, so a denied attempt does not use the key up
	Kind       Kind            //
	Digest     string          // hex SHA-256 of the intent
	Intent     json.RawMessage // Marshal(intent)
	Decision   Decision        //
	Reasons    []string        // why, for a person
	Prices     []string        // the USD prices used and their source
	Spends     []Spend         // what the approval charges
	At         time.Time       //
	Supersedes string          // Commit only: the approval holding Key that this one takes it over from
	// SupersededSent says Supersedes's transaction was sent (on another
	// chain with this chain's id), so it stays charged; otherwise its
	// attempt signed nothing and it is released.
	SupersededSent bool
}

// ErrApprovalCommitted is wrapped by Ledger.Commit for an approval ID the
// ledger already holds: the approval is charged, once.
var ErrApprovalCommitted = errors.New("policies: approval already committed")

// ErrUnknownApproval is wrapped by Ledger.Release for an approval the
// ledger does not hold.
var ErrUnknownApproval = errors.New("policies: no such approval in the ledger")

// Spend is an amount charged to a bucket, in the bucket's base units:
// token base units for a token bucket, micro-USD for a USD bucket.
type Spend struct {
	Bucket string   `json:"bucket"`
	Amount *big.Int `json:"amount"`
}

// Limit bounds the live spends of Bucket since Since to Max.
type Limit struct {
	Bucket string
	Max    *big.Int
	Since  time.Time
	Rule   string // the policy rule, e.g. "limits.daily.USDC"
}

// LimitError says a commit would have exceeded a limit.
type LimitError struct {
	Limit  Limit
	Spent  *big.Int // already spent in the window
	Amount *big.Int // what this entry would add
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("limit %s: %s already spent + %s exceeds %s", e.Limit.Rule, e.Spent, e.Amount, e.Limit.Max)
}

// DuplicateError says an idempotency key was already used.
type DuplicateError struct {
	Key        string
	ApprovalID string // the approval that used it first
	// Digest is the hex digest (Entry.Digest) of the intent that used the
	// key first, so a caller can tell a retry of the same intent (equal
	// digest) from a different intent reusing the key.
	Digest string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("idempotency key %q was already used by approval %s", e.Key, e.ApprovalID)
}
