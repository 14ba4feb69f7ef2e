package access

import "strings"

// solanaTools are the Solana tools that do what an EVM tool does.
var solanaTools = map[string]string{
	"wallet_balance":  "sol_balance",
	"wallet_address":  "sol_address",
	"wallet_transfer": "sol_transfer",
	"dex_quote":       "sol_quote",
	"dex_swap":        "sol_swap",
	"token_info":      "sol_token_info",
}

// ToolFor picks the tool a command calls: the Solana counterpart of tool
// when the registry has it and either the arguments say Solana (the coin
// SOL, a base58 address or mint) or the registry has no EVM tool of that
// name (a Solana-only wallet); otherwise tool.
func ToolFor(has func(name string) bool, tool string, args map[string]any) string {
	sol, ok := solanaTools[tool]
	if !ok || !has(sol) {
		return tool
	}
	if !has(tool) || saysSolana(args) {
		return sol
	}
	return tool
}

func saysSolana(args map[string]any) bool {
	for _, k := range []string{"token", "from", "to"} {
		v, _ := args[k].(string)
		if strings.EqualFold(v, "SOL") || isBase58Address(v) {
			return true
		}
	}
	return false
}

// isBase58Address reports whether s has the shape of a Solana address (32
// to 44 characters of the base58 alphabet); whether it is a valid key is
// the tool's to say.
func isBase58Address(s string) bool {
	if len(s) < 32 || len(s) > 44 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", rune(s[i])) {
			return false
		}
	}
	return true
}
