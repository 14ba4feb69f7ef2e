package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/dex"
	"github.com/mandatehq/mandate/tools/wallet"
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
func catalog() *tools.Registry {
	a := &app{}
	return a.tools(nil)
}

// callTool opens what a tool needs and calls it.
func (g *globals) callTool(cmd *cobra.Command, name string, args json.RawMessage, dry bool) error {
	ctx := cmd.Context()
	a, err := g.open(ctx, needs{wallet: true, policy: true})
	if err != nil {
		return err
	}
	defer a.Close()
	if dry {
		ctx = tools.WithDryRun(ctx)
	}
	reg := a.tools(promptApprover{in: cmd.InOrStdin(), out: g.stderr})
	res, err := reg.Call(ctx, name, args)
	if err != nil {
		return err
	}
	// A dry run's decision is its outcome: exit 1 when the policy would
	// refuse, as `mandate policy eval` does.
	var refused error
	out, ok := res.Data.(wallet.Outcome)
	if s, isSwap := res.Data.(dex.Swap); isSwap {
		out, ok = s.Outcome, true
	}
	if ok && out.Report != nil && out.Report.Decision != policies.DecisionApprove {
		refused = &exitErr{code: exitFailed, err: errors.New("the policy would " + string(out.Report.Decision) + " it"), quiet: true}
	}
	if g.json {
		writeJSON(g.stdout, map[string]any{"ok": refused == nil, "tool": name, "text": res.Text, "data": res.Data})
		return refused
	}
	fmt.Fprintln(g.stdout, strings.TrimSpace(res.Text))
	if out, ok := res.Data.(wallet.Outcome); ok && out.Report != nil {
		fmt.Fprintf(g.stdout, "intent: %s\ndigest: %s\n", out.Intent, out.Report.Digest)
	}
	return refused
}
