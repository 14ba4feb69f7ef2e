package evm_test

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/policies"
)

// typedSigner signs EIP-712 documents the way Clef's account_signTypedData
// does: it reads the document, hashes it itself and signs that hash (v
// 27/28). edit, when set, changes the document before it is hashed.
type typedSigner struct {
	key   *ecdsa.PrivateKey
	edit  func(*apitypes.TypedData)
	docs  []apitypes.TypedData
	asked int
}

func (s *typedSigner) Address() common.Address { return crypto.PubkeyToAddress(s.key.PublicKey) }

func (s *typedSigner) SignTx(context.Context, *types.Transaction, *big.Int) (*types.Transaction, error) {
	return nil, errors.New("not asked in this test")
}

func (s *typedSigner) SignTypedData(_ context.Context, doc []byte) ([]byte, error) {
	s.asked++
	var td apitypes.TypedData
	if err := json.Unmarshal(doc, &td); err != nil {
		return nil, err
	}
	s.docs = append(s.docs, td)
	if s.edit != nil {
		s.edit(&td)
	}
	h, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		return nil, err
	}
	sig, err := crypto.Sign(h, s.key)
	if err != nil {
		return nil, err
	}
	sig[64] += 27
	return sig, nil
}

// hashSigner signs digests as they are, as a KMS does.
type hashSigner struct {
	key   *ecdsa.PrivateKey
	asked int
}

func (s *hashSigner) Address() common.Address { return crypto.PubkeyToAddress(s.key.PublicKey) }
func (s *hashSigner) SignTx(context.Context, *types.Transaction, *big.Int) (*types.Transaction, error) {
	return nil, errors.New("not asked in this test")
}
func (s *hashSigner) SignHash(_ context.Context, h common.Hash) ([]byte, error) {
	s.asked++
	return crypto.Sign(h[:], s.key)
}

type txOnlySigner struct{ addr common.Address }

func (s txOnlySigner) Address() common.Address { return s.addr }
func (txOnlySigner) SignTx(context.Context, *types.Transaction, *big.Int) (*types.Transaction, error) {
	return nil, errors.New("not asked in this test")
}

// safeApproval is an approval of a Safe transaction paying 0.1 ETH, for
// Safe version v on chain 1337.
func safeApproval(t *testing.T, v safe.Version, nonce int64) (policies.Approval, common.Hash) {
	t.Helper()
	safeAddr := common.HexToAddress("0x5afe00000000000000000000000000000000cafe")
	tx := safe.Tx{Safe: safeAddr, ChainID: big.NewInt(1337), To: common.HexToAddress("0x00000000000000000000000000000000000f00d1"),
		Value: big.NewInt(1e17), Nonce: big.NewInt(nonce), SafeTxGas: big.NewInt(50_000), BaseGas: big.NewInt(21_000), GasPrice: new(big.Int)}
	in, err := safe.Decoder{Version: v}.Decode(tx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policies.Parse([]byte("version: 1\nchains: [1337]\nlimits:\n  per_tx: {ETH: \"1\"}\n  daily: {ETH: \"100\"}\nsafe: {self_calls: false, refund: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ap, err := policies.NewEngine(p, policies.NewMemLedger()).Decide(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return ap, common.HexToHash(in.SafeTxHash)
}

// A Safe owner's key held elsewhere confirms a Safe transaction: a signer
// of typed data is given the SafeTx as an EIP-712 document of the Safe's
// version, one of digests the safeTxHash; both signatures are what the
// Safe verifies (v 27/28, recovering to the owner over the safeTxHash).
func TestSignSafeTxHeldElsewhere(t *testing.T) {
	ctx := context.Background()
	key, _ := crypto.GenerateKey()
	owner := crypto.PubkeyToAddress(key.PublicKey)
	for _, ver := range []string{"0.1.0", "1.1.1", "1.3.0", "1.4.1"} {
		v, _ := safe.ParseVersion(ver)
		t.Run(ver, func(t *testing.T) {
			ks, _ := evm.NewKeySigner(common.Bytes2Hex(crypto.FromECDSA(key)))
			ap, h := safeApproval(t, v, 3)
			want, err := evm.SignSafeTx(ctx, ks, ap, safe.Hasher(v))
			if err != nil {
				t.Fatal(err)
			}
			ts := &typedSigner{key: key}
			ap, _ = safeApproval(t, v, 3)
			got, err := evm.SignSafeTx(ctx, evm.NewSigner(ts), ap, safe.Hasher(v))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) || ts.asked != 1 {
				t.Fatalf("typed data: %x (asked %d), want %x", got, ts.asked, want)
			}
			if doc := ts.docs[0]; doc.PrimaryType != "SafeTx" || doc.Message["nonce"] != "3" || doc.Message["value"] != "100000000000000000" ||
				(doc.Domain.ChainId != nil) != v.ChainBound() {
				t.Fatalf("document: %+v", doc)
			}
			hs := &hashSigner{key: key}
			ap, _ = safeApproval(t, v, 3)
			got, err = evm.SignSafeTx(ctx, evm.NewSigner(hs), ap, safe.Hasher(v))
			if err != nil || string(got) != string(want) || hs.asked != 1 {
				t.Fatalf("hash: %x, %v (asked %d), want %x", got, err, hs.asked, want)
			}
			signer, kind, err := safe.Recover(h, got)
			if err != nil || signer != owner || got[64] < 27 {
				t.Fatalf("recovers to %s (%v), %v; want %s", signer.Hex(), kind, err, owner.Hex())
			}
		})
	}
}

// A signer that hashes something else than the safeTxHash (here: the
// document with another nonce) is caught, and one that signs transactions
// only says it cannot confirm.
func TestSignSafeTxHeldElsewhereRefused(t *testing.T) {
	ctx := context.Background()
	key, _ := crypto.GenerateKey()
	v := safe.DefaultVersion
	ts := &typedSigner{key: key, edit: func(td *apitypes.TypedData) { td.Message["nonce"] = "4" }}
	ap, _ := safeApproval(t, v, 3)
	if _, err := evm.SignSafeTx(ctx, evm.NewSigner(ts), ap, safe.Hasher(v)); !errors.Is(err, evm.ErrSignerMisbehaved) {
		t.Fatalf("edited document: err = %v", err)
	}
	ap, _ = safeApproval(t, v, 3)
	_, err := evm.SignSafeTx(ctx, evm.NewSigner(txOnlySigner{crypto.PubkeyToAddress(key.PublicKey)}), ap, safe.Hasher(v))
	if !errors.Is(err, evm.ErrTxOnlySigner) {
		t.Fatalf("tx-only signer: err = %v", err)
	}
	t.Log(err)
}
