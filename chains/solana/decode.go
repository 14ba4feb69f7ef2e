package solana

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/system"

	"github.com/mandatehq/mandate/policies"
)

// Decoded is what a transaction does, as the policy judges it: one intent
// per instruction that moves value or control, and the fees it pays.
type Decoded struct {
	Intents []policies.Intent
	Fees    Fees
}

// SOL is the native coin as intents carry it.
var SOL = policies.Token{Symbol: "SOL", Decimals: 9}

// ErrMalformed is the error of a transaction whose instructions do not
// decode; such a transaction is refused, never half understood.
var ErrMalformed = errors.New("solana: the transaction does not decode")

// Decode reads every instruction of tx into policy intents on chain (a
// cluster name such as "solana-local"), resolving what the bytes do not
// say through look:
//
//   - System Transfer, TransferWithSeed, CreateAccount(WithSeed): the
//     lamports leaving, as SOL transfers to the receiving account;
//   - Token and Token-2022 Transfer and TransferChecked: token transfers
//     to the destination account's owner (the mint's decimals and
//     extensions from look; a transfer fee or hook is ErrRiskyMint);
//   - Approve and ApproveChecked: approvals, which the policy charges as
//     spends; a u64-max approval is unlimited;
//   - SetAuthority, and CloseAccount sending the rent elsewhere than the
//     owner: calls to the token program, denied unless it is allowed;
//   - CreateAssociatedTokenAccount (and Idempotent): the rent it costs, as
//     a SOL transfer to the new account's owner, who can reclaim it;
//   - ComputeBudget: Fees, no intent; Revoke, SyncNative and memos move
//     nothing and give no intent;
//   - anything else: a call to its program, denied unless the program is
//     in contracts.allow.
//
// Transactions with unresolved address lookup tables are refused: which
// accounts they touch is not in their bytes.
func Decode(ctx context.Context, tx *sol.Transaction, chain string, look Lookup) (*Decoded, error) {
	if tx == nil {
		return nil, fmt.Errorf("%w: no transaction", ErrMalformed)
	}
	m := &tx.Message
	if m.IsVersioned() && m.NumLookups() > 0 && !m.IsResolved() {
		return nil, fmt.Errorf("%w: it uses address lookup tables; resolve them (Message.SetAddressTables) before decoding", ErrMalformed)
	}
	d := &decoder{ctx: ctx, chain: chain, look: look, atas: map[sol.PublicKey]sol.PublicKey{}}
	ixs, err := d.resolve(m)
	if err != nil {
		return nil, err
	}
	out := &Decoded{Fees: Fees{Signatures: int(m.Header.NumRequiredSignatures)}}
	work := 0
	for i, ix := range ixs {
		if ix.program.Equals(sol.ComputeBudget) {
			if err := out.Fees.computeBudget(ix.data); err != nil {
				return nil, fmt.Errorf("instruction %d: %w", i, err)
			}
			continue
		}
		work++
		in, err := d.instruction(ix)
		if err != nil {
			return nil, fmt.Errorf("instruction %d (program %s): %w", i, ix.program, err)
		}
		if in != nil {
			out.Intents = append(out.Intents, in)
		}
	}
	out.Fees.defaultLimit(work)
	return out, nil
}

// ix is one instruction with its program and accounts resolved.
type ix struct {
	program  sol.PublicKey
	accounts []*sol.AccountMeta
	data     []byte
}

type decoder struct {
	ctx   context.Context
	chain string
	look  Lookup
	// atas maps an associated token account created in this transaction to
	// its owner, so a transfer into it is judged by who receives, before
	// the account exists on chain.
	atas map[sol.PublicKey]sol.PublicKey
}

// resolve turns compiled instructions into ix values and records the
// associated token accounts the transaction creates.
func (d *decoder) resolve(m *sol.Message) ([]ix, error) {
	out := make([]ix, 0, len(m.Instructions))
	for i := range m.Instructions {
		ci := &m.Instructions[i]
		prog, err := m.ResolveProgramIDIndex(ci.ProgramIDIndex)
		if err != nil {
			return nil, fmt.Errorf("%w: instruction %d: its program index: %v", ErrMalformed, i, err)
		}
		accts, err := ci.ResolveInstructionAccounts(m)
		if err != nil {
			return nil, fmt.Errorf("%w: instruction %d: its accounts: %v", ErrMalformed, i, err)
		}
		x := ix{program: prog, accounts: accts, data: ci.Data}
		if prog.Equals(sol.SPLAssociatedTokenAccountProgramID) && len(accts) >= 6 {
			// Only an address that derives from its owner and mint, as the
			// program itself checks, says who receives.
			if want, err := ataAddress(accts[2].PublicKey, accts[3].PublicKey, accts[5].PublicKey); err == nil && want.Equals(accts[1].PublicKey) {
				d.atas[want] = accts[2].PublicKey
			}
		}
		out = append(out, x)
	}
	return out, nil
}

// instruction decodes one instruction; nil when it moves nothing.
func (d *decoder) instruction(x ix) (in policies.Intent, err error) {
	// solana-go's decoders index accounts and read lengths from untrusted
	// bytes; a panic there is a malformed transaction, not a crash.
	defer func() {
		if r := recover(); r != nil {
			in, err = nil, fmt.Errorf("%w: the instruction's data or accounts are malformed", ErrMalformed)
		}
	}()
	switch {
	case x.program.Equals(sol.SystemProgramID):
		return d.system(x)
	case x.program.Equals(sol.TokenProgramID), x.program.Equals(sol.Token2022ProgramID):
		return d.token(x)
	case x.program.Equals(sol.SPLAssociatedTokenAccountProgramID):
		return d.ata(x)
	case x.program.Equals(sol.MemoProgramID), x.program.Equals(sol.MemoProgramIDV1):
		return nil, nil
	}
	return d.call(x), nil
}

func (d *decoder) header(from sol.PublicKey) policies.Header {
	return policies.Header{Chain: d.chain, From: from.String()}
}

// call is an instruction the decoder does not judge: the policy allows it
// only for a program in contracts.allow.
func (d *decoder) call(x ix) policies.Intent {
	from := sol.PublicKey{}
	for _, a := range x.accounts {
		if a.IsSigner {
			from = a.PublicKey
			break
		}
	}
	return policies.ContractCall{Header: d.header(from), To: x.program.String(), Value: new(big.Int), Data: policies.HexBytes(append([]byte{}, x.data...))}
}

// native is a transfer of lamports.
func (d *decoder) native(from, to sol.PublicKey, lamports *uint64) (policies.Intent, error) {
	if lamports == nil {
		return nil, fmt.Errorf("%w: no lamports", ErrMalformed)
	}
	return policies.Transfer{Header: d.header(from), To: to.String(), Token: SOL, Amount: new(big.Int).SetUint64(*lamports)}, nil
}

func (d *decoder) system(x ix) (policies.Intent, error) {
	if len(x.data) < 4 || len(x.accounts) < 2 {
		return d.call(x), nil
	}
	inst, err := system.DecodeInstruction(x.accounts, x.data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch v := inst.Impl.(type) {
	case *system.Transfer:
		return d.native(v.GetFundingAccount().PublicKey, v.GetRecipientAccount().PublicKey, v.Lamports)
	case *system.TransferWithSeed:
		if len(x.accounts) < 3 {
			return nil, fmt.Errorf("%w: TransferWithSeed needs 3 accounts", ErrMalformed)
		}
		return d.native(v.GetFundingAccount().PublicKey, v.GetRecipientAccount().PublicKey, v.Lamports)
	case *system.CreateAccount:
		return d.native(v.GetFundingAccount().PublicKey, v.GetNewAccount().PublicKey, v.Lamports)
	case *system.CreateAccountWithSeed:
		return d.native(v.GetFundingAccount().PublicKey, v.GetCreatedAccount().PublicKey, v.Lamports)
	}
	return d.call(x), nil
}
