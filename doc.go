// Package mandate is the runtime every front end starts from: Open turns one
// Config into a running agent with a wallet under a policy — the database,
// the chain (or an in-process devnet), the token list, the price source,
// the signer, the policy engine, every tool kit, the model router, the agent
// and the standing-order watcher — and Close releases all of it.
//
// The CLI, the bots and the MCP server are thin layers over a Runtime, so
// that the rules they share (raw keys only on the devnet's chain, a gate
// that allows nothing without a policy, the policy's tokens always known to
// the resolver, swaps checked against the router's exact calldata) live in
// one place.
//
//	rt, err := mandate.Open(ctx, mandate.Config{Devnet: true})
//	if err != nil { ... }
//	defer rt.Close()
//	for ev, err := range rt.Agent().Session("me").Send(ctx, "swap 0.5 ETH to USDC") {
//		...
//	}
package mandate
