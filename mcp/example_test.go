package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/mcp"
)

// An MCP client asks the devnet's wallet for a transfer over the policy's
// per-transaction limit: the answer is a tool error with the reasons.
func Example() {
	ctx := context.Background()
	rt, err := mandate.Open(ctx, mandate.Config{Devnet: true})
	if err != nil {
		log.Fatal(err)
	}
	defer rt.Close()

	serverEnd, clientEnd := sdk.NewInMemoryTransports()
	go mcp.New(rt).Run(ctx, serverEnd) // or &sdk.StdioTransport{}, or Handler for HTTP

	client := sdk.NewClient(&sdk.Implementation{Name: "example", Version: "1"}, nil)
	cs, err := client.Connect(ctx, clientEnd, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "wallet_transfer", Arguments: map[string]any{
		"to": "0x000000000000000000000000000000000000bEEF", "token": "USDC", "amount": "1500"}})
	if err != nil {
		log.Fatal(err)
	}
	var r mcp.Reply
	b, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(b, &r)
	fmt.Println("isError:", res.IsError, "kind:", r.Kind)
	fmt.Println(r.Reasons[0])
	// Output:
	// isError: true kind: denied
	// amount 1,500 USDC exceeds per-tx limit 1,000 USDC (rule limits.per_tx.USDC)
}
