// Command agent is an agent with a wallet and swaps on the in-process
// devnet under a policy, in the fewest lines the library allows: the
// offline intent model answers without an API key (set Config.LLM for a
// real one).
//
//	go run ./examples/agent "swap 0.1 ETH to USDC"
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/mandatehq/mandate"
)

func main() {
	ctx := context.Background()
	rt, err := mandate.Open(ctx, mandate.Config{Devnet: true})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()
	for ev, err := range rt.Agent().Session("example").Send(ctx, strings.Join(os.Args[1:], " ")) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s %s%s%s\n", ev.Kind, ev.Text, ev.Decision, ev.TxHash)
	}
}
