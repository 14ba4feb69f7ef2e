package solana

import (
	"errors"
	"fmt"
	"math/big"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/policies"
)

// ataAddress derives the associated token account of owner for mint under
// a token program (Token or Token-2022).
func ataAddress(owner, mint, program sol.PublicKey) (sol.PublicKey, error) {
	a, _, err := sol.FindProgramAddress([][]byte{owner[:], program[:], mint[:]}, sol.SPLAssociatedTokenAccountProgramID)
	return a, err
}

// Token account sizes: the Token program's, and Token-2022's with the
// ImmutableOwner extension every associated account carries.
const (
	tokenAccountSize     = 165
	token2022AccountSize = 170
)

// rentExempt is the lamports an account of size bytes must hold, by the
// rent parameters every cluster uses (3480 lamports per byte-year, two
// years, 128 bytes of account overhead).
func rentExempt(size uint64) *big.Int {
	return new(big.Int).SetUint64((128 + size) * 3480 * 2)
}

// ataRent is what creating an associated token account under program costs.
func ataRent(program sol.PublicKey) *big.Int {
	if program.Equals(sol.Token2022ProgramID) {
		return rentExempt(token2022AccountSize)
	}
	return rentExempt(tokenAccountSize)
}

// ata judges an Associated Token Account instruction. Creating an account
// costs its rent, paid by the payer into an account its owner controls, so
// it is a SOL transfer to that owner; an account that already exists
// (CreateIdempotent) costs nothing.
func (d *decoder) ata(x ix) (policies.Intent, error) {
	if len(x.data) > 1 || (len(x.data) == 1 && x.data[0] > 1) {
		return d.call(x), nil // RecoverNested, or something newer
	}
	if len(x.accounts) < 6 {
		return nil, fmt.Errorf("%w: creating an associated token account needs 6 accounts", ErrMalformed)
	}
	payer, addr, owner, program := x.accounts[0].PublicKey, x.accounts[1].PublicKey, x.accounts[2].PublicKey, x.accounts[5].PublicKey
	if got, ok := d.atas[addr]; !ok || !got.Equals(owner) {
		return nil, fmt.Errorf("%w: %s is not the associated token account of %s for its mint", ErrMalformed, addr, owner)
	}
	if !program.Equals(sol.TokenProgramID) && !program.Equals(sol.Token2022ProgramID) {
		return d.call(x), nil
	}
	if d.look != nil {
		_, err := d.look.TokenAccount(d.ctx, addr)
		switch {
		case err == nil:
			return nil, nil
		case !errors.Is(err, ErrAccountNotFound):
			return nil, fmt.Errorf("solana: associated token account %s: %w", addr, err)
		}
	}
	return policies.Transfer{Header: d.header(payer), To: owner.String(), Token: SOL, Amount: ataRent(program)}, nil
}
