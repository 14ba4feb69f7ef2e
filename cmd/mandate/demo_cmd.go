package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/mandatehq/mandate"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate/policies"
)

// newDemoCmd is the README's walk-through, the one it suggests typing in
// the chat, unattended: a local chain with real contracts, the devnet
// policy, what it allows (a transfer, a quote, a swap, a standing order)
// and what it refuses (four denials with their reasons).
func newDemoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Walk through the main job on the embedded devnet: a transfer, a swap and a standing order the policy allows, four things it refuses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g.devnet = true
			ctx := cmd.Context()
			rt, err := g.open(ctx, func(c *mandate.Config) { c.Approver = promptApprover{in: cmd.InOrStdin(), out: g.stderr} })
			if err != nil {
				return err
			}
			defer rt.Close()
			reg := rt.Tools()
			friend := rt.Deployment().Accounts[1].Address.Hex()
			steps := []struct {
				say, tool string
				args      map[string]string
				wantDeny  bool
			}{
				{"Where am I?", "wallet_address", nil, false},
				{"What do I hold?", "wallet_balance", nil, false},
				{"Send 10 USDC to a friend: within the policy's per-transfer limit of 1,000 USDC.", "wallet_transfer",
					map[string]string{"to": friend, "token": "USDC", "amount": "10"}, false},
				{"Quote 1,000 USDC in DAI: the best route over Uniswap V2 and V3.", "dex_quote",
					map[string]string{"from": "USDC", "to": "DAI", "amount": "1000"}, false},
				{"Swap 0.5 ETH to USDC: quoted, simulated, decided, sent.", "dex_swap",
					map[string]string{"from": "ETH", "to": "USDC", "amount": "0.5"}, false},
				{"Buy ETH with 300 USDC when ETH is below 2,900: a standing order, which a running chat or `mandate orders watch` executes.", "order_place",
					map[string]string{"kind": "limit", "from": "USDC", "to": "ETH", "amount": "300", "trigger": "ETH <= 2900"}, false},
				{"My orders.", "order_list", nil, false},
				{"Send 5,000 USDC: over the per-transfer limit.", "wallet_transfer",
					map[string]string{"to": friend, "token": "USDC", "amount": "5000"}, true},
				{"Swap 100 USDC to DAI with 5% slippage: more than the policy's 1%.", "dex_swap",
					map[string]string{"from": "USDC", "to": "DAI", "amount": "100", "slippage_bps": "500"}, true},
				{"Send 0.1 ETH to the burn address: the policy's deny list.", "wallet_transfer",
					map[string]string{"to": "0x000000000000000000000000000000000000dEaD", "token": "ETH", "amount": "0.1"}, true},
				{"Approve an unlimited USDC allowance: the policy allows none.", "token_approve",
					map[string]string{"token": "USDC", "spender": friend, "amount": "unlimited"}, true},
				{"What do I hold now?", "wallet_balance", map[string]string{"token": "USDC"}, false},
			}
			for i, st := range steps {
				if st.args == nil {
					st.args = map[string]string{}
				}
				var buf bytes.Buffer // the command as a person would type it: "<=", not "\u003c="
				enc := json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
				_ = enc.Encode(st.args)
				args := bytes.TrimSpace(buf.Bytes())
				res, err := reg.Call(ctx, st.tool, args)
				var denied *policies.Denied
				isDeny := errors.As(err, &denied)
				if err != nil && !isDeny {
					return fmt.Errorf("step %d (%s): %w", i+1, st.tool, err)
				}
				if isDeny != st.wantDeny {
					return fmt.Errorf("step %d (%s): the policy decided otherwise than the walk-through expects: %v", i+1, st.tool, err)
				}
				if g.json {
					line := map[string]any{"step": i + 1, "say": st.say, "tool": st.tool, "args": st.args}
					if isDeny {
						reasons := []string{}
						for _, r := range denied.Reasons {
							reasons = append(reasons, r.String())
						}
						line["decision"], line["reasons"] = "deny", reasons
					} else {
						line["text"], line["data"] = res.Text, res.Data
					}
					writeJSON(g.stdout, line)
					continue
				}
				fmt.Fprintf(g.stdout, "\n%d. %s\n   $ mandate tools call %s '%s'\n", i+1, st.say, st.tool, args)
				if isDeny {
					fmt.Fprintln(g.stdout, "   DENIED:")
					for _, r := range denied.Reasons {
						fmt.Fprintf(g.stdout, "     - %s\n", r)
					}
					continue
				}
				fmt.Fprintf(g.stdout, "   %s\n", res.Text)
			}
			if !g.json {
				fmt.Fprintln(g.stdout, "\nEvery step went through the same gate the agent uses: the tool built the intent from chain state, the policy decided, and only an Approval reached the signer.")
			}
			return nil
		},
	}
}
