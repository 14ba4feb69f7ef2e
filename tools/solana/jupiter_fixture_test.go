package soltools_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"

	sol "github.com/gagliardetto/solana-go"
	ataprog "github.com/gagliardetto/solana-go/programs/associated-token-account"
	computebudget "github.com/gagliardetto/solana-go/programs/compute-budget"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"

	"github.com/mandatehq/mandate/chains/solana/jupiter"
)

// jupWorld is what a Jupiter Swap API answers for the wallet under test:
// quotes at a fixed rate, and swap transactions laid out as the program's
// IDL and Jupiter's own transactions are (compute budget, the wallet's
// wSOL account created and funded, the route through the program's shared
// accounts, the wSOL account closed), the AMM accounts in a lookup table.
// tamper changes the transaction of every /swap answer, as a hostile or
// broken API would.
type jupWorld struct {
	t         testing.TB
	wallet    sol.PublicKey
	usdc      sol.PublicKey
	stranger  sol.PublicKey
	authority sol.PublicKey
	table     sol.PublicKey
	tables    jupiter.StaticTables
	amms      []sol.PublicKey
	rate      int64 // USDC base units per SOL
	// height is the chain's block height, which lastValidBlockHeight
	// follows as Jupiter's does.
	height func() uint64

	mu     sync.Mutex
	tamper func(*swapSpec)
	wire   []string // the base64 transactions served, in order
}

// swapSpec is one route transaction; tampering changes its fields.
type swapSpec struct {
	in, out             sol.PublicKey
	inAmount, quotedOut uint64
	slippageBps         uint16
	source, dest        sol.PublicKey
	wrap                uint64
	extra               []sol.Instruction
}

func newJupWorld(t testing.TB, wallet, usdc sol.PublicKey) *jupWorld {
	t.Helper()
	w := &jupWorld{t: t, wallet: wallet, usdc: usdc, stranger: sol.NewWallet().PublicKey(), table: sol.NewWallet().PublicKey(), rate: 150_000_000}
	auth, _, err := sol.FindProgramAddress([][]byte{[]byte("authority"), {0}}, jupiter.ProgramID)
	if err != nil {
		t.Fatal(err)
	}
	w.authority = auth
	for range 4 {
		w.amms = append(w.amms, sol.NewWallet().PublicKey())
	}
	w.tables = jupiter.StaticTables{w.table: append(append(sol.PublicKeySlice{}, w.amms...), w.shared(sol.WrappedSol), w.shared(usdc), auth)}
	return w
}

func (w *jupWorld) ata(owner, mint sol.PublicKey) sol.PublicKey {
	a, _, err := sol.FindAssociatedTokenAddress(owner, mint)
	if err != nil {
		w.t.Fatal(err)
	}
	return a
}

// shared is the program authority's token account for mint.
func (w *jupWorld) shared(mint sol.PublicKey) sol.PublicKey { return w.ata(w.authority, mint) }

func (w *jupWorld) setTamper(f func(*swapSpec)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tamper, w.wire = f, nil
}

func (w *jupWorld) served() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.wire...)
}

// outFor is the quoted output of amount in at the world's rate.
func (w *jupWorld) outFor(in sol.PublicKey, amount uint64) uint64 {
	a := new(big.Int).SetUint64(amount)
	if in.Equals(sol.WrappedSol) {
		return a.Mul(a, big.NewInt(w.rate)).Quo(a, big.NewInt(1_000_000_000)).Uint64()
	}
	return a.Mul(a, big.NewInt(1_000_000_000)).Quo(a, big.NewInt(w.rate)).Uint64()
}

func floor(out uint64, bps uint16) string {
	v := new(big.Int).SetUint64(out)
	v.Mul(v, big.NewInt(int64(10000-bps)))
	return v.Quo(v, big.NewInt(10000)).String()
}

func (w *jupWorld) quoteJSON(in, out sol.PublicKey, amount uint64, bps uint16) []byte {
	o := w.outFor(in, amount)
	b, _ := json.Marshal(map[string]any{
		"inputMint": in.String(), "inAmount": fmt.Sprint(amount), "outputMint": out.String(), "outAmount": fmt.Sprint(o),
		"otherAmountThreshold": floor(o, bps), "swapMode": "ExactIn", "slippageBps": bps, "platformFee": nil, "priceImpactPct": "0.0001",
		"routePlan": []any{map[string]any{"swapInfo": map[string]any{"ammKey": w.amms[0].String(), "label": "Whirlpool",
			"inputMint": in.String(), "outputMint": out.String(), "inAmount": fmt.Sprint(amount), "outAmount": fmt.Sprint(o),
			"feeAmount": "0", "feeMint": in.String()}, "percent": 100}},
		"contextSlot": 301234567, "timeTaken": 0.01,
	})
	return b
}

// server answers /quote and /swap as Jupiter's Swap API v1 does.
func (w *jupWorld) server(t testing.TB) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/quote":
			q := r.URL.Query()
			amount, err1 := strconv.ParseUint(q.Get("amount"), 10, 64)
			bps, err2 := strconv.ParseUint(q.Get("slippageBps"), 10, 16)
			in, err3 := sol.PublicKeyFromBase58(q.Get("inputMint"))
			out, err4 := sol.PublicKeyFromBase58(q.Get("outputMint"))
			if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
				http.Error(rw, `{"error":"bad request"}`, http.StatusBadRequest)
				return
			}
			rw.Write(w.quoteJSON(in, out, amount, uint16(bps)))
		case "/swap":
			body, _ := io.ReadAll(r.Body)
			var req struct {
				Quote struct {
					InputMint, OutputMint, InAmount, OutAmount string
					SlippageBps                                uint16
				} `json:"quoteResponse"`
				User string `json:"userPublicKey"`
			}
			if err := json.Unmarshal(body, &req); err != nil || req.User != w.wallet.String() {
				http.Error(rw, `{"error":"bad swap request"}`, http.StatusBadRequest)
				return
			}
			in := sol.MustPublicKeyFromBase58(req.Quote.InputMint)
			out := sol.MustPublicKeyFromBase58(req.Quote.OutputMint)
			inAmt, _ := strconv.ParseUint(req.Quote.InAmount, 10, 64)
			outAmt, _ := strconv.ParseUint(req.Quote.OutAmount, 10, 64)
			spec := swapSpec{in: in, out: out, inAmount: inAmt, quotedOut: outAmt, slippageBps: req.Quote.SlippageBps,
				source: w.ata(w.wallet, in), dest: w.ata(w.wallet, out)}
			if in.Equals(sol.WrappedSol) {
				spec.wrap = inAmt
			}
			w.mu.Lock()
			if w.tamper != nil {
				w.tamper(&spec)
			}
			b64 := w.txBase64(t, spec)
			w.wire = append(w.wire, b64)
			w.mu.Unlock()
			b, _ := json.Marshal(map[string]any{"swapTransaction": b64, "lastValidBlockHeight": w.height() + 150,
				"prioritizationFeeLamports": 5000, "computeUnitLimit": 388876, "simulationError": nil})
			rw.Write(b)
		default:
			http.NotFound(rw, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func discriminator(name string) []byte {
	h := sha256.Sum256([]byte("global:" + name))
	return h[:8]
}

// routeData is shared_accounts_route's data: id, a one-step route plan
// (Whirlpool), the amounts, the slippage and no platform fee.
func routeData(s swapSpec) []byte {
	b := append([]byte{}, discriminator("shared_accounts_route")...)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = append(b, 17, 1, 100, 0, 1) // Whirlpool{a_to_b: true}, percent, input and output index
	b = binary.LittleEndian.AppendUint64(b, s.inAmount)
	b = binary.LittleEndian.AppendUint64(b, s.quotedOut)
	b = binary.LittleEndian.AppendUint16(b, s.slippageBps)
	return append(b, 0)
}

func (w *jupWorld) txBase64(t testing.TB, s swapSpec) string {
	ro := func(k sol.PublicKey) *sol.AccountMeta { return sol.Meta(k) }
	rw := func(k sol.PublicKey) *sol.AccountMeta { return sol.Meta(k).WRITE() }
	accts := sol.AccountMetaSlice{ro(sol.TokenProgramID), ro(w.authority), sol.Meta(w.wallet).SIGNER(),
		rw(s.source), rw(w.shared(s.in)), rw(w.shared(s.out)), rw(s.dest), ro(s.in), ro(s.out), ro(jupiter.ProgramID),
		ro(jupiter.ProgramID), ro(jupiter.EventAuthority), ro(jupiter.ProgramID)}
	for _, a := range w.amms {
		accts = append(accts, rw(a))
	}
	wsol := w.ata(w.wallet, sol.WrappedSol)
	ixs := []sol.Instruction{
		computebudget.NewSetComputeUnitLimitInstruction(388_876).Build(),
		computebudget.NewSetComputeUnitPriceInstruction(10_000).Build(),
		ataprog.NewCreateIdempotentInstruction(w.wallet, w.wallet, sol.WrappedSol).Build(),
	}
	if s.wrap > 0 {
		ixs = append(ixs, system.NewTransferInstruction(s.wrap, w.wallet, wsol).Build(), token.NewSyncNativeInstruction(wsol).Build())
	}
	if !s.out.Equals(sol.WrappedSol) {
		ixs = append(ixs, ataprog.NewCreateIdempotentInstruction(w.wallet, w.wallet, s.out).Build())
	}
	ixs = append(ixs, sol.NewInstruction(jupiter.ProgramID, accts, routeData(s)),
		token.NewCloseAccountInstruction(wsol, w.wallet, w.wallet, nil).Build())
	ixs = append(ixs, s.extra...)
	var bh sol.Hash
	copy(bh[:], w.table[:])
	tx, err := sol.NewTransaction(ixs, bh, sol.TransactionPayer(w.wallet),
		sol.TransactionAddressTables(map[sol.PublicKey]sol.PublicKeySlice(w.tables)))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tx.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}
