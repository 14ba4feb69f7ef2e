package solana

import (
	"context"
	"math/big"
	"testing"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/policies"
)

const chain = "solana-local"

// world is a test's chain state: a wallet holding USDC (Token program),
// PYUSD (Token-2022, no risky extension) and FEE (Token-2022 with a
// transfer fee), and a friend who holds an account for none of them.
type world struct {
	wallet, friend          *Keypair
	usdc, pyusd, fee, hook  sol.PublicKey
	walletUSDC, walletPYUSD sol.PublicKey
	look                    StaticLookup
	blockhash               sol.Hash
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{wallet: mustKeypair(t), friend: mustKeypair(t)}
	w.usdc, w.pyusd, w.fee, w.hook = newKey(), newKey(), newKey(), newKey()
	w.look = StaticLookup{
		Accounts: map[sol.PublicKey]TokenAccount{},
		Mints: map[sol.PublicKey]Mint{
			w.usdc:  {Address: w.usdc, Program: sol.TokenProgramID, Decimals: 6},
			w.pyusd: {Address: w.pyusd, Program: sol.Token2022ProgramID, Decimals: 6, Extensions: []Extension{18, 19}},
			w.fee:   {Address: w.fee, Program: sol.Token2022ProgramID, Decimals: 6, Extensions: []Extension{ExtTransferFeeConfig}},
			w.hook:  {Address: w.hook, Program: sol.Token2022ProgramID, Decimals: 9, Extensions: []Extension{ExtTransferHook}},
		},
	}
	w.walletUSDC = w.account(t, w.wallet.Address(), w.usdc)
	w.walletPYUSD = w.account(t, w.wallet.Address(), w.pyusd)
	copy(w.blockhash[:], newKey().Bytes())
	return w
}

// account creates owner's associated token account for mint in the state.
func (w *world) account(t testing.TB, owner, mint sol.PublicKey) sol.PublicKey {
	t.Helper()
	m := w.look.Mints[mint]
	a, err := ataAddress(owner, mint, m.Program)
	if err != nil {
		t.Fatal(err)
	}
	w.look.Accounts[a] = TokenAccount{Address: a, Mint: mint, Owner: owner, Program: m.Program}
	return a
}

func (w *world) hdr() policies.Header {
	return policies.Header{Chain: chain, From: w.wallet.Address().String()}
}

func (w *world) decode(t *testing.T, tx *sol.Transaction) *Decoded {
	t.Helper()
	d, err := Decode(context.Background(), wire(t, tx), chain, w.look)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// wire sends tx through solana-go's encoder and decoder, so tests decode
// what a node would receive rather than the builder's structs.
func wire(t *testing.T, tx *sol.Transaction) *sol.Transaction {
	t.Helper()
	b, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sol.TransactionFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustKeypair(t testing.TB) *Keypair {
	t.Helper()
	k, err := NewKeypair()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newKey() sol.PublicKey { return sol.NewWallet().PublicKey() }

// sameIntents compares intents by their canonical encoding, the bytes an
// Approval is bound to.
func sameIntents(t *testing.T, got, want []policies.Intent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d intents, want %d: %v", len(got), len(want), got)
	}
	for i := range got {
		g, err := policies.Marshal(got[i])
		if err != nil {
			t.Fatal(err)
		}
		w, _ := policies.Marshal(want[i])
		if string(g) != string(w) {
			t.Fatalf("intent %d:\n got %s\nwant %s", i, g, w)
		}
	}
}

func txOf(t *testing.T, payer sol.PublicKey, ixs ...sol.Instruction) *sol.Transaction {
	t.Helper()
	tx, err := newTx(ixs, payer, sol.Hash{1})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func n(v int64) *big.Int { return big.NewInt(v) }
