package solana

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	sol "github.com/gagliardetto/solana-go"
	ata "github.com/gagliardetto/solana-go/programs/associated-token-account"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"
)

// ComputeBudget is the priority fee a builder asks for; a zero field
// leaves its instruction out (the runtime's default limit, no priority).
type ComputeBudget struct {
	UnitLimit uint32 // compute units
	UnitPrice uint64 // micro-lamports per compute unit
}

// instructions returns the ComputeBudget instructions, first in the
// transaction as the runtime reads them.
func (b ComputeBudget) instructions() []sol.Instruction {
	var out []sol.Instruction
	if b.UnitLimit > 0 {
		out = append(out, computebudget.NewSetComputeUnitLimitInstruction(b.UnitLimit).Build())
	}
	if b.UnitPrice > 0 {
		out = append(out, computebudget.NewSetComputeUnitPriceInstruction(b.UnitPrice).Build())
	}
	return out
}

// BuildSOLTransfer returns an unsigned transaction moving lamports from
// from to to, from paying the fees. The signer signs it only after Decode
// reads it back into the intent the policy approved.
func BuildSOLTransfer(from, to sol.PublicKey, lamports *big.Int, fees ComputeBudget, blockhash sol.Hash) (*sol.Transaction, error) {
	n, err := u64(lamports, "amount")
	if err != nil {
		return nil, err
	}
	ixs := append(fees.instructions(), system.NewTransferInstruction(n, from, to).Build())
	return newTx(ixs, from, blockhash)
}

// BuildTokenTransfer returns an unsigned TransferChecked of amount base
// units of mint from from's associated token account to to's, creating
// to's account first (CreateIdempotent, from paying the rent) when look
// does not find it. The mint's program, decimals and extensions come from
// look: a mint with a transfer fee or hook is ErrRiskyMint.
func BuildTokenTransfer(ctx context.Context, look Lookup, from, to, mint sol.PublicKey, amount *big.Int, fees ComputeBudget, blockhash sol.Hash) (*sol.Transaction, error) {
	n, err := u64(amount, "amount")
	if err != nil {
		return nil, err
	}
	if look == nil {
		return nil, errors.New("solana: a token transfer needs a Lookup to read its mint; give one")
	}
	m, err := look.Mint(ctx, mint)
	if err != nil {
		return nil, fmt.Errorf("solana: mint %s: %w", mint, err)
	}
	if !m.Program.Equals(sol.TokenProgramID) && !m.Program.Equals(sol.Token2022ProgramID) {
		return nil, fmt.Errorf("%w: %s belongs to program %s", ErrNotMint, mint, m.Program)
	}
	if err := checkMint(m); err != nil {
		return nil, err
	}
	src, err := ataAddress(from, mint, m.Program)
	if err != nil {
		return nil, fmt.Errorf("solana: the sender's token account: %w", err)
	}
	dst, err := ataAddress(to, mint, m.Program)
	if err != nil {
		return nil, fmt.Errorf("solana: the recipient's token account: %w", err)
	}
	ixs := fees.instructions()
	switch _, err := look.TokenAccount(ctx, dst); {
	case errors.Is(err, ErrAccountNotFound):
		ixs = append(ixs, ata.NewCreateIdempotentInstructionWithTokenProgram(from, to, mint, m.Program).Build())
	case err != nil:
		return nil, fmt.Errorf("solana: the recipient's token account %s: %w", dst, err)
	}
	tc, err := onProgram(token.NewTransferCheckedInstruction(n, m.Decimals, src, mint, dst, from, nil).Build(), m.Program)
	if err != nil {
		return nil, err
	}
	return newTx(append(ixs, tc), from, blockhash)
}

// onProgram runs a Token instruction on another token program: Token-2022
// reads TransferChecked exactly as Token does.
func onProgram(in sol.Instruction, program sol.PublicKey) (sol.Instruction, error) {
	if in.ProgramID().Equals(program) {
		return in, nil
	}
	data, err := in.Data()
	if err != nil {
		return nil, fmt.Errorf("solana: encode instruction: %w", err)
	}
	return sol.NewInstruction(program, in.Accounts(), data), nil
}

func newTx(ixs []sol.Instruction, payer sol.PublicKey, blockhash sol.Hash) (*sol.Transaction, error) {
	tx, err := sol.NewTransaction(ixs, blockhash, sol.TransactionPayer(payer))
	if err != nil {
		return nil, fmt.Errorf("solana: build transaction: %w", err)
	}
	return tx, nil
}
