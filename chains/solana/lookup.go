package solana

import (
	"context"
	"errors"
	"fmt"

	sol "github.com/gagliardetto/solana-go"
)

// Lookup answers what a transaction's bytes do not say: whose a token
// account is, and a mint's decimals, program and extensions. The decoder
// and the builders take it so they work the same over RPC, over a recorded
// state or over a test's accounts.
type Lookup interface {
	// TokenAccount returns the SPL token account at addr, or an error
	// wrapping ErrAccountNotFound when there is none.
	TokenAccount(ctx context.Context, addr sol.PublicKey) (TokenAccount, error)
	// Mint returns the mint at addr, or an error wrapping
	// ErrAccountNotFound (or ErrNotMint when the account is something else).
	Mint(ctx context.Context, addr sol.PublicKey) (Mint, error)
}

// Errors of a Lookup, for callers that branch on them.
var (
	ErrAccountNotFound = errors.New("solana: account not found")
	ErrNotMint         = errors.New("solana: the account is not a token mint")
)

// TokenAccount is an SPL token account: who owns it and what it holds.
type TokenAccount struct {
	Address sol.PublicKey
	Mint    sol.PublicKey
	Owner   sol.PublicKey
	Program sol.PublicKey // the Token or Token-2022 program
}

// Mint is a token mint as the policy needs it.
type Mint struct {
	Address  sol.PublicKey
	Program  sol.PublicKey // the Token or Token-2022 program
	Decimals uint8
	// Supply is the amount in circulation, in base units.
	Supply uint64
	// MintAuthority can create more; FreezeAuthority can freeze holders'
	// accounts. Nil when the mint has none.
	MintAuthority, FreezeAuthority *sol.PublicKey
	// Extensions are the Token-2022 extension types the mint carries
	// (empty for the Token program).
	Extensions []Extension
}

// Extension is a Token-2022 extension type, as numbered on chain.
type Extension uint16

// The extensions that change what a transfer does. A transfer fee takes
// part of the amount on the way, so the recipient gets less than the
// intent says; a transfer hook runs a program the mint's authority chose on
// every transfer, so the wallet would run code the policy never saw.
const (
	ExtTransferFeeConfig Extension = 1
	ExtNonTransferable   Extension = 9
	ExtPermanentDelegate Extension = 12
	ExtTransferHook      Extension = 14
)

// ErrRiskyMint is the decoder's and builders' error for a Token-2022 mint
// whose extensions change what a transfer does (a transfer fee, a transfer
// hook, a permanent delegate): such transfers are refused, not guessed at.
var ErrRiskyMint = errors.New("solana: the mint has a Token-2022 extension that changes what a transfer does")

// riskyExtensions are the extensions ErrRiskyMint refuses, with why.
var riskyExtensions = map[Extension]string{
	ExtTransferFeeConfig: "a transfer fee (the recipient would get less than the amount)",
	ExtTransferHook:      "a transfer hook (each transfer runs a program the mint chose)",
	ExtPermanentDelegate: "a permanent delegate (someone else can move the tokens at any time)",
}

// checkMint refuses a mint whose extensions make a transfer do something
// other than what the intent says.
func checkMint(m Mint) error {
	for _, e := range m.Extensions {
		if why, bad := riskyExtensions[e]; bad {
			return fmt.Errorf("%w: mint %s has %s; transfers of it are not supported", ErrRiskyMint, m.Address, why)
		}
	}
	return nil
}

// StaticLookup is a Lookup over accounts known in advance: a recorded
// state, a transaction built offline, a test's fixture. The zero value
// knows nothing.
type StaticLookup struct {
	Accounts map[sol.PublicKey]TokenAccount
	Mints    map[sol.PublicKey]Mint
}

func (s StaticLookup) TokenAccount(_ context.Context, addr sol.PublicKey) (TokenAccount, error) {
	if a, ok := s.Accounts[addr]; ok {
		return a, nil
	}
	return TokenAccount{}, fmt.Errorf("%w: token account %s", ErrAccountNotFound, addr)
}

func (s StaticLookup) Mint(_ context.Context, addr sol.PublicKey) (Mint, error) {
	if m, ok := s.Mints[addr]; ok {
		return m, nil
	}
	return Mint{}, fmt.Errorf("%w: mint %s", ErrAccountNotFound, addr)
}

// Risk returns ErrRiskyMint (wrapped, saying why) when transfers of m are
// refused because an extension changes what they do, and nil otherwise.
func (m Mint) Risk() error { return checkMint(m) }
