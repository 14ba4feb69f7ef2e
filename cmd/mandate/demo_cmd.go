package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate/policies"
)

// newDemoCmd is the README's walk-through: a local chain with real
// contracts, the devnet policy, one transfer it allows and two it refuses.
func newDemoCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "demo",
		Short: "Walk through the main job on the embedded devnet: a transfer the policy allows, two it refuses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			g.devnet = true
			ctx := cmd.Context()
			a, err := g.open(ctx, needs{wallet: true, policy: true})
			if err != nil {
				return err
			}
			defer a.Close()
			reg := a.tools(promptApprover{in: cmd.InOrStdin(), out: g.stderr})
			friend := a.dep.Accounts[1].Address.Hex()
			steps := []struct {
				say, tool string
				args      map[string]string
				wantDeny  bool
			}{
				{"Where am I?", "wallet_address", nil, false},
				{"What do I hold?", "wallet_balance", nil, false},
				{"Send 250 USDC to a friend: within the policy's per-transfer limit of 1,000 USDC.", "wallet_transfer",
					map[string]string{"to": friend, "token": "USDC", "amount": "250"}, false},
				{"Send 5,000 USDC: over the per-transfer limit.", "wallet_transfer",
					map[string]string{"to": friend, "token": "USDC", "amount": "5000"}, true},
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
				args, _ := json.Marshal(st.args)
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
