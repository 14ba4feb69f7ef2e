// Package tokenlist reads token lists in the Uniswap Token Lists JSON format
// and resolves the symbols people type ("USDC") to token addresses. A symbol
// that names two tokens on one chain is an error that lists both: a tool asks
// which address was meant rather than guess.
package tokenlist

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// Token is one entry of a list.
type Token struct {
	ChainID  int64  `json:"chainId"`
	Address  string `json:"address"`
	Symbol   string `json:"symbol"`
	Name     string `json:"name"`
	Decimals uint8  `json:"decimals"`
	LogoURI  string `json:"logoURI,omitempty"`
}

// List is a token list.
type List struct {
	Name   string  `json:"name"`
	Tokens []Token `json:"tokens"`
}

// ErrUnknownSymbol is returned by Lookup for a symbol no list entry has.
var ErrUnknownSymbol = errors.New("unknown token symbol")

// AmbiguousError says a symbol names several tokens on one chain.
type AmbiguousError struct {
	Symbol     string
	Candidates []Token
}

func (e *AmbiguousError) Error() string {
	addrs := make([]string, len(e.Candidates))
	for i, c := range e.Candidates {
		addrs[i] = fmt.Sprintf("%s (%s)", c.Address, c.Name)
	}
	return fmt.Sprintf("symbol %s names %d tokens on this chain: %s; give the token's address instead", e.Symbol, len(e.Candidates), strings.Join(addrs, ", "))
}

// maxListSize bounds a fetched list: real lists are a few MB at most.
const maxListSize = 16 << 20

// Parse decodes a token list and checks every entry: a valid address (a
// mixed-case one must carry a correct EIP-55 checksum), a symbol, and
// decimals no larger than 77 (the most a uint256 can hold).
func Parse(data []byte) (*List, error) {
	var l List
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("token list is not valid JSON in the Token Lists format: %w", err)
	}
	for i, t := range l.Tokens {
		addr, err := ParseAddress(t.Address)
		if err != nil {
			return nil, fmt.Errorf("token list entry %d (%s): %w", i, t.Symbol, err)
		}
		if strings.TrimSpace(t.Symbol) == "" {
			return nil, fmt.Errorf("token list entry %d (%s) has no symbol", i, t.Address)
		}
		if t.Decimals > 77 {
			return nil, fmt.Errorf("token list entry %d (%s) has %d decimals; at most 77 fit a uint256", i, t.Symbol, t.Decimals)
		}
		l.Tokens[i].Address = addr.Hex()
	}
	return &l, nil
}

// ParseAddress parses a 0x-prefixed EVM address. All-lower and all-upper
// case hex are accepted; mixed case must be the EIP-55 checksum, since a
// wrong one is usually a typo in one character.
func ParseAddress(s string) (common.Address, error) {
	if !common.IsHexAddress(s) || !(strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X")) {
		return common.Address{}, fmt.Errorf("%q is not an address: want 0x followed by 40 hex digits", s)
	}
	a := common.HexToAddress(s)
	body := s[2:]
	if body != strings.ToLower(body) && body != strings.ToUpper(body) && a.Hex() != "0x"+body {
		return common.Address{}, fmt.Errorf("address %s has a wrong checksum (EIP-55); check it for a typo, or write it in lower case", s)
	}
	return a, nil
}

// Load reads a list from a file path or an http(s) URL.
func Load(ctx context.Context, src string) (*List, error) {
	var data []byte
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, fmt.Errorf("token list URL %q: %w", src, err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetch token list: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetch token list %s: HTTP %s", src, resp.Status)
		}
		data, err = io.ReadAll(io.LimitReader(resp.Body, maxListSize+1))
		if err != nil {
			return nil, fmt.Errorf("fetch token list: %w", err)
		}
		if len(data) > maxListSize {
			return nil, fmt.Errorf("token list %s is larger than %d MiB", src, maxListSize>>20)
		}
	} else {
		var err error
		if data, err = os.ReadFile(src); err != nil {
			return nil, fmt.Errorf("read token list: %w", err)
		}
	}
	return Parse(data)
}

//go:embed default.json
var defaultJSON []byte

// Default returns the built-in list of well-known tokens on the main chains
// (Ethereum, Optimism, Base, Arbitrum). It is small on purpose: a symbol it
// lacks is an error that asks for an address, never a guess.
func Default() *List {
	l, err := Parse(defaultJSON)
	if err != nil {
		panic("tokenlist: built-in list: " + err.Error())
	}
	return l
}

// Merge returns a list with the entries of l and then of others, without
// duplicates of the same chain and address.
func Merge(lists ...*List) *List {
	out := &List{Name: "merged"}
	seen := map[string]bool{}
	for _, l := range lists {
		if l == nil {
			continue
		}
		for _, t := range l.Tokens {
			k := fmt.Sprintf("%d:%s", t.ChainID, strings.ToLower(t.Address))
			if !seen[k] {
				seen[k] = true
				out.Tokens = append(out.Tokens, t)
			}
		}
	}
	return out
}

// Lookup resolves a symbol on a chain, case-insensitively.
func (l *List) Lookup(chainID int64, symbol string) (Token, error) {
	var found []Token
	for _, t := range l.Tokens {
		if t.ChainID == chainID && strings.EqualFold(t.Symbol, symbol) {
			found = append(found, t)
		}
	}
	switch len(found) {
	case 0:
		return Token{}, fmt.Errorf("%w %q on chain %d; use the token's address, or add it to the token list", ErrUnknownSymbol, symbol, chainID)
	case 1:
		return found[0], nil
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Address < found[j].Address })
	return Token{}, &AmbiguousError{Symbol: symbol, Candidates: found}
}

// ByAddress finds the entry for an address on a chain.
func (l *List) ByAddress(chainID int64, addr string) (Token, bool) {
	for _, t := range l.Tokens {
		if t.ChainID == chainID && strings.EqualFold(t.Address, addr) {
			return t, true
		}
	}
	return Token{}, false
}
