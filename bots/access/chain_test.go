package access

import "testing"

func TestToolFor(t *testing.T) {
	both := func(string) bool { return true }
	solOnly := func(n string) bool { return len(n) > 4 && n[:4] == "sol_" }
	evmOnly := func(n string) bool { return len(n) > 4 && n[:4] != "sol_" }
	addr := "cWnEtc32RJLk5vHt3w1ZeNsDtoVQfs9jKWHuE5KVXJx"
	cases := []struct {
		has  func(string) bool
		tool string
		args map[string]any
		want string
	}{
		{both, "wallet_balance", map[string]any{}, "wallet_balance"},
		{solOnly, "wallet_balance", map[string]any{}, "sol_balance"},
		{both, "wallet_transfer", map[string]any{"token": "USDC", "to": addr}, "sol_transfer"},
		{both, "wallet_transfer", map[string]any{"token": "sol", "to": "0x2222222222222222222222222222222222222222"}, "sol_transfer"},
		{both, "dex_swap", map[string]any{"from": "ETH", "to": "USDC"}, "dex_swap"},
		{both, "dex_swap", map[string]any{"from": "SOL", "to": "USDC"}, "sol_swap"},
		{evmOnly, "wallet_transfer", map[string]any{"token": "SOL", "to": addr}, "wallet_transfer"},
		{both, "token_price", map[string]any{"token": "SOL"}, "token_price"},
		{both, "wallet_transfer", map[string]any{"to": "0OIl" + addr[4:]}, "wallet_transfer"},
	}
	for _, c := range cases {
		if got := ToolFor(c.has, c.tool, c.args); got != c.want {
			t.Errorf("ToolFor(%s, %v) = %s, want %s", c.tool, c.args, got, c.want)
		}
	}
}
