package solana

import (
	"errors"
	"fmt"
	"math"
	"math/big"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/token"

	"github.com/mandatehq/mandate/policies"
)

// lastTokenInstruction is the Token program's last instruction
// (InitializeMint2); Token-2022 numbers its own from the next one, and the
// decoder leaves those to contracts.allow.
const lastTokenInstruction = token.Instruction_InitializeMint2

// tokenAccountsNeeded is how many accounts each judged instruction reads.
var tokenAccountsNeeded = map[uint8]int{
	token.Instruction_Transfer: 3, token.Instruction_TransferChecked: 4,
	token.Instruction_Approve: 3, token.Instruction_ApproveChecked: 4,
	token.Instruction_CloseAccount: 3, token.Instruction_SetAuthority: 2,
}

// token judges a Token or Token-2022 instruction. Both programs lay out the
// instructions below the same way, so one decoder reads both.
func (d *decoder) token(x ix) (policies.Intent, error) {
	if len(x.data) == 0 || x.data[0] > lastTokenInstruction {
		return d.call(x), nil
	}
	if len(x.accounts) < tokenAccountsNeeded[x.data[0]] {
		return nil, fmt.Errorf("%w: %s has %d accounts", ErrMalformed, token.InstructionIDToName(x.data[0]), len(x.accounts))
	}
	inst, err := token.DecodeInstruction(x.accounts, x.data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch v := inst.Impl.(type) {
	case *token.Transfer:
		return d.tokenTransfer(x, v.GetSourceAccount().PublicKey, nil, v.GetDestinationAccount().PublicKey, v.GetOwnerAccount().PublicKey, v.Amount, nil)
	case *token.TransferChecked:
		mint := v.GetMintAccount().PublicKey
		return d.tokenTransfer(x, v.GetSourceAccount().PublicKey, &mint, v.GetDestinationAccount().PublicKey, v.GetOwnerAccount().PublicKey, v.Amount, v.Decimals)
	case *token.Approve:
		return d.approve(x, v.GetSourceAccount().PublicKey, nil, v.GetDelegateAccount().PublicKey, v.GetOwnerAccount().PublicKey, v.Amount, nil)
	case *token.ApproveChecked:
		mint := v.GetMintAccount().PublicKey
		return d.approve(x, v.GetSourceAccount().PublicKey, &mint, v.GetDelegateAccount().PublicKey, v.GetOwnerAccount().PublicKey, v.Amount, v.Decimals)
	case *token.CloseAccount:
		// Closing pays the account's lamports to destination: harmless
		// when that is the owner, a transfer of control elsewhere if not.
		if v.GetDestinationAccount().PublicKey.Equals(v.GetOwnerAccount().PublicKey) {
			return nil, nil
		}
	case *token.Revoke, *token.SyncNative:
		return nil, nil
	}
	return d.call(x), nil
}

// mint resolves the mint of a token instruction: the one it names, or the
// source account's, and refuses one whose extensions change a transfer.
func (d *decoder) mint(x ix, src sol.PublicKey, named *sol.PublicKey, decimals *uint8) (Mint, error) {
	if d.look == nil {
		return Mint{}, errors.New("solana: a token instruction needs a Lookup to learn its mint; give Decode one")
	}
	var addr sol.PublicKey
	if named != nil {
		addr = *named
	} else {
		ta, err := d.look.TokenAccount(d.ctx, src)
		if err != nil {
			return Mint{}, fmt.Errorf("solana: source token account %s: %w", src, err)
		}
		addr = ta.Mint
	}
	m, err := d.look.Mint(d.ctx, addr)
	if err != nil {
		return Mint{}, fmt.Errorf("solana: mint %s: %w", addr, err)
	}
	if !m.Program.Equals(x.program) {
		return Mint{}, fmt.Errorf("%w: mint %s belongs to program %s, the instruction to %s", ErrMalformed, addr, m.Program, x.program)
	}
	if decimals != nil && *decimals != m.Decimals {
		return Mint{}, fmt.Errorf("%w: the instruction says %d decimals, mint %s has %d", ErrMalformed, *decimals, addr, m.Decimals)
	}
	return m, checkMint(m)
}

func tokenOf(m Mint) policies.Token {
	return policies.Token{Address: m.Address.String(), Decimals: m.Decimals}
}

// tokenTransfer is a transfer to whoever owns the destination account.
func (d *decoder) tokenTransfer(x ix, src sol.PublicKey, mintAddr *sol.PublicKey, dst, owner sol.PublicKey, amount *uint64, decimals *uint8) (policies.Intent, error) {
	m, err := d.mint(x, src, mintAddr, decimals)
	if err != nil {
		return nil, err
	}
	to, ok := d.atas[dst]
	if !ok {
		ta, err := d.look.TokenAccount(d.ctx, dst)
		if err != nil {
			return nil, fmt.Errorf("solana: destination token account %s (who receives cannot be told): %w", dst, err)
		}
		if !ta.Mint.Equals(m.Address) {
			return nil, fmt.Errorf("%w: destination %s holds mint %s, not %s", ErrMalformed, dst, ta.Mint, m.Address)
		}
		to = ta.Owner
	}
	if amount == nil {
		return nil, fmt.Errorf("%w: no amount", ErrMalformed)
	}
	return policies.Transfer{Header: d.header(owner), To: to.String(), Token: tokenOf(m), Amount: new(big.Int).SetUint64(*amount)}, nil
}

// approve is an allowance: the policy charges it as a spend of its amount.
func (d *decoder) approve(x ix, src sol.PublicKey, mintAddr *sol.PublicKey, delegate, owner sol.PublicKey, amount *uint64, decimals *uint8) (policies.Intent, error) {
	m, err := d.mint(x, src, mintAddr, decimals)
	if err != nil {
		return nil, err
	}
	if amount == nil {
		return nil, fmt.Errorf("%w: no amount", ErrMalformed)
	}
	return policies.Approve{
		Header: d.header(owner), Method: policies.MethodApprove, Token: tokenOf(m),
		Spender: delegate.String(), Amount: new(big.Int).SetUint64(*amount),
		Unlimited: *amount == math.MaxUint64,
	}, nil
}
