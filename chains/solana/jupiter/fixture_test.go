package jupiter

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	ataprog "github.com/gagliardetto/solana-go/programs/associated-token-account"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"

	"github.com/mandatehq/mandate/chains/solana"
)

// The mainnet mints the recorded swaps trade.
var (
	mintUSDC = sol.MustPublicKeyFromBase58("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v")
	mintBONK = sol.MustPublicKeyFromBase58("DezXAZ8z7PnrnRJjz3wXBoRgixCa6zSsrPeAC8B1pPB")
	mintWSOL = sol.WrappedSol
)

// world is the chain state a recorded swap runs against: a wallet, a
// stranger, their token accounts, the mints, and the lookup table Jupiter's
// transaction names its AMM accounts through.
type world struct {
	wallet, stranger         sol.PublicKey
	walletUSDC, walletWSOL   sol.PublicKey
	walletBONK, strangerUSDC sol.PublicKey
	authority                sol.PublicKey // Jupiter's program authority for id 0
	progWSOL, progUSDC       sol.PublicKey
	look                     solana.StaticLookup
	table                    sol.PublicKey
	tables                   StaticTables
	amms                     []sol.PublicKey
	blockhash                sol.Hash
}

func key(t testing.TB, name string) sol.PublicKey {
	t.Helper()
	seed := sha256.Sum256([]byte("mandate jupiter test " + name))
	return sol.PublicKeyFromBytes(ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey))
}

func mustATA(t testing.TB, owner, mint sol.PublicKey) sol.PublicKey {
	t.Helper()
	a, err := ata(owner, mint, sol.TokenProgramID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newWorld(t testing.TB) *world {
	t.Helper()
	w := &world{wallet: key(t, "wallet"), stranger: key(t, "stranger"), table: key(t, "lookup table")}
	w.walletUSDC, w.walletWSOL = mustATA(t, w.wallet, mintUSDC), mustATA(t, w.wallet, mintWSOL)
	w.walletBONK, w.strangerUSDC = mustATA(t, w.wallet, mintBONK), mustATA(t, w.stranger, mintUSDC)
	auth, _, err := sol.FindProgramAddress([][]byte{[]byte("authority"), {0}}, ProgramID)
	if err != nil {
		t.Fatal(err)
	}
	w.authority = auth
	w.progWSOL, w.progUSDC = mustATA(t, auth, mintWSOL), mustATA(t, auth, mintUSDC)
	acct := func(addr, mint, owner sol.PublicKey) solana.TokenAccount {
		return solana.TokenAccount{Address: addr, Mint: mint, Owner: owner, Program: sol.TokenProgramID}
	}
	w.look = solana.StaticLookup{
		Mints: map[sol.PublicKey]solana.Mint{
			mintUSDC: {Address: mintUSDC, Program: sol.TokenProgramID, Decimals: 6},
			mintWSOL: {Address: mintWSOL, Program: sol.TokenProgramID, Decimals: 9},
			mintBONK: {Address: mintBONK, Program: sol.TokenProgramID, Decimals: 5},
		},
		Accounts: map[sol.PublicKey]solana.TokenAccount{
			w.walletUSDC:   acct(w.walletUSDC, mintUSDC, w.wallet),
			w.walletBONK:   acct(w.walletBONK, mintBONK, w.wallet),
			w.strangerUSDC: acct(w.strangerUSDC, mintUSDC, w.stranger),
			w.progWSOL:     acct(w.progWSOL, mintWSOL, auth),
			w.progUSDC:     acct(w.progUSDC, mintUSDC, auth),
		},
	}
	for i := range 6 {
		w.amms = append(w.amms, key(t, fmt.Sprintf("amm %d", i)))
	}
	// The table holds the route's AMM accounts and the program's shared
	// token accounts, as Jupiter's own tables do.
	w.tables = StaticTables{w.table: append(append(sol.PublicKeySlice{}, w.amms...), w.progWSOL, w.progUSDC, w.authority)}
	copy(w.blockhash[:], key(t, "blockhash").Bytes())
	return w
}

// swapTx describes the transaction the recorded /swap answer carries; each
// tampered case changes one field of a good one.
type swapTx struct {
	kind                routeKind
	in, out             sol.PublicKey // mints
	inAmount, quotedOut uint64
	slippageBps         uint16
	feeBps              uint8
	feeAccount          *sol.PublicKey
	source, dest        sol.PublicKey
	destMint            *sol.PublicKey // when it differs from out
	routeDest           *sol.PublicKey // route's optional destination_token_account
	wrap                uint64         // lamports wrapped into the wallet's wSOL account; 0 = none
	closeWSOL           bool
	createOut           bool // CreateIdempotent of the destination
	plan                []byte
	trailing            []byte
	extra               []sol.Instruction
	legacy              bool // no lookup tables
	unitPrice           uint64
}

// goodSOLtoUSDC is what Jupiter returns for 1 SOL to USDC at 50 bps with
// wrapAndUnwrapSol: wrap, swap through shared accounts, close the wSOL.
func (w *world) goodSOLtoUSDC() swapTx {
	return swapTx{kind: kindSharedAccountsRoute, in: mintWSOL, out: mintUSDC, inAmount: 1_000_000_000, quotedOut: 150_123_456,
		slippageBps: 50, source: w.walletWSOL, dest: w.walletUSDC, wrap: 1_000_000_000, closeWSOL: true, createOut: true, unitPrice: 25_715}
}

// goodUSDCtoSOL is the way back through `route`: unwrap the output.
func (w *world) goodUSDCtoSOL() swapTx {
	return swapTx{kind: kindRoute, in: mintUSDC, out: mintWSOL, inAmount: 150_000_000, quotedOut: 998_877_665,
		slippageBps: 30, source: w.walletUSDC, dest: w.walletWSOL, closeWSOL: true, createOut: true, unitPrice: 1000}
}

// defaultPlan is a two-hop route plan: a Whirlpool v2 step carrying its
// optional remaining-accounts info (the variable-length variant), then a
// Raydium CP step.
func defaultPlan() []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, 2)
	b = append(b, 47, 1, 1) // WhirlpoolSwapV2{a_to_b: true, remaining_accounts_info: Some(
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = append(b, 0, 2)      // [{TransferHookA, 2}]})
	b = append(b, 100, 0, 1) // percent, input_index, output_index
	b = append(b, 46)        // RaydiumCP
	b = append(b, 100, 1, 2)
	return b
}

// routeData encodes the route instruction as the program's IDL lays it out.
func (s swapTx) routeData() []byte {
	d := discriminator(s.kind.String())
	b := append([]byte{}, d[:]...)
	if s.kind == kindSharedAccountsRoute {
		b = append(b, 0) // id
	}
	plan := s.plan
	if plan == nil {
		plan = defaultPlan()
	}
	b = append(b, plan...)
	b = binary.LittleEndian.AppendUint64(b, s.inAmount)
	b = binary.LittleEndian.AppendUint64(b, s.quotedOut)
	b = binary.LittleEndian.AppendUint16(b, s.slippageBps)
	b = append(b, s.feeBps)
	return append(b, s.trailing...)
}

func (w *world) routeIx(s swapTx) sol.Instruction {
	ro := func(k sol.PublicKey) *sol.AccountMeta { return sol.Meta(k) }
	rw := func(k sol.PublicKey) *sol.AccountMeta { return sol.Meta(k).WRITE() }
	fee := ro(ProgramID)
	if s.feeAccount != nil {
		fee = rw(*s.feeAccount)
	}
	destMint := s.out
	if s.destMint != nil {
		destMint = *s.destMint
	}
	var accts sol.AccountMetaSlice
	switch s.kind {
	case kindSharedAccountsRoute:
		progIn, progOut := w.progWSOL, w.progUSDC
		if s.in.Equals(mintUSDC) {
			progIn, progOut = w.progUSDC, w.progWSOL
		}
		accts = sol.AccountMetaSlice{ro(sol.TokenProgramID), ro(w.authority), sol.Meta(w.wallet).SIGNER(),
			rw(s.source), rw(progIn), rw(progOut), rw(s.dest), ro(s.in), ro(destMint), fee, ro(ProgramID),
			ro(EventAuthority), ro(ProgramID)}
	case kindRoute:
		routeDest := ro(ProgramID)
		if s.routeDest != nil {
			routeDest = rw(*s.routeDest)
		}
		accts = sol.AccountMetaSlice{ro(sol.TokenProgramID), sol.Meta(w.wallet).SIGNER(), rw(s.source), rw(s.dest),
			routeDest, ro(destMint), fee, ro(EventAuthority), ro(ProgramID)}
	}
	for i, a := range w.amms {
		m := ro(a)
		if i%2 == 0 {
			m = rw(a)
		}
		accts = append(accts, m)
	}
	return sol.NewInstruction(ProgramID, accts, s.routeData())
}

// tx builds the versioned transaction, its AMM accounts in the lookup table.
func (w *world) tx(t testing.TB, s swapTx) *sol.Transaction {
	t.Helper()
	var ixs []sol.Instruction
	ixs = append(ixs, computebudget.NewSetComputeUnitLimitInstruction(388_876).Build())
	if s.unitPrice > 0 {
		ixs = append(ixs, computebudget.NewSetComputeUnitPriceInstruction(s.unitPrice).Build())
	}
	if s.in.Equals(mintWSOL) || s.out.Equals(mintWSOL) {
		ixs = append(ixs, ataprog.NewCreateIdempotentInstruction(w.wallet, w.wallet, mintWSOL).Build())
	}
	if s.wrap > 0 {
		ixs = append(ixs, system.NewTransferInstruction(s.wrap, w.wallet, w.walletWSOL).Build(),
			token.NewSyncNativeInstruction(w.walletWSOL).Build())
	}
	if s.createOut && !s.out.Equals(mintWSOL) {
		ixs = append(ixs, ataprog.NewCreateIdempotentInstruction(w.wallet, w.wallet, s.out).Build())
	}
	ixs = append(ixs, w.routeIx(s))
	if s.closeWSOL {
		ixs = append(ixs, token.NewCloseAccountInstruction(w.walletWSOL, w.wallet, w.wallet, nil).Build())
	}
	ixs = append(ixs, s.extra...)
	opts := []sol.TransactionOption{sol.TransactionPayer(w.wallet)}
	if !s.legacy {
		opts = append(opts, sol.TransactionAddressTables(map[sol.PublicKey]sol.PublicKeySlice(w.tables)))
	}
	tx, err := sol.NewTransaction(ixs, w.blockhash, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// wire serializes tx as /swap returns it, and reads it back unresolved:
// what Verify sees is only what came over the wire.
func (w *world) wire(t testing.TB, s swapTx) (string, *sol.Transaction) {
	t.Helper()
	raw, err := w.tx(t, s).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(raw)
	tx, err := sol.TransactionFromBase64(b64)
	if err != nil {
		t.Fatal(err)
	}
	return b64, tx
}

// quoteJSON is a /quote answer in the documented shape for s.
func quoteJSON(s swapTx) string {
	return quoteJSONFor(s.in, s.out, s.inAmount, s.quotedOut, s.slippageBps)
}

func quoteJSONFor(in, out sol.PublicKey, inAmount, outAmount uint64, slippage uint16) string {
	threshold := new(big.Int).SetUint64(outAmount)
	threshold.Mul(threshold, big.NewInt(int64(10000-slippage)))
	threshold.Quo(threshold, big.NewInt(10000))
	q := map[string]any{
		"inputMint": in.String(), "inAmount": fmt.Sprint(inAmount),
		"outputMint": out.String(), "outAmount": fmt.Sprint(outAmount),
		"otherAmountThreshold": threshold.String(), "swapMode": "ExactIn", "slippageBps": slippage,
		"platformFee": nil, "priceImpactPct": "0.000123",
		"routePlan": []any{map[string]any{
			"swapInfo": map[string]any{"ammKey": "HJPjoWUrhoZzkNfRpHuieeFk9WcZWjwy6PBjZ81ngndJ", "label": "Whirlpool",
				"inputMint": in.String(), "outputMint": out.String(), "inAmount": fmt.Sprint(inAmount),
				"outAmount": fmt.Sprint(outAmount), "feeAmount": "12000", "feeMint": in.String()},
			"percent": 100,
		}},
		"contextSlot": 301234567, "timeTaken": 0.012345, "swapUsdValue": "150.12", "simplerRouteUsed": false,
	}
	b, _ := json.Marshal(q)
	return string(b)
}

// swapJSON is a /swap answer in the documented shape.
func swapJSON(b64 string) string {
	b, _ := json.Marshal(map[string]any{
		"swapTransaction": b64, "lastValidBlockHeight": 279632475, "prioritizationFeeLamports": 9999,
		"computeUnitLimit":      388876,
		"prioritizationType":    map[string]any{"computeBudget": map[string]any{"microLamports": 25715, "estimatedMicroLamports": 785154}},
		"dynamicSlippageReport": nil, "simulationError": nil,
	})
	return string(b)
}
