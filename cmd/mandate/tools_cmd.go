package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mandatehq/mandate"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

func newToolsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tools",
		Short: "List the agent's tools, or call one through the policy gate",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List tools with their descriptions (--json adds the argument schemas)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			reg := catalog()
			if g.json {
				type entry struct {
					Name        string          `json:"name"`
					Description string          `json:"description"`
					Schema      json.RawMessage `json:"schema"`
				}
				var out []entry
				for _, t := range reg.List() {
					out = append(out, entry{t.Name(), t.Description(), t.Schema()})
				}
				writeJSON(g.stdout, map[string]any{"tools": out})
				return nil
			}
			for _, t := range reg.List() {
				fmt.Fprintf(g.stdout, "%-16s %s\n", t.Name(), t.Description())
			}
			return nil
		},
	})
	var dry bool
	call := &cobra.Command{
		Use:   "call NAME JSON",
		Short: "Call a tool with JSON arguments, through the same policy gate as the agent",
		Long: `Calls one tool. Value-moving tools build the intent from chain state, simulate
it, and pass the policy before anything is signed. --dry-run prints the intent,
the simulation and the decision, and signs nothing.

  mandate tools call wallet_transfer '{"to":"0x…","token":"USDC","amount":"10"}' --devnet`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageErr("usage: mandate tools call NAME JSON [--dry-run]")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			raw := "{}"
			if len(args) == 2 {
				raw = args[1]
			}
			if _, ok := catalog().Get(args[0]); !ok {
				return usageErr("unknown tool %q; `mandate tools list` shows the tools", args[0])
			}
			if !json.Valid([]byte(raw)) {
				return usageErr("the arguments of %s are not valid JSON: %s", args[0], raw)
			}
			return g.callTool(cmd, args[0], json.RawMessage(raw), dry)
		},
	}
	call.Flags().BoolVar(&dry, "dry-run", false, "build, simulate and evaluate, but sign nothing")
	cmd.AddCommand(call)
	return cmd
}

// catalog is the tool registry with no chain behind it: enough to list names,
// descriptions and schemas.
func catalog() *tools.Registry { return mandate.Catalog() }

// callTool opens what a tool needs and calls it.
func (g *globals) callTool(cmd *cobra.Command, name string, args json.RawMessage, dry bool) error {
	ctx := cmd.Context()
	rt, err := g.open(ctx, func(c *mandate.Config) { c.Approver = promptApprover{in: cmd.InOrStdin(), out: g.stderr} })
	if err != nil {
		return err
	}
	defer rt.Close()
	if dry {
		ctx = tools.WithDryRun(ctx)
	}
	reg := rt.Tools()
	if t, ok := reg.Get(name); ok && !dry && takesKey(t) {
		if args, err = g.keyed(args); err != nil {
			return err
		}
	}
	res, err := reg.Call(ctx, name, args)
	if err != nil {
		return err
	}
	// A dry run's decision is its outcome: exit 1 when the policy would
	// refuse, as `mandate policy eval` does.
	var refused error
	out := res.Outcome
	if out != nil && out.Report != nil && out.Report.Decision != policies.DecisionApprove {
		refused = &exitErr{code: exitFailed, err: errors.New("the policy would " + string(out.Report.Decision) + " it"), quiet: true}
	}
	if g.json {
		obj := map[string]any{"ok": refused == nil, "tool": name, "text": res.Text, "data": res.Data}
		if g.key != "" {
			obj["idempotency_key"] = g.key
		}
		writeJSON(g.stdout, obj)
		return refused
	}
	fmt.Fprintln(g.stdout, strings.TrimSpace(res.Text))
	if out != nil && out.Report != nil {
		fmt.Fprintf(g.stdout, "intent: %s\ndigest: %s\n", out.Intent, out.Report.Digest)
	}
	return refused
}

// takesKey reports whether t's arguments have an idempotency_key: the
// tools that move value and that a retry must not repeat.
func takesKey(t tools.Tool) bool {
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	return json.Unmarshal(t.Schema(), &schema) == nil && schema.Properties["idempotency_key"] != nil
}

// keyed gives args an idempotency key when they have none, and says so on
// stderr before anything is decided or sent: a process killed mid-send
// leaves its user the one key that retries it without sending twice.
// Arguments that are not a JSON object are left to the tool to refuse.
func (g *globals) keyed(args json.RawMessage) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(args, &obj) != nil || obj == nil {
		return args, nil
	}
	if raw, ok := obj["idempotency_key"]; ok {
		var given string
		if json.Unmarshal(raw, &given) != nil || given != "" {
			return args, nil // the user's key, or one the tool will refuse
		}
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("make an idempotency key: %w", err)
	}
	key := "cli-" + hex.EncodeToString(b[:])
	raw, _ := json.Marshal(key)
	obj["idempotency_key"] = raw
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("add the idempotency key: %w", err)
	}
	g.key = key
	fmt.Fprintf(g.stderr, "mandate: idempotency key %s; to retry this exact call safely, rerun it with \"idempotency_key\":%q\n", key, key)
	return out, nil
}
