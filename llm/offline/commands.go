package offline

import "strings"

// Command is one thing the offline model understands, for help texts in the
// CLI and the bots. Tool is the tool it calls, empty for answers in text.
type Command struct {
	Name    string
	Example string
	Tool    string
}

// Tool names, exactly as the tools register them (the design's "Contracts
// that users rely on"): a call the registry does not know is useless.
const (
	toolBalance   = "wallet_balance"
	toolAddress   = "wallet_address"
	toolTransfer  = "wallet_transfer"
	toolSwap      = "dex_swap"
	toolQuote     = "dex_quote"
	toolApprove   = "token_approve"
	toolInfo      = "token_info"
	toolStatus    = "tx_status"
	toolPrice     = "token_price"
	toolPortfolio = "wallet_portfolio"
	toolPools     = "pool_stats"
	toolExplain   = "tx_explain"
	toolHistory   = "wallet_history"
)

// solanaTool is the Solana tool that does what an EVM tool does, for a
// command whose words or wallet say Solana.
var solanaTool = map[string]string{
	toolAddress:  "sol_address",
	toolBalance:  "sol_balance",
	toolTransfer: "sol_transfer",
	toolSwap:     "sol_swap",
	toolQuote:    "sol_quote",
	toolInfo:     "sol_token_info",
}

// Commands lists what the offline model understands, one example each. The
// examples are phrasings the parser accepts, so a user can copy them.
func Commands() []Command {
	return []Command{
		{Name: "balance", Example: "balance of USDC", Tool: toolBalance},
		{Name: "address", Example: "what is my address", Tool: toolAddress},
		{Name: "send", Example: "send 10 USDC to 0x…", Tool: toolTransfer},
		{Name: "swap", Example: "swap 0.5 ETH to USDC with 0.5% slippage", Tool: toolSwap},
		{Name: "quote", Example: "quote 1 WETH in DAI", Tool: toolQuote},
		{Name: "approve", Example: "approve 100 USDC for 0x…", Tool: toolApprove},
		{Name: "info", Example: "info USDC", Tool: toolInfo},
		{Name: "status", Example: "status 0x… (a transaction hash)", Tool: toolStatus},
		{Name: "price", Example: "price of ETH", Tool: toolPrice},
		{Name: "portfolio", Example: "portfolio", Tool: toolPortfolio},
		{Name: "pools", Example: "pools USDC WETH", Tool: toolPools},
		{Name: "explain", Example: "explain 0x… (a transaction hash)", Tool: toolExplain},
		{Name: "history", Example: "history", Tool: toolHistory},
		{Name: "limit order", Example: "buy ETH with 300 USDC when ETH is below 2900", Tool: toolOrderPlace},
		{Name: "stop-loss", Example: "stop loss: sell 1 ETH for USDC at 2500", Tool: toolOrderPlace},
		{Name: "DCA", Example: "buy 100 USDC of WETH every day for a week", Tool: toolOrderPlace},
		{Name: "orders", Example: "my orders", Tool: toolOrderList},
		{Name: "cancel order", Example: "cancel order 3", Tool: toolOrderCancel},
		{Name: "help", Example: "help"},
	}
}

// envHint names the variables that configure a real backend; every answer
// that declines says it, so the user learns how to get more than commands.
const envHint = "set MANDATE_LLM_BASE_URL (with MANDATE_LLM_API_KEY and MANDATE_LLM_MODEL) " +
	"or MANDATE_LLM_BACKENDS (e.g. ionet,akash)"

func helpText() string {
	var b strings.Builder
	b.WriteString("I am the offline model: no network, no API key, just these commands.\n")
	for _, c := range Commands() {
		b.WriteString("- ")
		b.WriteString(c.Name)
		b.WriteString(": \"")
		b.WriteString(c.Example)
		b.WriteString("\"")
		if c.Tool != "" {
			b.WriteString(" (")
			b.WriteString(c.Tool)
			b.WriteString(")")
		}
		b.WriteString("\n")
	}
	b.WriteString("Open questions, and conditions other than standing orders, need a configured LLM backend: " + envHint + ".")
	return b.String()
}

func unknownText() string {
	return "I did not understand anything I can do offline. Say \"help\" for the commands I know. " +
		"Open questions need a configured LLM backend: " + envHint + "."
}

func greetingText() string {
	return "Hello. I am the offline model and understand the core wallet commands; say \"help\" for the list. " +
		"Open questions need a configured LLM backend: " + envHint + "."
}

// conditionalText declines the whole instruction. Acting on "swap … if the
// price is above 3,000" without checking the condition would execute a trade
// the owner only wanted under circumstances nobody verified.
func conditionalText() string {
	return "I did nothing: that instruction has a condition, and the offline model cannot check conditions. " +
		"Either configure an LLM backend (" + envHint + ") or place a standing order (the order_place tool), " +
		"or send the command without the condition if you want it done now."
}

func notAvailableText(tool string) string {
	return "I understood that as " + tool + ", but the " + tool + " tool is not available here, so I did nothing."
}

func badSlippageText() string {
	return "I did nothing: slippage must be a whole number of basis points (1 bps = 0.01%), e.g. \"with 0.5% slippage\" or \"slippage 30 bps\"."
}

func badHexText(tok string) string {
	return "I did nothing: " + tok + " is neither an address (0x and 40 hex digits) nor a transaction hash (0x and 64 hex digits)."
}
