// Package offline is the offline intent model: an llms.Model that needs no
// network and no API key, so that `mandate chat --devnet` does the core jobs
// (balances, transfers, swaps, quotes, approvals) out of the box.
//
// It is deliberately not a language model. It recognises a fixed set of
// commands in the owner's last message and answers with exactly the tool call
// a real model would emit (same llms.ContentResponse shape, same tool names
// and argument JSON), so the agent loop, the policy gate and the tools cannot
// tell the difference. Everything it does not understand gets a plain answer
// that says so and names the environment variables that configure a real
// backend, because guessing at money-moving intent is worse than refusing.
//
// Only the owner's message is ever parsed. Tool results, other chat members
// and any other text are data: the model relays tool results in words and
// never turns them into a tool call, so instructions planted in a token name
// or a tool's output cannot move value through it.
package offline
