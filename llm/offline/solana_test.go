package offline

import (
	"maps"
	"testing"

	"github.com/tmc/langchaingo/llms"
)

const solAddr = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"

var solanaTools = withTools("sol_address", "sol_balance", "sol_transfer", "sol_swap", "sol_quote", "sol_token_info")

var bothChains = withTools(toolBalance, toolAddress, toolTransfer, toolSwap, toolQuote, toolInfo,
	"sol_address", "sol_balance", "sol_transfer", "sol_swap", "sol_quote", "sol_token_info")

// The Solana tools are called when the words say Solana (SOL, a base58
// address, "on solana"), or when the wallet does (only they are offered);
// otherwise the EVM ones, and a base58 address keeps its case.
func TestSolanaCommands(t *testing.T) {
	cases := []struct {
		text string
		opts llms.CallOption
		tool string
		args map[string]string
	}{
		{"send 1 SOL to " + solAddr, bothChains, "sol_transfer", map[string]string{"amount": "1", "token": "SOL", "to": solAddr}},
		{"send 5 USDC to " + solAddr, bothChains, "sol_transfer", map[string]string{"amount": "5", "token": "USDC", "to": solAddr}},
		{"Pay " + solAddr + " 0.5 sol.", bothChains, "sol_transfer", map[string]string{"amount": "0.5", "token": "SOL", "to": solAddr}},
		{"swap 2 SOL to USDC", bothChains, "sol_swap", map[string]string{"amount": "2", "from": "SOL", "to": "USDC"}},
		{"swap 2 SOL to USDC with 0.5% slippage", bothChains, "sol_swap", map[string]string{"amount": "2", "from": "SOL", "to": "USDC", "slippage_bps": "50"}},
		{"swap 10 USDC to ETH", bothChains, toolSwap, map[string]string{"amount": "10", "from": "USDC", "to": "ETH"}},
		{"swap 10 USDC to BONK on solana", bothChains, "sol_swap", map[string]string{"amount": "10", "from": "USDC", "to": "BONK"}},
		{"what is my balance on solana", bothChains, "sol_balance", map[string]string{}},
		{"balance", bothChains, toolBalance, map[string]string{}},
		{"balance", solanaTools, "sol_balance", map[string]string{}},
		{"send 5 USDC to " + solAddr, solanaTools, "sol_transfer", map[string]string{"amount": "5", "token": "USDC", "to": solAddr}},
		{"what is my address", solanaTools, "sol_address", map[string]string{}},
		{"info about " + solAddr, bothChains, "sol_token_info", map[string]string{"token": solAddr}},
		{"quote 1 SOL in USDC", bothChains, "sol_quote", map[string]string{"amount": "1", "from": "SOL", "to": "USDC"}},
		// Only EVM tools: the EVM tool gets it, and its checks refuse the address.
		{"send 1 SOL to " + solAddr, allTools, toolTransfer, map[string]string{"amount": "1", "token": "SOL", "to": solAddr}},
	}
	for _, c := range cases {
		t.Run(c.text, func(t *testing.T) {
			ch := generate(t, []llms.MessageContent{human(c.text)}, c.opts)
			if len(ch.ToolCalls) != 1 {
				t.Fatalf("no tool call; answer %q", ch.Content)
			}
			if got := ch.ToolCalls[0].FunctionCall.Name; got != c.tool {
				t.Fatalf("tool = %s, want %s", got, c.tool)
			}
			if got := argsOf(t, ch.ToolCalls[0]); !maps.Equal(got, c.args) {
				t.Fatalf("args = %v, want %v", got, c.args)
			}
		})
	}
}

// A base58-looking word with a character base58 has not (0, O, I, l) is
// no address, and nothing is called.
func TestSolanaBadAddress(t *testing.T) {
	bad := "0WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
	ch := generate(t, []llms.MessageContent{human("send 1 SOL to " + bad)}, bothChains)
	if len(ch.ToolCalls) != 0 {
		t.Fatalf("called %s for a malformed address", ch.ToolCalls[0].FunctionCall.Name)
	}
}
