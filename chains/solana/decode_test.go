package solana

import (
	"context"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"

	"github.com/mandatehq/mandate/policies"
)

func TestDecodeInstructions(t *testing.T) {
	w := newWorld(t)
	me, friend := w.wallet.Address(), w.friend.Address()
	friendUSDC := w.account(t, friend, w.usdc)
	usdc := policies.Token{Address: w.usdc.String(), Decimals: 6}
	newAcct, program, delegate := newKey(), newKey(), newKey()
	call := func(prog sol.PublicKey, in sol.Instruction) policies.Intent {
		data, _ := in.Data()
		return policies.ContractCall{Header: w.hdr(), To: prog.String(), Value: n(0), Data: data}
	}
	setAuth := token.NewSetAuthorityInstruction(token.AuthorityAccountOwner, friend, w.walletUSDC, me, nil).Build()
	closeElsewhere := token.NewCloseAccountInstruction(w.walletUSDC, friend, me, nil).Build()
	unknown := sol.NewInstruction(program, sol.AccountMetaSlice{sol.Meta(me).SIGNER().WRITE()}, []byte{9, 9})
	cases := []struct {
		name string
		ix   sol.Instruction
		want []policies.Intent
	}{
		{"system transfer", system.NewTransferInstruction(7, me, friend).Build(),
			[]policies.Intent{policies.Transfer{Header: w.hdr(), To: friend.String(), Token: SOL, Amount: n(7)}}},
		{"transfer with seed", system.NewTransferWithSeedInstruction(8, "seed", program, newAcct, me, friend).Build(),
			[]policies.Intent{policies.Transfer{Header: policies.Header{Chain: chain, From: newAcct.String()}, To: friend.String(), Token: SOL, Amount: n(8)}}},
		{"create account", system.NewCreateAccountInstruction(2_000_000, 0, program, me, newAcct).Build(),
			[]policies.Intent{policies.Transfer{Header: w.hdr(), To: newAcct.String(), Token: SOL, Amount: n(2_000_000)}}},
		{"plain token transfer (mint from the source account)", token.NewTransferInstruction(5, w.walletUSDC, friendUSDC, me, nil).Build(),
			[]policies.Intent{policies.Transfer{Header: w.hdr(), To: friend.String(), Token: usdc, Amount: n(5)}}},
		{"approve", token.NewApproveInstruction(9, w.walletUSDC, delegate, me, nil).Build(),
			[]policies.Intent{policies.Approve{Header: w.hdr(), Method: policies.MethodApprove, Token: usdc, Spender: delegate.String(), Amount: n(9)}}},
		{"approve checked, unlimited", token.NewApproveCheckedInstruction(math.MaxUint64, 6, w.walletUSDC, w.usdc, delegate, me, nil).Build(),
			[]policies.Intent{policies.Approve{Header: w.hdr(), Method: policies.MethodApprove, Token: usdc, Spender: delegate.String(), Amount: bigU64(math.MaxUint64), Unlimited: true}}},
		{"set authority", setAuth, []policies.Intent{call(sol.TokenProgramID, setAuth)}},
		{"close to the owner", token.NewCloseAccountInstruction(w.walletUSDC, me, me, nil).Build(), nil},
		{"close elsewhere", closeElsewhere, []policies.Intent{call(sol.TokenProgramID, closeElsewhere)}},
		{"revoke", token.NewRevokeInstruction(w.walletUSDC, me, nil).Build(), nil},
		{"unknown program", unknown, []policies.Intent{call(program, unknown)}},
	}
	for _, c := range cases {
		d, err := Decode(context.Background(), wire(t, txOf(t, me, c.ix)), chain, w.look)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		t.Run(c.name, func(t *testing.T) { sameIntents(t, d.Intents, c.want) })
	}
}

func bigU64(v uint64) *big.Int { return new(big.Int).SetUint64(v) }

func TestDecodeRefuses(t *testing.T) {
	w := newWorld(t)
	me, friend := w.wallet.Address(), w.friend.Address()
	walletFee := w.account(t, me, w.fee)
	friendFee := w.account(t, friend, w.fee)
	onto := func(in sol.Instruction, prog sol.PublicKey) sol.Instruction {
		x, err := onProgram(in, prog)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	short := sol.NewInstruction(sol.TokenProgramID, sol.AccountMetaSlice{sol.Meta(me).SIGNER()}, []byte{3, 1, 0, 0, 0, 0, 0, 0, 0})
	cases := []struct {
		name string
		ixs  []sol.Instruction
		is   error
		want string
	}{
		{"transfer-fee mint", []sol.Instruction{onto(token.NewTransferCheckedInstruction(1, 6, walletFee, w.fee, friendFee, me, nil).Build(), sol.Token2022ProgramID)}, ErrRiskyMint, "transfer fee"},
		{"mint on the other program", []sol.Instruction{token.NewTransferCheckedInstruction(1, 6, walletFee, w.fee, friendFee, me, nil).Build()}, ErrMalformed, "belongs to program"},
		{"wrong decimals", []sol.Instruction{token.NewTransferCheckedInstruction(1, 9, w.walletUSDC, w.usdc, w.walletUSDC, me, nil).Build()}, ErrMalformed, "9 decimals"},
		{"unknown destination", []sol.Instruction{token.NewTransferCheckedInstruction(1, 6, w.walletUSDC, w.usdc, newKey(), me, nil).Build()}, ErrAccountNotFound, "who receives"},
		{"too few accounts", []sol.Instruction{short}, ErrMalformed, "Transfer has 1 accounts"},
		{"repeated unit price", []sol.Instruction{computebudget.NewSetComputeUnitPriceInstruction(1).Build(), computebudget.NewSetComputeUnitPriceInstruction(2).Build()}, nil, "repeated SetComputeUnitPrice"},
		{"truncated system data", []sol.Instruction{sol.NewInstruction(sol.SystemProgramID, sol.AccountMetaSlice{sol.Meta(me).SIGNER().WRITE(), sol.Meta(friend).WRITE()}, []byte{2, 0, 0, 0, 1})}, ErrMalformed, ""},
	}
	for _, c := range cases {
		_, err := Decode(context.Background(), wire(t, txOf(t, me, c.ixs...)), chain, w.look)
		if err == nil || (c.is != nil && !errors.Is(err, c.is)) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %v %q", c.name, err, c.is, c.want)
		}
	}
	// A token instruction cannot be judged without a Lookup.
	tx := txOf(t, me, token.NewTransferCheckedInstruction(1, 6, w.walletUSDC, w.usdc, w.walletUSDC, me, nil).Build())
	if _, err := Decode(context.Background(), tx, chain, nil); err == nil || !strings.Contains(err.Error(), "needs a Lookup") {
		t.Fatalf("no lookup: %v", err)
	}
}

func TestFeeCap(t *testing.T) {
	f := Fees{Signatures: 1, UnitLimit: 200_000, UnitPrice: 10_000}
	if err := f.Check(FeeCap{MaxUnitPrice: 10_000, MaxLamports: n(7_000)}); err != nil {
		t.Fatalf("at the cap: %v", err)
	}
	for _, c := range []FeeCap{{MaxUnitPrice: 9_999}, {MaxLamports: n(6_999)}} {
		if err := f.Check(c); !errors.Is(err, ErrFeeOverCap) {
			t.Fatalf("cap %+v: %v", c, err)
		}
	}
}
