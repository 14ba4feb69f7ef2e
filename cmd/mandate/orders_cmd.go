package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mandatehq/mandate"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate/orders"
)

func newOrdersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "orders",
		Short: "Standing orders: list, cancel, and watch (execute them as prices and schedules come)",
		Long: `Standing orders (limit, stop, DCA) are placed with the order_place tool, from chat
("buy 100 USDC of WETH every day for a week") or ` + "`mandate tools call order_place`" + `.
They are kept in MANDATE_DB. ` + "`mandate chat`" + ` executes them while it runs;
` + "`mandate orders watch`" + ` executes them without a chat. Each execution is a swap that
passes the policy like any other; one that the policy wants a person to confirm is
refused, since nobody is there to ask.`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List this wallet's standing orders",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.callTool(cmd, "order_list", json.RawMessage(`{}`), false)
		},
	}
	cancel := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel an open standing order",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, _ := json.Marshal(strings.TrimPrefix(args[0], "#"))
			return g.callTool(cmd, "order_cancel", json.RawMessage(`{"id":`+string(id)+`}`), false)
		},
	}
	var metricsAddr string
	watch := &cobra.Command{
		Use:   "watch",
		Short: "Execute standing orders as their prices and schedules come, until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			rt, err := g.openWithMetrics(ctx, metricsAddr, func(c *mandate.Config) { c.OnOrder = g.orderPrinter() })
			if err != nil {
				return err
			}
			defer rt.Close()
			if rt.Wallet() == nil {
				return usageErr("standing orders are Uniswap swaps and need an EVM chain: set MANDATE_RPC_URL, or pass --devnet without --solana")
			}
			fmt.Fprintf(g.stderr, "watching the standing orders of %s on chain %s; Ctrl-C to stop\n", rt.Wallet().Address().Hex(), rt.Client().Chain())
			if err := rt.Orders().Run(ctx); err != nil && !errors.Is(err, ctx.Err()) {
				return err
			}
			return nil
		},
	}
	metricsFlag(watch, &metricsAddr)
	cmd.AddCommand(list, cancel, watch)
	return cmd
}

// orderPrinter reports each execution of a standing order: a JSON line
// under --json, else a line on stderr (beside a chat's own output).
func (g *globals) orderPrinter() func(orders.Order, error) {
	return func(o orders.Order, err error) {
		if g.json {
			ev := map[string]any{"kind": "order", "order": o}
			if err != nil {
				ev["error"] = oneLine(err.Error())
			}
			writeJSON(g.stdout, ev)
			return
		}
		if err != nil {
			fmt.Fprintf(g.stderr, "\n[order #%d %s] %s\n", o.ID, o.Status, oneLine(err.Error()))
			return
		}
		fmt.Fprintf(g.stderr, "\n[order #%d %s] %s\n", o.ID, o.Status, oneLine(o.Note))
	}
}
