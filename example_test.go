package mandate_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/agent"
)

// An agent with a wallet and swaps on the in-process devnet, under the
// devnet's built-in policy, driven by the offline intent model: no API key,
// no network.
func Example() {
	ctx := context.Background()
	rt, err := mandate.Open(ctx, mandate.Config{Devnet: true})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	for ev, err := range rt.Agent().Session("example").Send(ctx, "swap 0.1 ETH to USDC") {
		if err != nil {
			log.Fatal(err)
		}
		switch ev.Kind {
		case agent.EventDecision:
			fmt.Println(ev.Tool, "decision:", ev.Decision)
		case agent.EventTx:
			fmt.Println(ev.Tool, "transaction:", ev.TxStatus)
		}
	}
	// Output:
	// dex_swap decision: approve
	// dex_swap transaction: mined
}
