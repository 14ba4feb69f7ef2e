package main

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
)

// toolKinds maps a tool to the kind of intent it puts before the policy,
// which is what the audit records: `audit list --tool` selects by it.
var toolKinds = map[string]policies.Kind{
	"wallet_transfer": policies.KindTransfer,
	"sol_transfer":    policies.KindTransfer,
	"token_approve":   policies.KindApprove,
	"dex_swap":        policies.KindSwap,
	"sol_swap":        policies.KindSwap,
	"order_place":     policies.KindSwap,
	"safe_propose":    policies.KindSafeTx,
	"safe_review":     policies.KindSafeTx,
}

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and verify the audit of every policy decision",
		Long: `Every decision the policy makes (approve, deny, ask), and every later release of an
approval, is recorded in MANDATE_DB as a hash chain per wallet or Safe: each record
carries the hash of the one before, in the same database transaction as the decision,
so a crash never leaves a gap and a deleted, edited or inserted record breaks the chain.`,
	}
	cmd.AddCommand(newAuditListCmd(g), newAuditVerifyCmd(g))
	return cmd
}

func newAuditListCmd(g *globals) *cobra.Command {
	var (
		since, until, tool, decision, token, wallet string
		limit                                       int
		asCSV                                       bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List decisions, newest first (--json lines, --csv)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := memory.DecisionFilter{Wallet: wallet, Token: token, Limit: limit}
			var err error
			now := time.Now()
			if f.Since, err = parseWhen(since, now); err != nil {
				return usageErr("--since: %v", err)
			}
			if f.Until, err = parseWhen(until, now); err != nil {
				return usageErr("--until: %v", err)
			}
			if f.Kind, err = kindOfTool(tool); err != nil {
				return err
			}
			switch d := policies.Decision(decision); d {
			case "", policies.DecisionApprove, policies.DecisionDeny, policies.DecisionAsk:
				f.Decision = d
			default:
				return usageErr("--decision must be approve, deny or ask; got %q", decision)
			}
			if limit < 0 {
				return usageErr("--limit must be positive; got %d", limit)
			}
			if asCSV && g.json {
				return usageErr("--csv and --json both asked for; choose one")
			}
			s, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			entries, err := s.Decisions(cmd.Context(), f)
			if err != nil {
				return err
			}
			switch {
			case g.json:
				for _, e := range entries {
					writeJSON(g.stdout, auditJSON(e))
				}
			case asCSV:
				return writeAuditCSV(g, entries)
			default:
				writeAuditText(g, entries)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&since, "since", "", "only decisions at or after this time (RFC 3339, a date, or a duration ago such as 24h)")
	fl.StringVar(&until, "until", "", "only decisions before this time (same forms as --since)")
	fl.StringVar(&tool, "tool", "", "only decisions about intents of this tool (wallet_transfer, dex_swap, …) or kind (transfer, swap, approve, call, safe_tx)")
	fl.StringVar(&decision, "decision", "", "only approve, deny or ask")
	fl.StringVar(&token, "token", "", "only intents naming this token (symbol, address or mint)")
	fl.StringVar(&wallet, "wallet", "", "only this wallet or Safe")
	fl.IntVar(&limit, "limit", 100, "at most this many")
	fl.BoolVar(&asCSV, "csv", false, "print CSV with a header row")
	return cmd
}

func newAuditVerifyCmd(g *globals) *cobra.Command {
	var head string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit's hash chains: exit 0 when whole, 1 naming the first broken record",
		Long: `Checks every record's hash and place, compares it with the decision and spends it
records as they are now, and looks for decisions outside the chain. It prints each
chain's head hash: keep it elsewhere, and --head HASH later proves nobody rewrote
the chain up to it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := g.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := s.VerifyAudit(cmd.Context())
			if err != nil {
				return err
			}
			if rep.Broken == nil && head != "" {
				rep.Broken, err = checkHead(rep, head)
				if err != nil {
					return err
				}
			}
			return reportAudit(g, rep)
		},
	}
	cmd.Flags().StringVar(&head, "head", "", "fail unless a chain still holds the record with this hash (a head an earlier verify printed)")
	return cmd
}

// checkHead reports a break when the chain of wallet no longer reaches
// hash: a head printed earlier must stay in the chain, at its head or
// behind later records.
func checkHead(rep memory.AuditReport, hash string) (*memory.AuditBreak, error) {
	if _, err := hex.DecodeString(hash); err != nil || len(hash) != 64 {
		return nil, usageErr("--head must be a 64-hex-digit hash that verify printed; got %q", hash)
	}
	if rep.Holds(strings.ToLower(hash)) {
		return nil, nil
	}
	return &memory.AuditBreak{Problem: "the head " + hash + " printed earlier is no longer in any chain: the chain was rewritten or cut short"}, nil
}

func reportAudit(g *globals, rep memory.AuditReport) error {
	if g.json {
		obj := map[string]any{"ok": rep.Broken == nil, "records": rep.Links, "decisions": rep.Decisions, "heads": rep.Heads}
		if rep.Broken != nil {
			obj["broken"] = map[string]any{"wallet": rep.Broken.Wallet, "record": rep.Broken.Seq, "decision_id": rep.Broken.DecisionID,
				"approval_id": rep.Broken.ApprovalID, "problem": rep.Broken.Problem}
		}
		writeJSON(g.stdout, obj)
	} else {
		fmt.Fprintf(g.stdout, "%d records over %d decisions checked\n", rep.Links, rep.Decisions)
		for _, w := range slices.Sorted(maps.Keys(rep.Heads)) {
			fmt.Fprintf(g.stdout, "  head of %s: %s\n", w, rep.Heads[w])
		}
	}
	if rep.Broken != nil {
		if g.json {
			return &exitErr{code: exitFailed, err: rep.Broken, quiet: true}
		}
		return &exitErr{code: exitFailed, err: rep.Broken}
	}
	if !g.json {
		fmt.Fprintln(g.stdout, "the audit is whole")
	}
	return nil
}

// openStore opens the configured database alone.
func (g *globals) openStore(ctx context.Context) (*memory.Store, error) {
	cfg, err := g.config()
	if err != nil {
		return nil, err
	}
	g.remember(cfg.DB)
	s, err := mandate.OpenStore(ctx, cfg)
	if se, ok := errors.AsType[*mandate.StoreError](err); ok {
		g.remember(se.DSN)
	}
	return s, err
}

func kindOfTool(tool string) (policies.Kind, error) {
	if tool == "" {
		return "", nil
	}
	if k, ok := toolKinds[tool]; ok {
		return k, nil
	}
	switch k := policies.Kind(tool); k {
	case policies.KindTransfer, policies.KindApprove, policies.KindSwap, policies.KindCall, policies.KindSafeTx:
		return k, nil
	}
	return "", usageErr("--tool %q is neither a value-moving tool (%s) nor an intent kind (transfer, swap, approve, call, safe_tx)",
		tool, strings.Join(slices.Sorted(maps.Keys(toolKinds)), ", "))
}

// parseWhen reads a time: RFC 3339, a date (UTC midnight), or a duration
// before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: give RFC 3339 (2026-12-01T09:00:00Z), a date (2026-12-01) or a duration ago (24h)", s)
}

// auditJSON is one decision as `audit list --json` prints it.
func auditJSON(e policies.Entry) map[string]any {
	spends := make([]map[string]string, len(e.Spends))
	for i, sp := range e.Spends {
		spends[i] = map[string]string{"bucket": sp.Bucket, "amount": sp.Amount.String()}
	}
	obj := map[string]any{
		"at": e.At.UTC().Format(time.RFC3339Nano), "wallet": e.Wallet, "chain": e.Chain, "approval_id": e.ApprovalID,
		"idempotency_key": e.Key, "kind": e.Kind, "decision": e.Decision, "reasons": nonNil(e.Reasons),
		"prices": nonNil(e.Prices), "spends": spends, "digest": e.Digest,
	}
	if len(e.Intent) > 0 {
		obj["intent"] = json.RawMessage(e.Intent)
	}
	return obj
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeAuditCSV(g *globals, entries []policies.Entry) error {
	w := csv.NewWriter(g.stdout)
	_ = w.Write([]string{"at", "wallet", "chain", "approval_id", "idempotency_key", "kind", "decision", "reasons", "intent"})
	for _, e := range entries {
		_ = w.Write([]string{e.At.UTC().Format(time.RFC3339Nano), e.Wallet, e.Chain, e.ApprovalID, e.Key, string(e.Kind),
			string(e.Decision), strings.Join(e.Reasons, "; "), string(e.Intent)})
	}
	w.Flush()
	return w.Error()
}

func writeAuditText(g *globals, entries []policies.Entry) {
	if len(entries) == 0 {
		fmt.Fprintln(g.stdout, "no decisions match")
		return
	}
	for _, e := range entries {
		fmt.Fprintf(g.stdout, "%s  %-7s  %-8s  %s on %s", e.At.UTC().Format(time.DateTime), e.Decision, e.Kind, e.Wallet, e.Chain)
		if e.Key != "" {
			fmt.Fprintf(g.stdout, "  key %s", e.Key)
		}
		fmt.Fprintln(g.stdout)
		for _, r := range e.Reasons {
			fmt.Fprintf(g.stdout, "    %s\n", oneLine(r))
		}
	}
}
