package devnet

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"strconv"

	"github.com/gagliardetto/solana-go"
	ata "github.com/gagliardetto/solana-go/programs/associated-token-account"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"
	"github.com/gagliardetto/solana-go/rpc"
)

// setup funds the mint authority, creates the mints and funds c.accounts
// accounts, all through the RPC with real transactions.
func (d *Devnet) setup(ctx context.Context, c config) error {
	d.authority = Key("authority")
	if err := d.airdrop(ctx, d.authority.PublicKey(), 1000*solana.LAMPORTS_PER_SOL); err != nil {
		return err
	}
	d.mints = map[string]solana.PublicKey{}
	d.programs = map[string]solana.PublicKey{}
	if err := d.createMint(ctx, "USDC", solana.TokenProgramID); err != nil {
		return err
	}
	if c.token2022 {
		if err := d.createMint(ctx, Token2022Symbol, solana.Token2022ProgramID); err != nil {
			return err
		}
	}
	for i := 0; i < c.accounts; i++ {
		a, err := d.fund(ctx, Key("account/"+strconv.Itoa(i)))
		if err != nil {
			return err
		}
		d.accounts = append(d.accounts, a)
	}
	mints := map[string]string{}
	for sym, m := range d.mints {
		mints[sym] = m.String()
	}
	var ok bool
	if err := d.client.RPCCallForInto(ctx, &ok, "mandate_register", []any{map[string]any{"mints": mints}}); err != nil {
		return fmt.Errorf("solana devnet: register the deployment: %w", err)
	}
	return nil
}

func (d *Devnet) airdrop(ctx context.Context, to solana.PublicKey, lamports uint64) error {
	sig, err := d.client.RequestAirdrop(ctx, to, lamports, rpc.CommitmentFinalized)
	if err != nil {
		return fmt.Errorf("solana devnet: airdrop to %s: %w", to, err)
	}
	return d.confirmed(ctx, sig)
}

func (d *Devnet) createMint(ctx context.Context, symbol string, program solana.PublicKey) error {
	mint := Key("mint/" + symbol)
	rent, err := d.client.GetMinimumBalanceForRentExemption(ctx, 82, rpc.CommitmentFinalized)
	if err != nil {
		return fmt.Errorf("solana devnet: rent for a mint: %w", err)
	}
	auth := d.authority.PublicKey()
	init := forProgram(program, token.NewInitializeMint2Instruction(USDCDecimals, auth, auth, mint.PublicKey()).Build())
	create := system.NewCreateAccountInstruction(rent, 82, program, auth, mint.PublicKey()).Build()
	if _, err := d.Send(ctx, []solana.Instruction{create, init}, d.authority, mint); err != nil {
		return fmt.Errorf("solana devnet: create the %s mint: %w", symbol, err)
	}
	d.mints[symbol] = mint.PublicKey()
	d.programs[symbol] = program
	return nil
}

// forProgram addresses a Token instruction to program: Token-2022 takes the
// same instructions for its base features. (solana-go's token-2022 package
// would pull in its zk proof dependencies for two instructions.)
func forProgram(program solana.PublicKey, ix solana.Instruction) solana.Instruction {
	if program.Equals(solana.TokenProgramID) {
		return ix
	}
	data, err := ix.Data()
	if err != nil {
		panic(err) // encoding fixed-size instruction fields does not fail
	}
	return solana.NewInstruction(program, ix.Accounts(), data)
}

// NewAccount makes a fresh account funded like the standard ones
// (AccountLamports, and AccountUSDC of every mint in its associated token
// account), that no one else uses.
func (d *Devnet) NewAccount(ctx context.Context) (Account, error) {
	key, err := solana.NewRandomPrivateKey()
	if err != nil {
		return Account{}, fmt.Errorf("solana devnet: %w", err)
	}
	return d.fund(ctx, key)
}

// Key is the devnet's key named name ("authority", "mint/USDC",
// "account/0", …): derived from the name, so the standard accounts and the
// mints have the same addresses on every run, as the EVM devnet's do, and a
// policy file or MANDATE_SOLANA_KEY written for one run holds for the next.
// Keys anyone can derive: for the devnet only.
func Key(name string) solana.PrivateKey {
	seed := sha256.Sum256([]byte("mandate solana devnet: " + name))
	return solana.PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
}

// fund airdrops AccountLamports to key's account and gives it AccountUSDC
// of every mint in its associated token account.
func (d *Devnet) fund(ctx context.Context, key solana.PrivateKey) (Account, error) {
	owner := key.PublicKey()
	if err := d.airdrop(ctx, owner, AccountLamports); err != nil {
		return Account{}, err
	}
	auth := d.authority.PublicKey()
	for symbol, mint := range d.mints {
		program := d.programs[symbol]
		dest, _, err := solana.FindAssociatedTokenAddressWithProgram(owner, mint, program)
		if err != nil {
			return Account{}, fmt.Errorf("solana devnet: %w", err)
		}
		create := ata.NewCreateInstructionWithTokenProgram(auth, owner, mint, program).Build()
		mintTo := forProgram(program, token.NewMintToCheckedInstruction(AccountUSDC, USDCDecimals, mint, dest, auth, nil).Build())
		if _, err := d.Send(ctx, []solana.Instruction{create, mintTo}, d.authority); err != nil {
			return Account{}, fmt.Errorf("solana devnet: fund %s with %s: %w", owner, symbol, err)
		}
	}
	return Account{Address: owner, SecretKey: key}, nil
}

// Send signs instructions with signers (the first pays), sends them with
// preflight and waits until the runtime reports them, failing on any error.
func (d *Devnet) Send(ctx context.Context, ixs []solana.Instruction, signers ...solana.PrivateKey) (solana.Signature, error) {
	bh, err := d.client.GetLatestBlockhash(ctx, rpc.CommitmentFinalized)
	if err != nil {
		return solana.Signature{}, fmt.Errorf("latest blockhash: %w", err)
	}
	tx, err := solana.NewTransaction(ixs, bh.Value.Blockhash, solana.TransactionPayer(signers[0].PublicKey()))
	if err != nil {
		return solana.Signature{}, err
	}
	if _, err := tx.Sign(func(k solana.PublicKey) *solana.PrivateKey {
		for i := range signers {
			if signers[i].PublicKey().Equals(k) {
				return &signers[i]
			}
		}
		return nil
	}); err != nil {
		return solana.Signature{}, err
	}
	sig, err := d.client.SendTransactionWithOpts(ctx, tx, rpc.TransactionOpts{PreflightCommitment: rpc.CommitmentFinalized})
	if err != nil {
		return solana.Signature{}, err
	}
	return sig, d.confirmed(ctx, sig)
}

// confirmed checks that the runtime has the signature, without error. The
// runtime executes a transaction before answering sendTransaction, so one
// look is enough: a missing status is an error, not something to wait for.
func (d *Devnet) confirmed(ctx context.Context, sig solana.Signature) error {
	st, err := d.client.GetSignatureStatuses(ctx, true, sig)
	if err != nil {
		return fmt.Errorf("status of %s: %w", sig, err)
	}
	if len(st.Value) != 1 || st.Value[0] == nil {
		return fmt.Errorf("transaction %s is unknown to the runtime", sig)
	}
	if st.Value[0].Err != nil {
		return fmt.Errorf("transaction %s failed: %v", sig, st.Value[0].Err)
	}
	return nil
}

// Advance produces n slots, each with a new blockhash, and returns the new
// slot. Advancing more than 150 slots expires every blockhash handed out before.
func (d *Devnet) Advance(ctx context.Context, n int) (uint64, error) {
	var slot uint64
	if err := d.client.RPCCallForInto(ctx, &slot, "mandate_advance", []any{n}); err != nil {
		return 0, fmt.Errorf("solana devnet: advance %d slots: %w", n, err)
	}
	return slot, nil
}
