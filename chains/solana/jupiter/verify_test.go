package jupiter

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	sol "github.com/gagliardetto/solana-go"
	ataprog "github.com/gagliardetto/solana-go/programs/associated-token-account"
	"github.com/gagliardetto/solana-go/programs/system"
	"github.com/gagliardetto/solana-go/programs/token"

	"github.com/mandatehq/mandate/chains/solana"
	"github.com/mandatehq/mandate/policies"
)

var fixedNow = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return fixedNow }

// verify runs Verify on s's wire form against q (the quote JSON).
func (w *world) verify(t *testing.T, s swapTx, quote string, opts ...Option) (policies.Intent, error) {
	t.Helper()
	q, err := ParseQuote([]byte(quote))
	if err != nil {
		t.Fatalf("the recorded quote does not parse: %v", err)
	}
	_, tx := w.wire(t, s)
	opts = append([]Option{WithTables(w.tables), WithClock(clock), WithChain("solana-mainnet")}, opts...)
	return Verify(context.Background(), q, tx, w.wallet, w.look, opts...)
}

// The IDL publishes each instruction's discriminator; the ones this
// package derives must be those bytes.
func TestDiscriminatorsAreTheIDLs(t *testing.T) {
	idl := map[string][8]byte{
		"route":                           {229, 23, 203, 151, 122, 227, 173, 42},
		"shared_accounts_route":           {193, 32, 155, 51, 65, 214, 156, 129},
		"exact_out_route":                 {208, 51, 239, 151, 123, 43, 237, 92},
		"shared_accounts_exact_out_route": {176, 209, 105, 168, 154, 125, 69, 62},
		"route_with_token_ledger":         {150, 86, 71, 116, 167, 93, 14, 104},
		"claim":                           {62, 198, 214, 193, 213, 159, 108, 210},
	}
	for name, want := range idl {
		if got := discriminator(name); got != want {
			t.Errorf("%s: derived %v, the IDL says %v", name, got, want)
		}
	}
	if len(routeDiscriminators) != 4 {
		t.Fatalf("%d route discriminators", len(routeDiscriminators))
	}
}

func TestVerifyGoodSOLtoUSDC(t *testing.T) {
	w := newWorld(t)
	s := w.goodSOLtoUSDC()
	in, err := w.verify(t, s, quoteJSON(s))
	if err != nil {
		t.Fatal(err)
	}
	sw, ok := in.(policies.Swap)
	if !ok {
		t.Fatalf("intent is %T", in)
	}
	minOut := new(big.Int).SetUint64(s.quotedOut)
	minOut.Mul(minOut, big.NewInt(10000-int64(s.slippageBps)))
	minOut.Quo(minOut, big.NewInt(10000))
	want := policies.Swap{
		Header: policies.Header{Chain: "solana-mainnet", From: w.wallet.String()},
		Venue:  "jupiter", TokenIn: solana.SOL, AmountIn: new(big.Int).SetUint64(s.inAmount),
		TokenOut: policies.Token{Address: mintUSDC.String(), Decimals: 6},
		Quoted:   new(big.Int).SetUint64(s.quotedOut), MinOut: minOut, Recipient: w.wallet.String(),
		SlippageBps: uint32(s.slippageBps), Deadline: fixedNow.Add(DefaultWindow).Unix(),
	}
	gotJSON, _ := policies.Marshal(sw)
	wantJSON, _ := policies.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Fatalf("intent\n got %s\nwant %s", gotJSON, wantJSON)
	}
}

func TestVerifyGoodUSDCtoSOLThroughRoute(t *testing.T) {
	w := newWorld(t)
	s := w.goodUSDCtoSOL()
	in, err := w.verify(t, s, quoteJSON(s))
	if err != nil {
		t.Fatal(err)
	}
	sw := in.(policies.Swap)
	if sw.TokenIn.Address != mintUSDC.String() || !sw.TokenOut.Native() || sw.AmountIn.Uint64() != s.inAmount || sw.Quoted.Uint64() != s.quotedOut {
		t.Fatalf("intent %+v", sw)
	}
	// Without the close the output stays wSOL, a token like any other.
	s.closeWSOL = false
	in, err = w.verify(t, s, quoteJSON(s))
	if err != nil {
		t.Fatal(err)
	}
	if out := in.(policies.Swap).TokenOut; out.Native() || out.Address != mintWSOL.String() {
		t.Fatalf("token out %+v, want the wSOL mint", out)
	}
}

// The signer's decoder reads the same transaction into the same intent,
// so the approval of Verify's intent covers what is signed.
func TestDecoderYieldsVerifiedIntent(t *testing.T) {
	w := newWorld(t)
	s := w.goodSOLtoUSDC()
	q, err := ParseQuote([]byte(quoteJSON(s)))
	if err != nil {
		t.Fatal(err)
	}
	_, tx := w.wire(t, s)
	if !IsSwap(tx) {
		t.Fatal("IsSwap is false for a Jupiter transaction")
	}
	in, err := Verify(context.Background(), q, tx, w.wallet, w.look, WithTables(w.tables), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(in)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dec.Decode(context.Background(), tx, in.Head().Chain, w.look)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := policies.Digest(in)
	if len(d.Intents) != 1 {
		t.Fatalf("%d intents", len(d.Intents))
	}
	if got, _ := policies.Digest(d.Intents[0]); got != want {
		t.Fatal("the decoder's intent differs from Verify's")
	}
	if !d.Fees.PriceSet || d.Fees.UnitPrice != s.unitPrice || d.Fees.UnitLimit != 388_876 {
		t.Fatalf("fees %+v", d.Fees)
	}
	// A fresh copy off the wire, resolved by the decoder itself.
	_, tx2 := w.wire(t, s)
	dec.Options = append(dec.Options, WithTables(w.tables))
	if d, err = dec.Decode(context.Background(), tx2, in.Head().Chain, w.look); err != nil {
		t.Fatal(err)
	}
	if got, _ := policies.Digest(d.Intents[0]); got != want {
		t.Fatal("the decoder's intent differs from Verify's")
	}
	// The resolved message still serializes to the bytes Jupiter sent.
	b1, _ := tx.Message.MarshalBinary()
	b2, _ := w.tx(t, s).Message.MarshalBinary()
	if string(b1) != string(b2) {
		t.Fatal("resolving the lookup tables changed the message's bytes")
	}
}

func TestVerifyRefusesTampered(t *testing.T) {
	w := newWorld(t)
	stranger := w.stranger
	other := mustATA(t, stranger, mintWSOL)
	good := w.goodSOLtoUSDC()
	cases := []struct {
		name   string
		tamper func(s *swapTx)
		quote  string // "" = the good quote
		want   string
		is     error
	}{
		{"amount in changed", func(s *swapTx) { s.inAmount, s.wrap = 2_000_000_000, 2_000_000_000 }, "", "puts in 2000000000 base units, the quote 1000000000", ErrRefused},
		{"wrap larger than the swap", func(s *swapTx) { s.wrap = 5_000_000_000 }, "", "wraps 5000000000 lamports, the swap puts in 1000000000", ErrRefused},
		{"output mint changed", func(s *swapTx) { s.out, s.dest = mintBONK, w.walletBONK }, "", "swaps into mint " + mintBONK.String(), ErrRefused},
		{"min out lowered by slippage", func(s *swapTx) { s.slippageBps = 5000 }, "", "allows 5000 bps of slippage, the quote 50", ErrRefused},
		{"min out lowered by the quoted out", func(s *swapTx) { s.quotedOut = 100_000_000 }, "", "expects 100000000 base units out, the quote 150123456", ErrRefused},
		{"destination not the wallet's", func(s *swapTx) { s.dest = w.strangerUSDC }, "", "the destination token account " + w.strangerUSDC.String() + " belongs to " + stranger.String(), ErrRefused},
		{"destination mint differs from the account", func(s *swapTx) { s.destMint = &mintBONK }, "", "names destination mint " + mintBONK.String(), ErrRefused},
		{"source not the wallet's", func(s *swapTx) { s.source, s.wrap, s.closeWSOL = other, 0, false }, "", "the source token account " + other.String() + " does not exist", ErrRefused},
		{"source a stranger's", func(s *swapTx) { *s = w.goodUSDCtoSOL(); s.source = w.strangerUSDC }, quoteJSON(w.goodUSDCtoSOL()), "the source token account " + w.strangerUSDC.String() + " belongs to " + stranger.String(), ErrRefused},
		{"route pays out to another account", func(s *swapTx) { *s = w.goodUSDCtoSOL(); s.routeDest = &other }, quoteJSON(w.goodUSDCtoSOL()), "pays its output to " + other.String() + ", not the wallet's destination account", ErrRefused},
		{"extra SPL transfer to a stranger", func(s *swapTx) {
			s.extra = append(s.extra, token.NewTransferInstruction(1_000_000, w.walletUSDC, w.strangerUSDC, w.wallet, nil).Build())
		}, "", "Token Transfer is no part of a Jupiter swap", ErrRefused},
		{"extra System transfer", func(s *swapTx) {
			s.extra = append(s.extra, system.NewTransferInstruction(1, w.wallet, stranger).Build())
		}, "", "a System transfer of 1 lamports to " + stranger.String(), ErrRefused},
		{"approve to a stranger", func(s *swapTx) {
			s.extra = append(s.extra, token.NewApproveInstruction(1<<63, w.walletUSDC, stranger, w.wallet, nil).Build())
		}, "", "Token Approve is no part of a Jupiter swap", ErrRefused},
		{"unknown program", func(s *swapTx) {
			s.extra = append(s.extra, sol.NewInstruction(key(t, "drainer"), sol.AccountMetaSlice{sol.Meta(w.wallet).SIGNER().WRITE()}, []byte{7}))
		}, "", "a call to a program a Jupiter swap does not need", ErrRefused},
		{"close the wSOL account to a stranger", func(s *swapTx) {
			s.extra = append(s.extra, token.NewCloseAccountInstruction(w.walletWSOL, stranger, w.wallet, nil).Build())
		}, "", "CloseAccount of " + w.walletWSOL.String() + " to " + stranger.String(), ErrRefused},
		{"create a stranger's account", func(s *swapTx) {
			s.extra = append(s.extra, ataprog.NewCreateIdempotentInstruction(w.wallet, stranger, mintUSDC).Build())
		}, "", "creates a token account for " + stranger.String(), ErrRefused},
		{"platform fee not asked for", func(s *swapTx) { s.feeBps, s.feeAccount = 100, &w.strangerUSDC }, "", "pays a platform fee of 100 bps to " + w.strangerUSDC.String(), ErrRefused},
		{"trailing bytes after the arguments", func(s *swapTx) { s.trailing = []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} }, "", "19 bytes follow its arguments", ErrRefused},
		{"unknown swap variant", func(s *swapTx) { s.plan = []byte{1, 0, 0, 0, 200, 100, 0, 1} }, "", "swap variant 200, which this verifier does not know", ErrRefused},
		{"second route", func(s *swapTx) { s.extra = append(s.extra, w.routeIx(w.goodSOLtoUSDC())) }, "", "a second Jupiter instruction", ErrRefused},
		{"quote for other mints", func(s *swapTx) {}, quoteJSONFor(mintUSDC, mintBONK, good.inAmount, good.quotedOut, good.slippageBps), "swaps mint " + mintWSOL.String() + ", the quote's input is " + mintUSDC.String(), ErrRefused},
		{"quote floor above the transaction's", func(s *swapTx) {}, strings.Replace(quoteJSON(good), `"otherAmountThreshold":"149372838"`, `"otherAmountThreshold":"149372839"`, 1), "below the quote's floor 149372839", ErrRefused},
		{"exact out", func(s *swapTx) { s.kind = kindExactOutRoute }, "", "not supported yet", ErrNotSupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := w.goodSOLtoUSDC()
			c.tamper(&s)
			q := c.quote
			if q == "" {
				q = quoteJSON(good)
			}
			in, err := w.verify(t, s, q)
			if err == nil {
				t.Fatalf("verified: %+v", in)
			}
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q\nwant %v containing %q", err, c.is, c.want)
			}
			t.Log(err)
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestVerifyRefusesUnresolvedTables(t *testing.T) {
	w := newWorld(t)
	s := w.goodSOLtoUSDC()
	q, _ := ParseQuote([]byte(quoteJSON(s)))
	_, tx := w.wire(t, s)
	_, err := Verify(context.Background(), q, tx, w.wallet, w.look)
	if !errors.Is(err, ErrUnresolvedTables) || !strings.Contains(err.Error(), "WithTables") {
		t.Fatalf("no tables: %v", err)
	}
	_, tx = w.wire(t, s)
	_, err = Verify(context.Background(), q, tx, w.wallet, w.look, WithTables(StaticTables{}))
	if !errors.Is(err, ErrUnresolvedTables) || !strings.Contains(err.Error(), w.table.String()) {
		t.Fatalf("unknown table: %v", err)
	}
	// A table shorter than the indexes the transaction uses.
	_, tx = w.wire(t, s)
	_, err = Verify(context.Background(), q, tx, w.wallet, w.look, WithTables(StaticTables{w.table: w.tables[w.table][:2]}))
	if !errors.Is(err, ErrUnresolvedTables) {
		t.Fatalf("short table: %v", err)
	}
	// The same swap built without tables needs none.
	s.legacy = true
	if _, err := w.verify(t, s, quoteJSON(s)); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAgreedPlatformFee(t *testing.T) {
	w := newWorld(t)
	s := w.goodSOLtoUSDC()
	feeAcct := mustATA(t, key(t, "integrator"), mintUSDC)
	s.feeBps, s.feeAccount = 20, &feeAcct
	q := strings.Replace(quoteJSON(s), `"platformFee":null`, `"platformFee":{"amount":"300246","feeBps":20}`, 1)
	if _, err := w.verify(t, s, q, WithPlatformFee(feeAcct, 20)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.verify(t, s, q, WithPlatformFee(feeAcct, 10)); !errors.Is(err, ErrRefused) {
		t.Fatalf("fee over the agreed bps: %v", err)
	}
	if _, err := w.verify(t, s, q); !errors.Is(err, ErrRefused) {
		t.Fatalf("fee with none agreed: %v", err)
	}
}

// Route data that lies about its length, or ends early, never panics and
// never verifies.
func TestParseRouteRefusesMalformed(t *testing.T) {
	for _, data := range [][]byte{
		nil, {0}, {1, 0, 0, 0}, {255, 255, 255, 255, 1, 2, 3},
		{1, 0, 0, 0, 47, 1, 1, 255, 255, 255, 255},
		{1, 0, 0, 0, 47, 1, 2, 100, 0, 1},
		{0, 0, 0, 0},
	} {
		if _, err := parseRoute(kindRoute, data); err == nil {
			t.Errorf("%x parsed", data)
		}
	}
	for i := range 2000 {
		h := sha256.Sum256(binary.LittleEndian.AppendUint32(nil, uint32(i)))
		data := append([]byte{1, 0, 0, 0}, h[:i%32]...)
		_, _ = parseRoute(kindSharedAccountsRoute, data)
	}
}

// Any change to the bytes Jupiter sent either fails to decode, is refused,
// or leaves the intent exactly as verified: nothing a flipped byte does
// slips through as a different swap.
func TestVerifyMutatedBytes(t *testing.T) {
	w := newWorld(t)
	s := w.goodSOLtoUSDC()
	q, err := ParseQuote([]byte(quoteJSON(s)))
	if err != nil {
		t.Fatal(err)
	}
	good, err := w.verify(t, s, quoteJSON(s))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := policies.Digest(good)
	raw, err := w.tx(t, s).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	verified := 0
	for i := range 4000 {
		h := sha256.Sum256(binary.LittleEndian.AppendUint32(nil, uint32(i)))
		b := append([]byte{}, raw...)
		for j := 0; j < 1+int(h[0]%3); j++ {
			pos := int(binary.LittleEndian.Uint32(h[4+4*j:])) % len(b)
			b[pos] ^= h[20+j] | 1
		}
		tx, err := sol.TransactionFromBytes(b)
		if err != nil {
			continue
		}
		in, err := Verify(context.Background(), q, tx, w.wallet, w.look, WithTables(w.tables), WithClock(clock))
		if err != nil {
			continue
		}
		verified++
		if got, _ := policies.Digest(in); got != want {
			got, _ := policies.Marshal(in)
			t.Fatalf("mutation %d verified as a different swap: %s", i, got)
		}
	}
	t.Logf("%d of 4000 mutations still verified as the same swap (signatures, blockhash, AMM accounts)", verified)
}
