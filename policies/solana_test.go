package policies

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// solanaPolicyFile is what an owner writes for a Solana wallet: the same
// file as on EVM, with a cluster name, a mint and base58 addresses.
const (
	solUSDC    = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU"
	solFriend  = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin"
	solThief   = "3Nxwenay9Z8Lc9JBiywExpkmvSvzMG8ALGRJwzg2dm1H"
	solWallet  = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"
	solProgram = "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4"
)

const solanaPolicyFile = `version: 1
chains: [solana-local]
tokens:
  USDC: {chain: solana-local, mint: "` + solUSDC + `", decimals: 6}
recipients: {deny: ["` + solThief + `"]}
contracts: {allow: ["` + solProgram + `"]}
limits:
  per_tx: {SOL: "1.5", USDC: "100"}
  daily: {SOL: "2", USDC: "150"}
`

func TestSolanaTransfersDecided(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(solanaPolicyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path) // what `mandate policy check` calls
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Summary(), "limit per tx: 1.5 SOL") || !strings.Contains(p.Summary(), "limit per tx: 100 USDC") {
		t.Fatalf("summary:\n%s", p.Summary())
	}
	if tok, ok := p.Token("solana-local", "USDC"); !ok || tok.Address != solUSDC || tok.Decimals != 6 {
		t.Fatalf("Token(USDC) = %+v, %v", tok, ok)
	}
	eng, _ := newTestEngine(t, p, wednesday)
	ctx := context.Background()
	h := Header{Chain: "solana-local", From: solWallet}
	sol := Token{Symbol: "SOL", Decimals: 9}
	usdc := Token{Symbol: "USDC", Address: solUSDC, Decimals: 6}
	for i, in := range []Intent{
		Transfer{Header: h, To: solFriend, Token: sol, Amount: units("1.5", 9)},
		Transfer{Header: h, To: solFriend, Token: usdc, Amount: units("99.999999", 6)},
		ContractCall{Header: h, To: solProgram, Data: HexBytes{1, 2, 3}},
	} {
		if _, err := eng.Decide(ctx, in); err != nil {
			t.Fatalf("intent %d: %v", i, err)
		}
	}
	denied := []struct {
		name, rule string
		in         Intent
	}{
		{"SOL over per_tx", "limits.per_tx.SOL", Transfer{Header: h, To: solFriend, Token: sol, Amount: units("1.500000001", 9)}},
		{"SOL over daily", "limits.daily.SOL", Transfer{Header: h, To: solFriend, Token: sol, Amount: units("0.6", 9)}},
		{"USDC over per_tx", "limits.per_tx.USDC", Transfer{Header: h, To: solFriend, Token: usdc, Amount: units("100.000001", 6)}},
		{"denied recipient", "recipients.deny", Transfer{Header: h, To: solThief, Token: sol, Amount: big1()}},
		{"EVM recipient on Solana", "intent", Transfer{Header: h, To: "0x1111111111111111111111111111111111111111", Token: sol, Amount: big1()}},
		{"not base58", "intent", Transfer{Header: h, To: "0OIl" + solFriend[4:], Token: sol, Amount: big1()}},
		{"program not allowed", "contracts.allow", ContractCall{Header: h, To: solFriend, Data: HexBytes{1}}},
		{"mint case changed", "tokens", Transfer{Header: h, To: solFriend, Token: Token{Address: strings.ToLower(solUSDC), Decimals: 6}, Amount: big1()}},
	}
	for _, c := range denied {
		_, err := eng.Decide(ctx, c.in)
		if d, rules := outcome(t, err); d != DecisionDeny || !slices.Contains(rules, c.rule) {
			t.Errorf("%s: got %s %v (%v)", c.name, d, rules, err)
		}
	}
}

func TestSolanaPolicyRefused(t *testing.T) {
	cases := []struct{ name, file, want string }{
		{"mint on an EVM chain", "version: 1\nchains: [1]\ntokens:\n  USDC: {chain: 1, mint: \"" + solUSDC + "\", decimals: 6}\n",
			"tokens.USDC: mint on line 4 is for Solana tokens"},
		{"bad base58 mint", "version: 1\nchains: [solana-local]\ntokens:\n  USDC: {chain: solana-local, mint: \"0OIl" + solUSDC[4:] + "\", decimals: 6}\n",
			"tokens.USDC.mint: "},
		{"bad base58 recipient", "version: 1\nchains: [solana-local]\nrecipients: {deny: [\"" + solFriend + "0\"]}\n",
			"recipients.deny: "},
		{"short base58", "version: 1\nchains: [solana-local]\nrecipients: {allow: [\"" + solFriend[:20] + "\"]}\n",
			"nor a Solana address"},
		{"SOL limit with no Solana chain", "version: 1\nchains: [1]\nlimits: {per_tx: {SOL: \"1\"}}\n",
			"is the native coin of no chain in chains"},
		{"SOL beyond 9 decimals", "version: 1\nchains: [solana-devnet]\nlimits: {per_tx: {SOL: \"0.0000000001\"}}\n",
			"limits.per_tx.SOL"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.file))
		pe, ok := errors.AsType[*ParseError](err)
		if !ok || !strings.Contains(err.Error(), c.want) || pe.Line == 0 {
			t.Errorf("%s: got %v, want a line-numbered error containing %q", c.name, err, c.want)
		}
	}
}
