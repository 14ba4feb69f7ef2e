package evm

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// Signer is an account's key as this package holds it: what a Wallet signs
// with and evm.SignSafeTx confirms with. It comes from a Keystore, a raw key
// (NewKeySigner), an external signer such as Clef (NewExternalSigner), or
// any key held elsewhere (NewSigner over a TxSigner).
//
// Its signing methods are unexported, and that is the point of the type:
// code that holds a Signer — a tool, the agent, an embedder's callback —
// cannot sign anything with it. Only this package can, and it does so in
// exactly two places, each after an Approval is claimed: Wallet.Send (and
// Replace, which re-signs the call of a transaction Send journaled, fees
// raised) and SignSafeTx. So a signer never sees a transaction the policy
// did not approve. A Signer made by NewSigner keeps the TxSigner inside it
// unreachable, too: holding the Signer is not holding the key.
//
// Signers print as their address only (String, GoString, Format, LogValue,
// MarshalJSON): the key, or whatever reaches it, never gets into a log, an
// error or fmt output.
type Signer interface {
	Address() common.Address
	signTx(ctx context.Context, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error)
	// signDigest signs a 32-byte digest as it is (no message prefix):
	// r ‖ s ‖ v with v 0 or 1 and s in the lower half of the curve order.
	// typed returns the EIP-712 document (JSON) whose hash the digest is,
	// for a signer that signs only what it can read, or nil when there is
	// none; it is called only by signers that need it.
	signDigest(ctx context.Context, digest common.Hash, typed func() []byte) ([]byte, error)
}

// TxSigner is a key held outside this process — a cloud KMS, an HSM, an
// external signer — as a Wallet uses it. Implement it and pass it through
// NewSigner; the Wallet then asks it to sign only transactions the policy
// approved, and checks each answer before using it.
type TxSigner interface {
	// Address is the account whose key signs.
	Address() common.Address
	// SignTx returns tx signed for chainID by Address's key. tx is an
	// EIP-1559 transaction with every field set; the answer must be that
	// transaction, unchanged, with a valid signature of Address: anything
	// else is refused (ErrSignerMisbehaved) and nothing is sent. An error
	// should wrap ErrSignerRefused when the key's owner or its rules said
	// no, and ErrSignerUnreachable when the key could not be asked.
	SignTx(ctx context.Context, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error)
}

// HashSigner is a TxSigner that can also sign a 32-byte digest as it is
// (no prefix, no hashing): what a KMS or an HSM does. SignSafeTx needs it,
// or TypedDataSigner, to confirm a Safe transaction.
type HashSigner interface {
	// SignHash returns r ‖ s ‖ v over hash; v may be 0/1 or 27/28, s high
	// or low: SignSafeTx normalises them and checks the signer.
	SignHash(ctx context.Context, hash common.Hash) ([]byte, error)
}

// TypedDataSigner is a TxSigner that signs EIP-712 typed data, the way
// Clef's account_signTypedData and eth_signTypedData_v4 do: it reads the
// document, may show it or judge it by its own rules, hashes it itself and
// signs the hash. SignSafeTx uses it, before SignHash, for a Safe
// transaction: its safeTxHash is the EIP-712 hash of the SafeTx.
type TypedDataSigner interface {
	// SignTypedData signs the EIP-712 document typedData (JSON:
	// types, primaryType, domain, message) and returns r ‖ s ‖ v.
	SignTypedData(ctx context.Context, typedData []byte) ([]byte, error)
}

// Errors of a signer held elsewhere, for callers that branch on them.
var (
	// ErrSignerUnreachable: the signer could not be asked (down, wrong
	// address, network). Nothing was signed.
	ErrSignerUnreachable = errors.New("evm: the signer is unreachable")
	// ErrSignerRefused: the signer was asked and said no (its operator or
	// its rules). Nothing was signed.
	ErrSignerRefused = errors.New("evm: the signer refused")
	// ErrAccountNotHeld: the signer holds no key for the account.
	ErrAccountNotHeld = errors.New("evm: the signer holds no key for this account")
	// ErrSignerMisbehaved: the signer answered with something other than
	// a signature of its account over what it was asked to sign. The
	// answer is dropped; nothing was sent.
	ErrSignerMisbehaved = errors.New("evm: the signer's answer is not its signature of what it was asked to sign")
	// ErrTxOnlySigner: a Safe confirmation was asked of a signer that
	// signs transactions only (a TxSigner that is neither a HashSigner nor
	// a TypedDataSigner).
	ErrTxOnlySigner = errors.New("evm: this signer signs transactions only, not a Safe transaction's hash; give it SignHash or SignTypedData")
)

// NewSigner makes a Signer of a key held elsewhere. The Signer keeps ts to
// itself: whoever gets the Signer (a Wallet, a tool, the co-signer) can
// have it sign only what an Approval allows, never call ts directly. It
// checks every answer of ts: a transaction must come back unchanged and
// signed by ts.Address(), a digest's signature must recover to it. NewSigner
// of nil is nil.
func NewSigner(ts TxSigner) Signer {
	if ts == nil {
		return nil
	}
	return &heldSigner{ts: ts, addr: ts.Address()}
}

// heldSigner is a Signer over a TxSigner. Its fields are unexported and it
// has no exported method that signs: the TxSigner stays out of reach.
type heldSigner struct {
	ts   TxSigner
	addr common.Address
}

func (s *heldSigner) Address() common.Address { return s.addr }

func (s *heldSigner) signTx(ctx context.Context, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	signed, err := s.ts.SignTx(ctx, tx, chainID)
	if err != nil {
		return nil, err
	}
	if err := checkSignedTx(tx, signed, chainID, s.addr); err != nil {
		return nil, err
	}
	return signed, nil
}

// checkSignedTx requires signed to be unsigned with a valid signature of
// want: same type and same signing hash (which covers chain, nonce, fees,
// gas, recipient, value, data and access list).
func checkSignedTx(unsigned, signed *types.Transaction, chainID *big.Int, want common.Address) error {
	if signed == nil {
		return fmt.Errorf("%w: it returned no transaction", ErrSignerMisbehaved)
	}
	ls := types.LatestSignerForChainID(chainID)
	if signed.Type() != unsigned.Type() || ls.Hash(signed) != ls.Hash(unsigned) {
		return fmt.Errorf("%w: it returned a different transaction (signing hash %s, asked %s)", ErrSignerMisbehaved, ls.Hash(signed).Hex(), ls.Hash(unsigned).Hex())
	}
	from, err := types.Sender(ls, signed)
	if err != nil {
		return fmt.Errorf("%w: the signature does not verify (%v)", ErrSignerMisbehaved, err)
	}
	if from != want {
		return fmt.Errorf("%w: it signed with %s's key, not %s's", ErrSignerMisbehaved, from.Hex(), want.Hex())
	}
	return nil
}

func (s *heldSigner) signDigest(ctx context.Context, digest common.Hash, typed func() []byte) ([]byte, error) {
	var sig []byte
	var err error
	td, canTyped := s.ts.(TypedDataSigner)
	hs, canHash := s.ts.(HashSigner)
	var doc []byte
	if canTyped && typed != nil {
		doc = typed()
	}
	switch {
	case doc != nil:
		sig, err = td.SignTypedData(ctx, doc)
	case canHash:
		sig, err = hs.SignHash(ctx, digest)
	case canTyped:
		return nil, fmt.Errorf("%w (it signs typed data, and this hash has no typed form known here)", ErrTxOnlySigner)
	default:
		return nil, ErrTxOnlySigner
	}
	if err != nil {
		return nil, err
	}
	return checkDigestSig(digest, sig, s.addr)
}

// secp256k1N and its half, for normalising s.
var (
	secp256k1N     = crypto.S256().Params().N
	secp256k1HalfN = new(big.Int).Rsh(secp256k1N, 1)
)

// checkDigestSig normalises a 65-byte signature to v 0/1 and low s (a KMS
// may return either s) and requires it to recover to want over digest.
func checkDigestSig(digest common.Hash, sig []byte, want common.Address) ([]byte, error) {
	if len(sig) != crypto.SignatureLength {
		return nil, fmt.Errorf("%w: a signature is 65 bytes, it returned %d", ErrSignerMisbehaved, len(sig))
	}
	out := append([]byte(nil), sig...)
	switch v := out[64]; v {
	case 0, 1:
	case 27, 28:
		out[64] = v - 27
	default:
		return nil, fmt.Errorf("%w: recovery id v=%d is none of 0, 1, 27, 28", ErrSignerMisbehaved, v)
	}
	if sv := new(big.Int).SetBytes(out[32:64]); sv.Cmp(secp256k1HalfN) > 0 {
		sv.Sub(secp256k1N, sv)
		sv.FillBytes(out[32:64])
		out[64] ^= 1
	}
	pub, err := crypto.SigToPub(digest[:], out)
	if err != nil {
		return nil, fmt.Errorf("%w: the signature does not verify (%v)", ErrSignerMisbehaved, err)
	}
	if got := crypto.PubkeyToAddress(*pub); got != want {
		return nil, fmt.Errorf("%w: it signed with %s's key (or signed another hash), not %s's", ErrSignerMisbehaved, got.Hex(), want.Hex())
	}
	return out, nil
}

func (s *heldSigner) String() string   { return "evm.Signer(" + s.addr.Hex() + ", key held elsewhere)" }
func (s *heldSigner) GoString() string { return s.String() }

// Format prints String for every verb: %#v must not reach ts, which may
// hold a KMS client's credentials.
func (s *heldSigner) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue logs the address only.
func (s *heldSigner) LogValue() slog.Value {
	return slog.GroupValue(slog.String("address", s.addr.Hex()), slog.String("key", "held elsewhere"))
}

// MarshalJSON writes the address only.
func (s *heldSigner) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"address": s.addr.Hex()})
}

// NewKeySigner returns a Signer for a raw hex private key, as given in
// MANDATE_PRIVATE_KEY. For tests and the devnet; anywhere else use a
// Keystore.
func NewKeySigner(hexKey string) (Signer, error) {
	key, err := parseHexKey(hexKey)
	if err != nil {
		return nil, err
	}
	return &keySigner{key: key, addr: crypto.PubkeyToAddress(key.PublicKey)}, nil
}

// keySigner holds a decrypted private key. It has no exported method that
// signs or returns the key.
type keySigner struct {
	key  *ecdsa.PrivateKey
	addr common.Address
}

func (s *keySigner) Address() common.Address { return s.addr }

func (s *keySigner) signTx(_ context.Context, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	return types.SignTx(tx, types.LatestSignerForChainID(chainID), s.key)
}

func (s *keySigner) signDigest(_ context.Context, digest common.Hash, _ func() []byte) ([]byte, error) {
	return crypto.Sign(digest[:], s.key)
}

func (s *keySigner) String() string   { return "evm.Signer(" + s.addr.Hex() + ", key redacted)" }
func (s *keySigner) GoString() string { return s.String() }

// Format prints the redacted String for every verb, so %x, %+v and %#v show
// no more than %s.
func (s *keySigner) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue logs the address only.
func (s *keySigner) LogValue() slog.Value {
	return slog.GroupValue(slog.String("address", s.addr.Hex()), slog.String("key", "redacted"))
}

// MarshalJSON writes the address only.
func (s *keySigner) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"address": s.addr.Hex()})
}
