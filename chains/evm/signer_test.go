package evm

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// digestSigner is a TxSigner the way a KMS or an HSM is one: it holds a
// key it never shows and signs 32-byte digests; a transaction is signed by
// signing its signing hash. tamper, when set, changes its answer.
type digestSigner struct {
	key    *ecdsa.PrivateKey
	secret string // stands for a KMS client's credentials
	tamper func(tx *types.Transaction, chainID *big.Int) (*types.Transaction, error)
	asked  int
}

func (d *digestSigner) Address() common.Address { return crypto.PubkeyToAddress(d.key.PublicKey) }

func (d *digestSigner) SignTx(_ context.Context, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	d.asked++
	if d.tamper != nil {
		return d.tamper(tx, chainID)
	}
	ls := types.LatestSignerForChainID(chainID)
	h := ls.Hash(tx)
	sig, err := crypto.Sign(h[:], d.key)
	if err != nil {
		return nil, err
	}
	return tx.WithSignature(ls, sig)
}

func (d *digestSigner) SignHash(_ context.Context, h common.Hash) ([]byte, error) {
	d.asked++
	return crypto.Sign(h[:], d.key)
}

// A key held elsewhere signs through the Wallet like a key in memory: the
// approved transfer is mined, the signer was asked once.
func TestHeldSignerSends(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	e.mine(t)
	key, _ := crypto.HexToECDSA(e.keys[0])
	ds := &digestSigner{key: key}
	w, err := NewWallet(e.c, NewSigner(ds), WithPollInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := testEngine(t)
	rec, err := w.Send(ctx, decide(t, eng, ethTransfer(w, e.addrs[1], 12345)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := w.Wait(ctx, rec.Hash); err != nil || got.Status != TxMined {
		t.Fatalf("%+v %v", got, err)
	}
	if ds.asked != 1 {
		t.Fatalf("signer asked %d times, want 1", ds.asked)
	}
	bal, _ := e.c.Balance(ctx, e.addrs[1])
	if want := new(big.Int).Add(new(big.Int).Mul(big.NewInt(1000), ether), big.NewInt(12345)); bal.Cmp(want) != 0 {
		t.Fatalf("recipient has %s, want %s", bal, want)
	}
}

// Whatever a held signer answers other than the approved transaction,
// signed by its account, is dropped before the journal: nothing is sent,
// no nonce is used, the approval's charge is given back, and the error is
// one line that says what was wrong.
func TestHeldSignerAnswerIsChecked(t *testing.T) {
	e := newSim(t, 2)
	key, _ := crypto.HexToECDSA(e.keys[0])
	other, _ := crypto.HexToECDSA(e.keys[1])
	signWith := func(k *ecdsa.PrivateKey, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
		return types.SignTx(tx, types.LatestSignerForChainID(chainID), k)
	}
	cases := []struct {
		name   string
		tamper func(*types.Transaction, *big.Int) (*types.Transaction, error)
		want   error
		says   string
	}{
		{"more value", func(tx *types.Transaction, id *big.Int) (*types.Transaction, error) {
			d := &types.DynamicFeeTx{ChainID: tx.ChainId(), Nonce: tx.Nonce(), GasTipCap: tx.GasTipCap(), GasFeeCap: tx.GasFeeCap(),
				Gas: tx.Gas(), To: tx.To(), Value: new(big.Int).Mul(tx.Value(), big.NewInt(100)), Data: tx.Data()}
			return signWith(key, types.NewTx(d), id)
		}, ErrSignerMisbehaved, "different transaction"},
		{"other recipient", func(tx *types.Transaction, id *big.Int) (*types.Transaction, error) {
			to := common.HexToAddress("0x00000000000000000000000000000000000bad01")
			d := &types.DynamicFeeTx{ChainID: tx.ChainId(), Nonce: tx.Nonce(), GasTipCap: tx.GasTipCap(), GasFeeCap: tx.GasFeeCap(),
				Gas: tx.Gas(), To: &to, Value: tx.Value(), Data: tx.Data()}
			return signWith(key, types.NewTx(d), id)
		}, ErrSignerMisbehaved, "different transaction"},
		{"other key", func(tx *types.Transaction, id *big.Int) (*types.Transaction, error) {
			return signWith(other, tx, id)
		}, ErrSignerMisbehaved, "not " + crypto.PubkeyToAddress(key.PublicKey).Hex()},
		{"unsigned", func(tx *types.Transaction, _ *big.Int) (*types.Transaction, error) { return tx, nil }, ErrSignerMisbehaved, "does not verify"},
		{"nothing", func(*types.Transaction, *big.Int) (*types.Transaction, error) { return nil, nil }, ErrSignerMisbehaved, "no transaction"},
		{"refused", func(*types.Transaction, *big.Int) (*types.Transaction, error) {
			return nil, fmt.Errorf("%w: the KMS key policy denies kms:Sign to this role", ErrSignerRefused)
		}, ErrSignerRefused, "kms:Sign"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			ds := &digestSigner{key: key, tamper: tc.tamper}
			w, err := NewWallet(e.c, NewSigner(ds))
			if err != nil {
				t.Fatal(err)
			}
			eng, ledger := testEngine(t)
			_, err = w.Send(ctx, decide(t, eng, ethTransfer(w, e.addrs[1], 777)))
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "nothing was sent") || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want %v saying %q and that nothing was sent, on one line", err, tc.want, tc.says)
			}
			t.Log(err)
			if ds.asked != 1 {
				t.Fatalf("signer asked %d times, want 1", ds.asked)
			}
			if n := len(records(w)); n != 0 {
				t.Fatalf("%d journal rows, want none", n)
			}
			if n := e.pendingNonce(t, w.Address()); n != 0 {
				t.Fatalf("pending nonce %d: something was broadcast", n)
			}
			if s, _ := ledger.Spent(ctx, "default/1337/native", time.Time{}); s.Sign() != 0 {
				t.Fatalf("still charged %s after signing failed", s)
			}
		})
	}
}

// A held signer's digest signature is normalised (v 0/1, low s, as
// crypto.Sign gives) and must recover to its account.
func TestHeldSignerDigestChecked(t *testing.T) {
	ctx := context.Background()
	key, _ := crypto.GenerateKey()
	other, _ := crypto.GenerateKey()
	addr := crypto.PubkeyToAddress(key.PublicKey)
	h := crypto.Keccak256Hash([]byte("a safeTxHash"))
	want, _ := crypto.Sign(h[:], key)
	n := crypto.S256().Params().N

	highS := append([]byte(nil), want...)
	new(big.Int).Sub(n, new(big.Int).SetBytes(want[32:64])).FillBytes(highS[32:64])
	highS[64] = (want[64] ^ 1) + 27
	for name, sig := range map[string][]byte{"as is": want, "v 27/28": append(append([]byte(nil), want[:64]...), want[64]+27), "high s": highS} {
		got, err := checkDigestSig(h, sig, addr)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %x, %v; want %x", name, got, err, want)
		}
	}
	otherSig, _ := crypto.Sign(h[:], other)
	for name, sig := range map[string][]byte{"other key": otherSig, "short": want[:64], "bad v": append(append([]byte(nil), want[:64]...), 5)} {
		if _, err := checkDigestSig(h, sig, addr); !errors.Is(err, ErrSignerMisbehaved) {
			t.Fatalf("%s: err = %v", name, err)
		}
	}
	// Through a Signer: a HashSigner is used; a TxSigner that signs
	// transactions only says so.
	s := NewSigner(&digestSigner{key: key})
	if got, err := s.signDigest(ctx, h, nil); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("held: %x, %v", got, err)
	}
	if _, err := NewSigner(txOnly{addr}).signDigest(ctx, h, func() []byte { return []byte("{}") }); !errors.Is(err, ErrTxOnlySigner) {
		t.Fatalf("tx-only: %v", err)
	}
}

type txOnly struct{ addr common.Address }

func (s txOnly) Address() common.Address { return s.addr }
func (txOnly) SignTx(context.Context, *types.Transaction, *big.Int) (*types.Transaction, error) {
	return nil, errors.New("not asked in this test")
}

// Holding a Signer is not holding the key: the TxSigner inside one made by
// NewSigner is not reachable by a type assertion, and none of the ways a
// value gets printed, logged or marshalled shows it.
func TestSignerKeepsTxSignerInside(t *testing.T) {
	key, _ := crypto.GenerateKey()
	ds := &digestSigner{key: key, secret: "AKIA-SECRET-CREDENTIAL"}
	s := NewSigner(ds)
	if _, ok := s.(TxSigner); ok {
		t.Fatal("a Signer can be asserted to a TxSigner and sign anything")
	}
	if _, ok := s.(HashSigner); ok {
		t.Fatal("a Signer can be asserted to a HashSigner and sign anything")
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("signer", "s", s)
	js, _ := json.Marshal(s)
	out := fmt.Sprintf("%v %+v %#v %s %x %q", s, s, s, s, s, s) + logs.String() + string(js)
	keyHex := fmt.Sprintf("%x", crypto.FromECDSA(key))
	if strings.Contains(out, ds.secret) || strings.Contains(out, keyHex) || strings.Contains(strings.ToLower(out), "digestsigner") {
		t.Fatalf("a Signer's output reaches what it holds:\n%s", out)
	}
	if !strings.Contains(out, ds.Address().Hex()) {
		t.Fatalf("a Signer's output lacks its address:\n%s", out)
	}
	if NewSigner(nil) != nil {
		t.Fatal("NewSigner(nil) is not nil")
	}
	// Keystore and raw-key signers have no exported signing method either.
	ks, _ := NewKeySigner("0x" + fmt.Sprintf("%x", crypto.FromECDSA(key)))
	if _, ok := ks.(TxSigner); ok {
		t.Fatal("a key Signer is a TxSigner")
	}
	if _, ok := ks.(HashSigner); ok {
		t.Fatal("a key Signer is a HashSigner")
	}
}

// A signer that does not answer while the wallet holds the nonce (one
// waiting for a person, say) is given up at the nonce lock timeout, and
// the error says how to allow it longer.
func TestHeldSignerSlowerThanNonceLock(t *testing.T) {
	ctx := context.Background()
	e := newSim(t, 2)
	key, _ := crypto.HexToECDSA(e.keys[0])
	w, err := NewWallet(e.c, NewSigner(&waitingSigner{&digestSigner{key: key}}), WithNonceLockTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	eng, ledger := testEngine(t)
	_, err = w.Send(ctx, decide(t, eng, ethTransfer(w, e.addrs[1], 777)))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "WithNonceLockTimeout") || !strings.Contains(err.Error(), "nothing was sent") {
		t.Fatalf("err = %v", err)
	}
	t.Log(err)
	if n := len(records(w)); n != 0 {
		t.Fatalf("%d journal rows, want none", n)
	}
	if s, _ := ledger.Spent(ctx, "default/1337/native", time.Time{}); s.Sign() != 0 {
		t.Fatalf("still charged %s", s)
	}
}

// waitingSigner answers only when its context ends.
type waitingSigner struct{ *digestSigner }

func (s *waitingSigner) SignTx(ctx context.Context, _ *types.Transaction, _ *big.Int) (*types.Transaction, error) {
	<-ctx.Done()
	return nil, fmt.Errorf("%w: no answer: %w", ErrSignerUnreachable, ctx.Err())
}
