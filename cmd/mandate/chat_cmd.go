package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate"
)

func newChatCmd(g *globals) *cobra.Command {
	var chat, metricsAddr string
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Talk to the agent in the terminal (reads lines from stdin when it is not a terminal)",
		Long: `Runs the agent: each line you type goes to the model, which calls the wallet
tools; everything that moves value passes your policy first. With no LLM backend
configured (MANDATE_LLM_BASE_URL or MANDATE_LLM_BACKENDS) the offline intent model
answers the core commands ("balance", "send 10 USDC to 0x…", "help").
The conversation is kept in MANDATE_DB and continues after a restart.
--json prints every event as one JSON object a line.

Ctrl-C while the agent answers cancels that answer (a transaction already
sent stays sent) and the chat goes on; at the prompt it clears the line, and
a second Ctrl-C in a row, Ctrl-D or /quit leaves. Standing orders placed here
execute while the chat runs, and their reports appear above the prompt.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			con := g.newConsole(cmd) // before anything captures g.stdout, g.stderr or the logger
			ap := con.approver()
			rt, err := g.openWithMetrics(ctx, metricsAddr, func(c *mandate.Config) {
				c.KeepChats = true // on the devnet the conversation outlasts the chain
				c.Approver = ap
				c.OnOrder = g.orderPrinter()
			})
			if err != nil {
				return err
			}
			defer rt.Close()
			_, name := rt.Model()
			ag := rt.Agent()
			// Standing orders placed in this chat (or earlier) execute
			// while it runs; each execution passes the policy. Close lets
			// a run in progress finish before the wallet closes.
			rt.StartOrders()
			sess := ag.Session(chat)
			if con.drawn {
				fmt.Fprintf(g.stdout, "Mandate on %s, model %s. Type help; Ctrl-C cancels an answer, Ctrl-D leaves.\n", rt.Where(), name)
			}
			return g.converse(ctx, con, sess)
		},
	}
	cmd.Flags().StringVar(&chat, "chat", "cli:default", "conversation id; each keeps its own history")
	metricsFlag(cmd, &metricsAddr)
	return cmd
}
