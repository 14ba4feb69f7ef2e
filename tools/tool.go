// Package tools is what an agent, a bot or the CLI can do: named operations
// with a JSON Schema for their arguments. Tools that move value build an
// Intent from chain state, pass it through the policy gate and hand only the
// resulting Approval to a signer; the model's text never reaches calldata.
package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mandatehq/mandate/policies"
)

// Tool is one operation. Call receives the arguments as the JSON object the
// model (or `mandate tools call`) wrote; it validates them strictly.
type Tool interface {
	Name() string
	Description() string
	Schema() json.RawMessage // JSON Schema of the arguments
	Call(ctx context.Context, args json.RawMessage) (Result, error)
}

// Result is what a tool reports. Text is for a person and the model; Data is
// the same result as a JSON-encodable value for --json and programs.
type Result struct {
	Text string `json:"text"`
	Data any    `json:"data,omitempty"`
	// Outcome is set by every tool that asked the policy about an intent:
	// the decision, its reasons and the transaction, typed the same for
	// every such tool.
	Outcome *Outcome `json:"outcome,omitempty"`
}

// ArgError says a tool's arguments were wrong. It is the caller's mistake
// (exit status 2 in the CLI), and its message says what to do instead.
type ArgError struct {
	Tool string
	Msg  string
}

func (e *ArgError) Error() string { return fmt.Sprintf("%s: %s", e.Tool, e.Msg) }

// Argf returns an *ArgError for tool name.
func Argf(tool, format string, a ...any) error {
	return &ArgError{Tool: tool, Msg: fmt.Sprintf(format, a...)}
}

// ErrUnknownTool is returned by Registry.Call for a name it does not hold.
var ErrUnknownTool = errors.New("unknown tool")

// Errors of tools built without what they need to act (for listing
// only): a front end adds how to configure it.
var (
	ErrNoWallet = errors.New("no wallet is configured")
	ErrNoChain  = errors.New("no chain is configured")
)

// Registry holds tools by name. The zero Registry is empty and ready to use.
type Registry struct {
	byName  map[string]Tool
	names   []string
	observe func(tool, outcome string, took time.Duration)
}

// Observe has fn hear every call Call makes, for metrics: the tool, the
// outcome ("ok", "denied", "bad_input" or "error") and how long it took.
// Set it before the registry is shared.
func (r *Registry) Observe(fn func(tool, outcome string, took time.Duration)) { r.observe = fn }

// CallOutcome names how a tool call ended, as Observe reports it.
func CallOutcome(err error) string {
	var d *policies.Denied
	var ae *ArgError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &d), errors.Is(err, ErrNotConfirmed):
		return "denied"
	case errors.As(err, &ae), errors.Is(err, ErrUnknownTool):
		return "bad_input"
	}
	return "error"
}

// NewRegistry returns a registry of the given tool sets. A name given twice
// panics: it is a programming error, found the first time the program runs.
func NewRegistry(sets ...[]Tool) *Registry {
	r := &Registry{}
	for _, set := range sets {
		for _, t := range set {
			r.Add(t)
		}
	}
	return r
}

// Add registers t.
func (r *Registry) Add(t Tool) {
	if _, dup := r.byName[t.Name()]; dup {
		panic("tools: duplicate tool " + t.Name())
	}
	if r.byName == nil {
		r.byName = map[string]Tool{}
	}
	r.byName[t.Name()] = t
	r.names = append(r.names, t.Name())
	sort.Strings(r.names)
}

// Get returns the tool called name.
func (r *Registry) Get(name string) (Tool, bool) {
	t, ok := r.byName[name]
	return t, ok
}

// List returns the tools sorted by name.
func (r *Registry) List() []Tool {
	out := make([]Tool, len(r.names))
	for i, n := range r.names {
		out[i] = r.byName[n]
	}
	return out
}

// Call runs the named tool. Arguments must be a JSON object; empty
// arguments (or null, which some models send) mean {}.
func (r *Registry) Call(ctx context.Context, name string, args json.RawMessage) (Result, error) {
	if r.observe == nil {
		return r.call(ctx, name, args)
	}
	start := time.Now()
	res, err := r.call(ctx, name, args)
	tool := name
	if _, ok := r.byName[name]; !ok {
		tool = "unknown" // a name the model made up is not a label value to keep
	}
	r.observe(tool, CallOutcome(err), time.Since(start))
	return res, err
}

func (r *Registry) call(ctx context.Context, name string, args json.RawMessage) (Result, error) {
	t, ok := r.byName[name]
	if !ok {
		return Result{}, fmt.Errorf("%w %q; the tools are %s", ErrUnknownTool, name, strings.Join(r.names, ", "))
	}
	a := bytes.TrimSpace(args)
	if len(a) == 0 || string(a) == "null" {
		a = []byte("{}")
	}
	// The tool decodes strictly; here only the shape is checked, cheaply.
	if a[0] != '{' || !json.Valid(a) {
		return Result{}, Argf(name, "arguments must be a JSON object, e.g. {\"token\": \"USDC\"}")
	}
	return t.Call(ctx, a)
}

type dryRunKey struct{}

// WithDryRun returns a context in which value-moving tools build, simulate
// and evaluate their intent but neither charge the ledger nor sign.
func WithDryRun(ctx context.Context) context.Context {
	return context.WithValue(ctx, dryRunKey{}, true)
}

// DryRun reports whether ctx asks for a dry run.
func DryRun(ctx context.Context) bool {
	v, _ := ctx.Value(dryRunKey{}).(bool)
	return v
}
