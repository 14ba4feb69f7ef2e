package soltools

import (
	"context"
	"fmt"
	"math/big"
	"strings"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// TokenInfo is sol_token_info's answer, read from the mint account. A
// symbol is the policy's (or the configured mints') name for the mint:
// Solana mints carry none of their own here.
type TokenInfo struct {
	Mint            string   `json:"mint"`
	Symbol          string   `json:"symbol,omitempty"`
	Program         string   `json:"program"` // "token" or "token-2022"
	Decimals        uint8    `json:"decimals"`
	Supply          string   `json:"supply"` // token units, exact
	MintAuthority   string   `json:"mint_authority,omitempty"`
	FreezeAuthority string   `json:"freeze_authority,omitempty"`
	Extensions      []uint16 `json:"extensions,omitempty"`
	Transferable    bool     `json:"transferable"` // the wallet will transfer it
	Refusal         string   `json:"refusal,omitempty"`
}

func (k *kit) info(ctx context.Context, a struct {
	Token string `json:"token"`
}) (tools.Result, error) {
	if err := k.ready(); err != nil {
		return tools.Result{}, err
	}
	const name = "sol_token_info"
	if err := tools.Require(name, "token", a.Token); err != nil {
		return tools.Result{}, err
	}
	t, err := k.resolve(ctx, name, a.Token)
	if err != nil {
		return tools.Result{}, err
	}
	if t.Native() {
		return tools.Result{
			Text: "SOL is Solana's native coin: 9 decimals, no mint.",
			Data: TokenInfo{Symbol: "SOL", Decimals: 9, Program: "native", Transferable: true},
		}, nil
	}
	m := t.mint
	info := TokenInfo{Mint: m.Address.String(), Symbol: t.Symbol, Program: "token", Decimals: m.Decimals,
		Supply: policies.DecimalUnits(new(big.Int).SetUint64(m.Supply), m.Decimals), Transferable: true,
		MintAuthority: keyString(m.MintAuthority), FreezeAuthority: keyString(m.FreezeAuthority)}
	if m.Program.Equals(sol.Token2022ProgramID) {
		info.Program = "token-2022"
	}
	for _, e := range m.Extensions {
		info.Extensions = append(info.Extensions, uint16(e))
	}
	if err := m.Risk(); err != nil {
		info.Transferable, info.Refusal = false, err.Error()
	}
	var notes []string
	if info.FreezeAuthority != "" {
		notes = append(notes, "its freeze authority "+info.FreezeAuthority+" can freeze holders' accounts")
	}
	if info.Refusal != "" {
		notes = append(notes, "the wallet refuses to transfer it: "+info.Refusal)
	}
	label := info.Mint
	if info.Symbol != "" {
		label = info.Symbol + " (" + info.Mint + ")"
	}
	text := fmt.Sprintf("Token %s: %s program, %d decimals, supply %s.", label, info.Program, info.Decimals, info.Supply)
	if len(notes) > 0 {
		text += " Note: " + strings.Join(notes, "; ") + "."
	}
	return tools.Result{Text: text, Data: info}, nil
}

func keyString(k *sol.PublicKey) string {
	if k == nil {
		return ""
	}
	return k.String()
}
