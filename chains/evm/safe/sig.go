package safe

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"sort"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// SigKind is how an owner's signature proves consent, as Safe's
// checkNSignatures tells them apart by v.
type SigKind uint8

const (
	// EOA is an ECDSA signature of the safeTxHash itself, v 27 or 28.
	EOA SigKind = iota
	// EthSign is an ECDSA signature of the eth_sign digest of the hash
	// ("\x19Ethereum Signed Message:\n32" ‖ hash), v 31 or 32.
	EthSign
	// ApprovedHash is an owner's earlier approveHash(hash) on chain (or the
	// executor itself), v 1, r the owner.
	ApprovedHash
	// Contract is an EIP-1271 contract owner's signature, v 0, r the owner,
	// s the offset of its signature bytes in the dynamic part.
	Contract
)

func (k SigKind) String() string {
	switch k {
	case EOA:
		return "eoa"
	case EthSign:
		return "eth_sign"
	case ApprovedHash:
		return "approved-hash"
	case Contract:
		return "contract"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Signature is one owner's consent to a safeTxHash.
type Signature struct {
	Owner common.Address
	Kind  SigKind
	// Sig is r ‖ s ‖ v for EOA and EthSign (v as the Safe wants it: 27/28
	// or 31/32); the EIP-1271 signature bytes for Contract; empty for
	// ApprovedHash.
	Sig []byte
}

// secp256k1n/2: a signature with a larger s has a twin with the same
// signer (s' = n − s); Safe accepts both, we produce and accept only the
// low one so a signature is one byte string.
var halfN = new(big.Int).Rsh(crypto.S256().Params().N, 1)

// ErrSignature says a signature is malformed or does not recover to its
// owner.
var ErrSignature = errors.New("safe: bad signature")

// ethSignDigest is the digest eth_sign signs for a 32-byte message.
func ethSignDigest(h common.Hash) []byte {
	return crypto.Keccak256([]byte("\x19Ethereum Signed Message:\n32"), h[:])
}

// Recover returns who made a 65-byte EOA or eth_sign signature of hash,
// and which kind it is; it refuses high s and other v values.
func Recover(hash common.Hash, sig []byte) (common.Address, SigKind, error) {
	if len(sig) != 65 {
		return common.Address{}, 0, fmt.Errorf("%w: %d bytes, want 65", ErrSignature, len(sig))
	}
	if new(big.Int).SetBytes(sig[32:64]).Cmp(halfN) > 0 {
		return common.Address{}, 0, fmt.Errorf("%w: s is in the upper half of the curve order (not canonical)", ErrSignature)
	}
	v := sig[64]
	digest, kind := hash[:], EOA
	switch {
	case v == 27 || v == 28:
	case v == 31 || v == 32:
		digest, kind, v = ethSignDigest(hash), EthSign, v-4
	default:
		return common.Address{}, 0, fmt.Errorf("%w: v %d is not an ECDSA signature's (27, 28, 31, 32)", ErrSignature, sig[64])
	}
	rsv := bytes.Clone(sig)
	rsv[64] = v - 27
	pub, err := crypto.SigToPub(digest, rsv)
	if err != nil {
		return common.Address{}, 0, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return crypto.PubkeyToAddress(*pub), kind, nil
}

// Encode packs signatures the way execTransaction wants them: sorted by
// owner address, ascending (the Safe requires it, to rule out duplicates),
// 65 bytes each, followed by the dynamic part holding contract signatures.
func Encode(sigs []Signature) ([]byte, error) {
	s := append([]Signature(nil), sigs...)
	sort.Slice(s, func(i, j int) bool { return bytes.Compare(s[i].Owner[:], s[j].Owner[:]) < 0 })
	for i := 1; i < len(s); i++ {
		if s[i].Owner == s[i-1].Owner {
			return nil, fmt.Errorf("safe: two signatures by owner %s", s[i].Owner.Hex())
		}
	}
	static := make([]byte, 0, 65*len(s))
	var dynamic []byte
	for _, x := range s {
		switch x.Kind {
		case EOA, EthSign:
			if len(x.Sig) != 65 {
				return nil, fmt.Errorf("safe: the %s signature of %s has %d bytes, want 65", x.Kind, x.Owner.Hex(), len(x.Sig))
			}
			static = append(static, x.Sig...)
		case ApprovedHash:
			static = append(static, common.LeftPadBytes(x.Owner[:], 32)...)
			static = append(static, make([]byte, 32)...)
			static = append(static, 1)
		case Contract:
			offset := 65*len(s) + len(dynamic)
			static = append(static, common.LeftPadBytes(x.Owner[:], 32)...)
			static = append(static, common.LeftPadBytes(big.NewInt(int64(offset)).Bytes(), 32)...)
			static = append(static, 0)
			dynamic = append(dynamic, common.LeftPadBytes(big.NewInt(int64(len(x.Sig))).Bytes(), 32)...)
			dynamic = append(dynamic, x.Sig...)
		default:
			return nil, fmt.Errorf("safe: unknown signature kind %d", x.Kind)
		}
	}
	return append(static, dynamic...), nil
}

// Decode reads n signatures packed for execTransaction, as the Safe's
// checkNSignatures reads them, and recovers the ECDSA ones. Owners must be
// strictly ascending; contract signatures' offsets must point inside the
// data past the static part. It does not check that the signers are
// owners or call EIP-1271 contracts: that needs the chain.
func Decode(hash common.Hash, data []byte, n int) ([]Signature, error) {
	if n < 1 || len(data) < 65*n {
		return nil, fmt.Errorf("%w: %d bytes cannot hold %d signatures", ErrSignature, len(data), n)
	}
	out := make([]Signature, 0, n)
	for i := 0; i < n; i++ {
		chunk := data[65*i : 65*i+65]
		v := chunk[64]
		var s Signature
		switch {
		case v == 0:
			r, off := new(big.Int).SetBytes(chunk[:32]), new(big.Int).SetBytes(chunk[32:64])
			if r.BitLen() > 160 {
				return nil, fmt.Errorf("%w: signature %d: contract owner word has dirty high bits", ErrSignature, i)
			}
			if !off.IsInt64() || off.Int64() < int64(65*n) || off.Int64() > int64(len(data)-32) {
				return nil, fmt.Errorf("%w: signature %d: contract signature offset %s is outside the data", ErrSignature, i, off)
			}
			o := int(off.Int64())
			l := new(big.Int).SetBytes(data[o : o+32])
			if !l.IsInt64() || l.Int64() > int64(len(data)-o-32) {
				return nil, fmt.Errorf("%w: signature %d: contract signature length %s runs past the data", ErrSignature, i, l)
			}
			s = Signature{Owner: common.BigToAddress(r), Kind: Contract, Sig: bytes.Clone(data[o+32 : o+32+int(l.Int64())])}
		case v == 1:
			r := new(big.Int).SetBytes(chunk[:32])
			if r.BitLen() > 160 {
				return nil, fmt.Errorf("%w: signature %d: approved-hash owner word has dirty high bits", ErrSignature, i)
			}
			s = Signature{Owner: common.BigToAddress(r), Kind: ApprovedHash}
		default:
			owner, kind, err := Recover(hash, chunk)
			if err != nil {
				return nil, fmt.Errorf("signature %d: %w", i, err)
			}
			s = Signature{Owner: owner, Kind: kind, Sig: bytes.Clone(chunk)}
		}
		if len(out) > 0 && bytes.Compare(s.Owner[:], out[len(out)-1].Owner[:]) <= 0 {
			return nil, fmt.Errorf("%w: signature %d: owners are not in strictly ascending order", ErrSignature, i)
		}
		out = append(out, s)
	}
	return out, nil
}
