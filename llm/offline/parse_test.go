package offline

import (
	"maps"
	"strings"
	"testing"
)

const (
	checksummed = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
	lowercase   = "0xd8da6bf26964af9d7eed9e03e53415d37aa96045"
	txHash      = "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060"
)

type args = map[string]string

func TestParseCommands(t *testing.T) {
	tests := []struct {
		in   string
		tool string
		args args
	}{
		// wallet_balance
		{"balance", toolBalance, args{}},
		{"Balance?", toolBalance, args{}},
		{"what do I hold", toolBalance, args{}},
		{"What do I hold?", toolBalance, args{}},
		{"show me my balance please", toolBalance, args{}},
		{"Could you please check my wallet balance, thanks!", toolBalance, args{}},
		{"balance of USDC", toolBalance, args{"token": "USDC"}},
		{"balance of usdc", toolBalance, args{"token": "USDC"}},
		{"what's my DAI balance?", toolBalance, args{"token": "DAI"}},
		{"how much DAI do I have", toolBalance, args{"token": "DAI"}},
		{"How much ETH do I have?", toolBalance, args{"token": "ETH"}},
		{"balance of " + checksummed, toolBalance, args{"token": checksummed}},
		{"/balance", toolBalance, args{}},

		// wallet_address
		{"what is my address", toolAddress, args{}},
		{"What's my address?", toolAddress, args{}},
		{"address", toolAddress, args{}},
		{"who am I", toolAddress, args{}},
		{"Who am I?", toolAddress, args{}},

		// wallet_transfer
		{"send 10 USDC to " + checksummed, toolTransfer, args{"to": checksummed, "token": "USDC", "amount": "10"}},
		{"send 10 USDC to " + lowercase, toolTransfer, args{"to": lowercase, "token": "USDC", "amount": "10"}},
		{"Please send 10 usdc to " + checksummed + ".", toolTransfer, args{"to": checksummed, "token": "USDC", "amount": "10"}},
		{"transfer 0.5 eth to " + lowercase, toolTransfer, args{"to": lowercase, "token": "ETH", "amount": "0.5"}},
		{"pay " + checksummed + " 25 DAI", toolTransfer, args{"to": checksummed, "token": "DAI", "amount": "25"}},
		{"send 1,000.5 USDC to " + lowercase, toolTransfer, args{"to": lowercase, "token": "USDC", "amount": "1000.5"}},
		{"send 0.000001 ETH to " + lowercase, toolTransfer, args{"to": lowercase, "token": "ETH", "amount": "0.000001"}},
		{"send .5 ETH to " + lowercase, toolTransfer, args{"to": lowercase, "token": "ETH", "amount": "0.5"}},
		{"send 10usdc to " + lowercase, toolTransfer, args{"to": lowercase, "token": "USDC", "amount": "10"}},
		{"send 3 " + checksummed + " to " + lowercase, toolTransfer, args{"to": lowercase, "token": checksummed, "amount": "3"}},
		{"Hey, can you transfer 2 DAI to " + checksummed + "? Thanks", toolTransfer, args{"to": checksummed, "token": "DAI", "amount": "2"}},

		// dex_swap
		{"swap 0.5 ETH to USDC", toolSwap, args{"from": "ETH", "to": "USDC", "amount": "0.5"}},
		{"Swap 0.5 eth to usdc!", toolSwap, args{"from": "ETH", "to": "USDC", "amount": "0.5"}},
		{"swap 100 USDC for DAI", toolSwap, args{"from": "USDC", "to": "DAI", "amount": "100"}},
		{"buy USDC with 0.5 ETH", toolSwap, args{"from": "ETH", "to": "USDC", "amount": "0.5"}},
		{"swap 0.5 ETH to USDC with 0.3% slippage", toolSwap, args{"from": "ETH", "to": "USDC", "amount": "0.5", "slippage_bps": "30"}},
		{"swap 0.5 ETH to USDC slippage 30 bps", toolSwap, args{"from": "ETH", "to": "USDC", "amount": "0.5", "slippage_bps": "30"}},
		{"swap 100 USDC for DAI, max slippage 1%", toolSwap, args{"from": "USDC", "to": "DAI", "amount": "100", "slippage_bps": "100"}},
		{"swap 1,000.00 USDC for DAI with 50bps slippage", toolSwap, args{"from": "USDC", "to": "DAI", "amount": "1000.00", "slippage_bps": "50"}},
		{"buy DAI with 2 WETH at 0.5 percent slippage", toolSwap, args{"from": "WETH", "to": "DAI", "amount": "2", "slippage_bps": "50"}},
		{"sell 1 WETH for USDC", toolSwap, args{"from": "WETH", "to": "USDC", "amount": "1"}},

		// analytics
		{"price of ETH", toolPrice, args{"token": "ETH"}},
		{"what is the price of WETH in USD", toolPrice, args{"token": "WETH"}},
		{"portfolio", toolPortfolio, args{}},
		{"pools USDC WETH", toolPools, args{"token_a": "USDC", "token_b": "WETH"}},
		{"pool stats for USDC/DAI", toolPools, args{"token_a": "USDC", "token_b": "DAI"}},
		{"explain " + txHash, toolExplain, args{"hash": txHash}},
		{"my history", toolHistory, args{}},

		// standing orders: the condition goes to order_place, which checks it
		{"buy ETH with 300 USDC when ETH is below 2900", toolOrderPlace, args{"kind": "limit", "from": "USDC", "to": "ETH", "amount": "300", "trigger": "ETH <= 2900"}},
		{"place a limit order to buy WETH with 1,000.00 USDC if WETH drops to 2,750.5", toolOrderPlace, args{"kind": "limit", "from": "USDC", "to": "WETH", "amount": "1000.00", "trigger": "WETH <= 2750.5"}},
		{"sell 1 ETH for USDC when ETH is above 3500", toolOrderPlace, args{"kind": "limit", "from": "ETH", "to": "USDC", "amount": "1", "trigger": "ETH >= 3500"}},
		{"sell 1 ETH for USDC if ETH falls below 2500 USDC", toolOrderPlace, args{"kind": "stop", "from": "ETH", "to": "USDC", "amount": "1", "trigger": "ETH <= 2500"}},
		{"stop loss: sell 1 ETH for USDC at 2500", toolOrderPlace, args{"kind": "stop", "from": "ETH", "to": "USDC", "amount": "1", "trigger": "ETH <= 2500"}},
		{"Buy 100 USDC of WETH every day for a week", toolOrderPlace, args{"kind": "dca", "from": "USDC", "to": "WETH", "amount": "100", "trigger": "every 1d for 7"}},
		{"dca 50 DAI into ETH every 12 hours for 10 times", toolOrderPlace, args{"kind": "dca", "from": "DAI", "to": "ETH", "amount": "50", "trigger": "every 12h for 10"}},
		{"buy 10 USDC of ETH every hour for 2 days", toolOrderPlace, args{"kind": "dca", "from": "USDC", "to": "ETH", "amount": "10", "trigger": "every 1h for 48"}},
		{"my orders", toolOrderList, args{}},
		{"list standing orders", toolOrderList, args{}},
		{"cancel order #3", toolOrderCancel, args{"id": "3"}},

		// dex_quote
		{"quote 1 WETH in DAI", toolQuote, args{"from": "WETH", "to": "DAI", "amount": "1"}},
		{"price of 1 WETH in USDC", toolQuote, args{"from": "WETH", "to": "USDC", "amount": "1"}},
		{"how much DAI for 1 WETH", toolQuote, args{"from": "WETH", "to": "DAI", "amount": "1"}},
		{"How much DAI would I get for 1.5 WETH?", toolQuote, args{"from": "WETH", "to": "DAI", "amount": "1.5"}},
		{"what is the price of 2 ETH in USDC", toolQuote, args{"from": "ETH", "to": "USDC", "amount": "2"}},

		// token_approve
		{"approve 100 USDC for " + checksummed, toolApprove, args{"token": "USDC", "spender": checksummed, "amount": "100"}},
		{"approve unlimited USDC for " + lowercase, toolApprove, args{"token": "USDC", "spender": lowercase, "amount": "unlimited"}},
		{"approve " + lowercase + " to spend 50 DAI", toolApprove, args{"token": "DAI", "spender": lowercase, "amount": "50"}},

		// token_info
		{"info USDC", toolInfo, args{"token": "USDC"}},
		{"token info dai", toolInfo, args{"token": "DAI"}},
		{"what is token " + checksummed, toolInfo, args{"token": checksummed}},
		{"what is " + lowercase + "?", toolInfo, args{"token": lowercase}},
		{"tell me about WETH", toolInfo, args{"token": "WETH"}},

		// tx_status
		{"status " + txHash, toolStatus, args{"hash": txHash}},
		{"tx " + txHash, toolStatus, args{"hash": txHash}},
		{txHash, toolStatus, args{"hash": txHash}},
		{"check tx " + txHash, toolStatus, args{"hash": txHash}},
		{"What is the status of " + txHash + "?", toolStatus, args{"hash": txHash}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := parse(tt.in)
			if got.Tool != tt.tool {
				t.Fatalf("parse(%q) = tool %q text %q, want tool %q", tt.in, got.Tool, got.Text, tt.tool)
			}
			if !maps.Equal(got.Args, tt.args) {
				t.Fatalf("parse(%q) args = %v, want %v", tt.in, got.Args, tt.args)
			}
		})
	}
}

func TestParseText(t *testing.T) {
	tests := []struct {
		in   string
		want []string // substrings of the answer
	}{
		{"help", []string{"balance", "swap 0.5 ETH to USDC", "wallet_transfer", "dex_quote", "MANDATE_LLM_BASE_URL"}},
		{"What can you do?", []string{"send 10 USDC to", "approve 100 USDC"}},
		{"swap 0.5 ETH to USDC if the price is above 3,000", []string{"condition", "MANDATE_LLM_BASE_URL", "MANDATE_LLM_BACKENDS", "standing order"}},
		{"when ETH drops below 2000 buy ETH with 1000 USDC", []string{"condition"}},
		{"what is the meaning of life", []string{"did not understand", "help", "MANDATE_LLM_BASE_URL", "MANDATE_LLM_BACKENDS"}},
		{"send everything to " + lowercase, []string{"did not understand"}},
		{"send 10 USDC to " + lowercase + " and swap 1 ETH to DAI", []string{"did not understand"}},
		{"don't send 10 USDC to " + lowercase, []string{"did not understand"}},
		{"send 1,5 ETH to " + lowercase, []string{"I did nothing", "Did you mean 1.5?"}},
		{"send 10 USDC to 0x1234", []string{"0x1234", "40 hex digits"}},
		{"swap 1 ETH to USDC with 0.005% slippage", []string{"whole number of basis points"}},
		{"thanks!", []string{"help"}},
		{strings.Repeat("please ", 200) + "balance", []string{"did not understand"}},
		{"", []string{"help"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := parse(tt.in)
			if got.Tool != "" {
				t.Fatalf("parse(%q) = tool call %s %v, want text", tt.in, got.Tool, got.Args)
			}
			for _, w := range tt.want {
				if !strings.Contains(got.Text, w) {
					t.Errorf("parse(%q) = %q, want it to mention %q", tt.in, got.Text, w)
				}
			}
		})
	}
}

func TestCanonicalAmount(t *testing.T) {
	for in, want := range map[string]string{
		"1,000.5": "1000.5", "0.000001": "0.000001", ".5": "0.5", "007": "7",
		"10": "10", "1.50": "1.50", "1,234,567": "1234567", "0": "0",
	} {
		if got := canonicalAmount(in); got != want {
			t.Errorf("canonicalAmount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSlippageBps(t *testing.T) {
	tests := []struct {
		value, unit, want string
		ok                bool
	}{
		{"0.3", "%", "30", true},
		{"1", "percent", "100", true},
		{"0.05", "%", "5", true},
		{"30", "bps", "30", true},
		{"0.005", "%", "", false},
		{"2.5", "bps", "", false},
	}
	for _, tt := range tests {
		got, ok := slippageBps(tt.value, tt.unit)
		if got != tt.want || ok != tt.ok {
			t.Errorf("slippageBps(%q, %q) = %q, %v, want %q, %v", tt.value, tt.unit, got, ok, tt.want, tt.ok)
		}
	}
}

// Every example in Commands is a phrasing the parser accepts (with the
// ellipsis filled in), so help texts never teach something that fails.
func TestCommandExamplesParse(t *testing.T) {
	for _, c := range Commands() {
		ex := strings.ReplaceAll(c.Example, "0x… (a transaction hash)", txHash)
		ex = strings.ReplaceAll(ex, "0x…", lowercase)
		got := parse(ex)
		if got.Tool != c.Tool {
			t.Errorf("example %q parses to tool %q (text %q), want %q", ex, got.Tool, got.Text, c.Tool)
		}
	}
}
