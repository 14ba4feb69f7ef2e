package agent_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/llm/offline"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/wallet"
)

// An agent in a handful of lines: a chain, a wallet, a policy, the wallet
// tools, a model (the offline one here; an *llm.Router in production), and
// a session whose events are rendered as they come.
func Example() {
	ctx := context.Background()
	d, err := devnet.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	c, err := evm.NewClient(ctx, d.RPC())
	if err != nil {
		log.Fatal(err)
	}
	signer, err := evm.NewKeySigner(d.Accounts()[0].PrivateKey) // devnet key; a Keystore elsewhere
	if err != nil {
		log.Fatal(err)
	}
	w, err := evm.NewWallet(c, signer)
	if err != nil {
		log.Fatal(err)
	}
	pol, err := policies.Parse([]byte(fmt.Sprintf(`version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "%s", decimals: 6}
limits:
  per_tx: {USDC: "100"}
`, d.Address(devnet.USDC).Hex())))
	if err != nil {
		log.Fatal(err)
	}
	list, err := d.Deployment().TokenList()
	if err != nil {
		log.Fatal(err)
	}
	reg := tools.NewRegistry(wallet.Tools(w, policies.NewEngine(pol, policies.NewMemLedger()), wallet.WithTokenList(list)))

	a := agent.New(offline.New(), reg)
	for ev, err := range a.Session("example").Send(ctx, "send 500 USDC to "+d.Accounts()[1].Address.Hex()) {
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Kind {
		case agent.EventToolCall:
			fmt.Println("tool:", ev.Tool)
		case agent.EventDecision:
			fmt.Println("decision:", ev.Decision, ev.Reasons)
		}
	}
	// Output:
	// tool: wallet_transfer
	// decision: deny [amount 500 USDC exceeds per-tx limit 100 USDC (rule limits.per_tx.USDC)]
}
