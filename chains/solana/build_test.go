package solana

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/policies"
)

func TestBuildDecodeRoundTrip(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	me, friend := w.wallet.Address(), w.friend.Address()
	fees := ComputeBudget{UnitLimit: 300_000, UnitPrice: 5_000}

	tx, err := BuildSOLTransfer(me, friend, n(1_500_000_000), fees, w.blockhash)
	if err != nil {
		t.Fatal(err)
	}
	d := w.decode(t, tx)
	sameIntents(t, d.Intents, []policies.Intent{
		policies.Transfer{Header: w.hdr(), To: friend.String(), Token: SOL, Amount: n(1_500_000_000)},
	})
	if d.Fees != (Fees{Signatures: 1, UnitLimit: 300_000, LimitSet: true, UnitPrice: 5_000, PriceSet: true}) {
		t.Fatalf("fees %+v", d.Fees)
	}
	// 5000 per signature + ceil(5000 µlamports × 300000 / 1e6) = 5000 + 1500.
	if d.Fees.Max().Int64() != 6_500 {
		t.Fatalf("max fee %s", d.Fees.Max())
	}

	cases := []struct {
		name  string
		mint  sol.PublicKey
		exist bool // the friend already has the token account
		rent  int64
	}{
		{"USDC, recipient's account created", w.usdc, false, 2_039_280},
		{"USDC, recipient's account exists", w.usdc, true, 0},
		{"Token-2022, recipient's account created", w.pyusd, false, 2_074_080},
	}
	for _, c := range cases {
		if c.exist {
			w.account(t, friend, c.mint)
		}
		tx, err := BuildTokenTransfer(ctx, w.look, me, friend, c.mint, n(12_345_678), ComputeBudget{UnitPrice: 1}, w.blockhash)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		var want []policies.Intent
		if c.rent > 0 {
			want = append(want, policies.Transfer{Header: w.hdr(), To: friend.String(), Token: SOL, Amount: n(c.rent)})
		}
		want = append(want, policies.Transfer{Header: w.hdr(), To: friend.String(), Token: policies.Token{Address: c.mint.String(), Decimals: 6}, Amount: n(12_345_678)})
		d := w.decode(t, tx)
		sameIntents(t, d.Intents, want)
		last := tx.Message.Instructions[len(tx.Message.Instructions)-1]
		if prog, _ := tx.ResolveProgramIDIndex(last.ProgramIDIndex); !prog.Equals(w.look.Mints[c.mint].Program) {
			t.Fatalf("%s: TransferChecked runs on %s", c.name, prog)
		}
		if d.Fees.UnitLimit != uint32(len(tx.Message.Instructions)-1)*200_000 || d.Fees.LimitSet {
			t.Fatalf("%s: default limit %+v", c.name, d.Fees)
		}
	}
}

func TestBuildRefuses(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	me, friend := w.wallet.Address(), w.friend.Address()
	over := new(big.Int).Lsh(big.NewInt(1), 64)
	cases := []struct {
		name string
		err  func() error
		want string
		is   error
	}{
		{"SOL beyond u64", func() error { _, err := BuildSOLTransfer(me, friend, over, ComputeBudget{}, w.blockhash); return err }, "amount 18446744073709551616 is beyond a u64", nil},
		{"negative", func() error { _, err := BuildSOLTransfer(me, friend, n(-1), ComputeBudget{}, w.blockhash); return err }, "amount -1 is negative", nil},
		{"token beyond u64", func() error {
			_, err := BuildTokenTransfer(ctx, w.look, me, friend, w.usdc, over, ComputeBudget{}, w.blockhash)
			return err
		}, "amount", nil},
		{"transfer-fee mint", func() error {
			_, err := BuildTokenTransfer(ctx, w.look, me, friend, w.fee, n(1), ComputeBudget{}, w.blockhash)
			return err
		}, "transfer fee", ErrRiskyMint},
		{"transfer-hook mint", func() error {
			_, err := BuildTokenTransfer(ctx, w.look, me, friend, w.hook, n(1), ComputeBudget{}, w.blockhash)
			return err
		}, "transfer hook", ErrRiskyMint},
		{"unknown mint", func() error {
			_, err := BuildTokenTransfer(ctx, w.look, me, friend, newKey(), n(1), ComputeBudget{}, w.blockhash)
			return err
		}, "mint", ErrAccountNotFound},
		{"more decimals than the mint", func() error { _, err := ParseAmount("1.0000001", 6, "amount"); return err }, "amount", policies.ErrBadAmount},
		{"decimal beyond u64", func() error { _, err := ParseAmount("18446744073.709551616", 9, "amount"); return err }, "amount 18446744073709551616 is beyond a u64", nil},
	}
	for _, c := range cases {
		err := c.err()
		if err == nil || !strings.Contains(err.Error(), c.want) || (c.is != nil && !errors.Is(err, c.is)) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
	if v, err := ParseAmount("1.5", 9, "amount"); err != nil || v.Int64() != 1_500_000_000 {
		t.Fatalf("ParseAmount(1.5 SOL) = %v, %v", v, err)
	}
	if _, err := ParseAmount("18446744073.709551615", 9, "amount"); err != nil {
		t.Fatalf("u64 max refused: %v", err)
	}
}
