package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
)

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Validate a policy file, or decide one intent against it",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "check FILE",
		Short: "Validate a policy file: unknown keys, bad addresses or amounts, CEL rules that do not compile",
		Long: `Validates a policy file: unknown keys, bad addresses or amounts, and CEL
rules that do not type-check (a field or intent kind that does not exist, a
field of another kind without a kind guard). Likely mistakes in a valid
policy are printed to stderr as "warning: FILE:LINE: …" (and listed under
"warnings" with --json). Exit status: 0 valid (warnings or not), 2 invalid.`,
		Args: exactArgs(1, "usage: mandate policy check FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policies.Load(args[0])
			if err != nil {
				return asUsage(err)
			}
			warnings := policyWarnings(p)
			for _, w := range warnings {
				fmt.Fprintln(g.stderr, "warning: "+warningLine(args[0], w))
			}
			return g.print(map[string]any{"ok": true, "file": args[0], "warnings": warnings}, "%s: ok", args[0])
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "eval FILE INTENT.json",
		Short: "Decide one intent (a tool's arguments with a \"kind\") against a policy, as a dry run",
		Long: `Decides one intent against a policy without charging any limit. The daily
totals are read from MANDATE_DB when it is set, and are zero otherwise.
Exit status: 0 approve, 1 deny or ask, 2 bad input.

` + intentHelp,
		Args: exactArgs(2, "usage: mandate policy eval FILE INTENT.json"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := policies.Load(args[0])
			if err != nil {
				return asUsage(err)
			}
			data, err := os.ReadFile(args[1])
			if err != nil {
				return usageErr("intent: %v", err)
			}
			in, err := readIntent(p, data)
			if err != nil {
				return usageErr("%s: %v", args[1], err)
			}
			ledger, closeLedger, err := g.evalLedger(ctx)
			if err != nil {
				return err
			}
			defer closeLedger()
			rep, err := policies.NewEngine(p, ledger).Evaluate(ctx, in)
			if err != nil {
				return err
			}
			if g.json {
				writeJSON(g.stdout, rep)
			} else {
				fmt.Fprintf(g.stdout, "intent: %s\ndecision: %s\n", describeIntent(in), rep.Decision)
				for _, r := range rep.Reasons {
					fmt.Fprintf(g.stdout, "  - %s\n", r)
				}
			}
			if rep.Decision != policies.DecisionApprove {
				return &exitErr{code: exitFailed, err: errors.New("decision: " + string(rep.Decision)), quiet: true}
			}
			return nil
		},
	})
	return cmd
}

// evalLedger is the configured store's ledger when MANDATE_DB is set (so
// daily totals count), else an empty in-memory one.
func (g *globals) evalLedger(ctx context.Context) (policies.Ledger, func(), error) {
	cfg, err := loadConfig(g.configPath)
	if err != nil {
		return nil, nil, err
	}
	if cfg.DB == "" {
		return policies.NewMemLedger(), func() {}, nil
	}
	s, err := g.openDB(ctx, cfg.DB)
	if err != nil {
		return nil, nil, err
	}
	return s.Ledger(), func() { _ = s.Close() }, nil
}

func exactArgs(n int, usage string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErr("%s", usage)
		}
		return nil
	}
}

// policyWarnings is the policy's likely mistakes, in file order, and the
// USD settings it has where the runtime could build no price source.
func policyWarnings(p *policies.Policy) []policies.Warning {
	ws := append(append([]policies.Warning{}, p.Warnings()...), p.PriceWarnings(runtimePriced)...)
	slices.SortStableFunc(ws, func(a, b policies.Warning) int { return a.Line - b.Line })
	return ws
}

// runtimePriced reports whether the runtime builds a USD price source (the
// Uniswap V3 TWAP, see app.prices) for a chain: a chain with a known
// Uniswap deployment, or the devnet, which deploys its own. Solana
// clusters have none.
func runtimePriced(chain string) bool {
	id, err := strconv.ParseInt(chain, 10, 64)
	if err != nil {
		return false
	}
	_, _, known := uniswap.Known(id)
	return known || id == devnet.ChainID
}

// warningLine is "FILE:LINE: field: text", the form editors jump to.
func warningLine(file string, w policies.Warning) string {
	if w.Line > 0 {
		return fmt.Sprintf("%s:%d: %s: %s", file, w.Line, w.Field, w.Text)
	}
	return fmt.Sprintf("%s: %s: %s", file, w.Field, w.Text)
}
