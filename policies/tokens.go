package policies

// TokenDef is a token the policy file defines under tokens:, on its chain
// (as Header.Chain spells it).
type TokenDef struct {
	Chain string
	Token
}

// Tokens returns the tokens the policy file defines, in file order. A
// front end adds them to its token resolver, so a symbol the owner wrote in
// the policy means the same token to the tools as to the gate.
func (p *Policy) Tokens() []TokenDef {
	out := make([]TokenDef, 0, len(p.tokens))
	for _, t := range p.tokens {
		if t.native() {
			continue
		}
		out = append(out, TokenDef{Chain: t.chain, Token: Token{Symbol: t.symbol, Address: t.address, Decimals: t.decimals}})
	}
	return out
}
