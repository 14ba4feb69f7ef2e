package wallet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/policies"
)

// Resolver turns what a person or a model typed ("USDC", "eth", an address)
// into a token whose decimals were read on chain. The symbol decides only
// which address to look at; the chain decides what the token is.
type Resolver struct {
	client *evm.Client
	list   *tokenlist.List
	chain  int64
}

// NewResolver resolves symbols through list on the client's chain.
func NewResolver(c *evm.Client, list *tokenlist.List) *Resolver {
	if list == nil {
		list = &tokenlist.List{}
	}
	return &Resolver{client: c, list: list, chain: c.ChainID().Int64()}
}

// List is the token list symbols resolve through.
func (r *Resolver) List() *tokenlist.List { return r.list }

// Chain is the chain id tokens are resolved on.
func (r *Resolver) Chain() int64 { return r.chain }

// NativeSymbol is the symbol of an EVM chain's native coin.
const NativeSymbol = "ETH"

// Native is the chain's native coin as a token.
var Native = policies.Token{Symbol: NativeSymbol, Decimals: 18}

// Resolve returns the token s names. A symbol must be in the token list
// (exactly one entry on this chain); an address must hold an ERC-20 that
// answers decimals(). A listed token whose on-chain decimals differ from the
// list is refused: one of them is wrong, and amounts would be off by powers
// of ten.
func (r *Resolver) Resolve(ctx context.Context, s string) (policies.Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return policies.Token{}, errors.New("token is empty; give a symbol such as USDC, ETH, or a token address")
	}
	if strings.EqualFold(s, NativeSymbol) {
		return Native, nil
	}
	var addr common.Address
	var listed *tokenlist.Token
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		a, err := tokenlist.ParseAddress(s)
		if err != nil {
			return policies.Token{}, fmt.Errorf("token %w", err)
		}
		addr = a
		if t, ok := r.list.ByAddress(r.chain, a.Hex()); ok {
			listed = &t
		}
	} else {
		t, err := r.list.Lookup(r.chain, s)
		if err != nil {
			return policies.Token{}, err
		}
		addr, listed = common.HexToAddress(t.Address), &t
	}
	info, err := r.client.ERC20Info(ctx, addr)
	if err != nil {
		return policies.Token{}, err
	}
	if listed != nil {
		if listed.Decimals != info.Decimals {
			return policies.Token{}, fmt.Errorf("token %s at %s reports %d decimals on chain but the token list says %d; refusing to guess", listed.Symbol, addr.Hex(), info.Decimals, listed.Decimals)
		}
		info.Symbol = listed.Symbol
	}
	return info, nil
}

// chainName is the decimal chain id, the form intents carry.
func (r *Resolver) chainName() string { return strconv.FormatInt(r.chain, 10) }
