package tools

import (
	"context"

	"github.com/mandatehq/mandate/policies"
)

// Approver is a person who confirms an intent the policy wants confirmed: a
// Telegram button, a CLI prompt. The agent package's Approver has the same
// method set.
type Approver interface {
	Approve(ctx context.Context, in policies.Intent, why []string) (bool, error)
}

type approverKey struct{}

// WithApprover returns a context whose value-moving tool calls ask a when
// the policy wants a person to confirm. It is request-scoped on purpose: the
// person to ask depends on the chat the call came from, not on the tool.
func WithApprover(ctx context.Context, a Approver) context.Context {
	return context.WithValue(ctx, approverKey{}, a)
}

// ApproverFrom returns the approver set by WithApprover, or nil.
func ApproverFrom(ctx context.Context) Approver {
	a, _ := ctx.Value(approverKey{}).(Approver)
	return a
}
