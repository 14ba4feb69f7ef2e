package safe_test

import (
	"bytes"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm/safe"
)

func key(t *testing.T, seed string) (common.Address, func([]byte) []byte) {
	t.Helper()
	k, err := crypto.ToECDSA(crypto.Keccak256([]byte(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return crypto.PubkeyToAddress(k.PublicKey), func(d []byte) []byte {
		s, err := crypto.Sign(d, k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// Every signature kind a Safe accepts round-trips through Encode and
// Decode, sorted by owner, with ECDSA ones recovering to their signer.
func TestSignaturesRoundTrip(t *testing.T) {
	h := crypto.Keccak256Hash([]byte("a safe transaction"))
	a, signA := key(t, "a")
	b, signB := key(t, "b")
	contract := common.HexToAddress("0x00000000000000000000000000000000000000c0")
	approver := common.HexToAddress("0xffffffffffffffffffffffffffffffffffffff01")

	eoa := signA(h[:])
	eoa[64] += 27
	ethSign := signB(crypto.Keccak256([]byte("\x19Ethereum Signed Message:\n32"), h[:]))
	ethSign[64] += 31
	sigs := []safe.Signature{
		{Owner: approver, Kind: safe.ApprovedHash},
		{Owner: a, Kind: safe.EOA, Sig: eoa},
		{Owner: contract, Kind: safe.Contract, Sig: []byte("an EIP-1271 signature of any length")},
		{Owner: b, Kind: safe.EthSign, Sig: ethSign},
	}
	packed, err := safe.Encode(sigs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := safe.Decode(h, packed, len(sigs))
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(got); i++ {
		if bytes.Compare(got[i-1].Owner[:], got[i].Owner[:]) >= 0 {
			t.Fatal("not sorted by owner")
		}
	}
	byOwner := map[common.Address]safe.Signature{}
	for _, s := range got {
		byOwner[s.Owner] = s
	}
	for _, want := range sigs {
		s, ok := byOwner[want.Owner]
		if !ok || s.Kind != want.Kind || !bytes.Equal(s.Sig, want.Sig) {
			t.Errorf("%s %s: got %+v", want.Kind, want.Owner.Hex(), s)
		}
	}
}

func TestSignatureRefusals(t *testing.T) {
	h := crypto.Keccak256Hash([]byte("tx"))
	a, signA := key(t, "a")
	sig := signA(h[:])
	sig[64] += 27
	if owner, kind, err := safe.Recover(h, sig); err != nil || owner != a || kind != safe.EOA {
		t.Fatalf("recover: %s %s %v", owner.Hex(), kind, err)
	}
	// The high-s twin of a valid signature recovers to the same signer; it
	// is refused so that one consent is one byte string.
	high := bytes.Clone(sig)
	s := new(big.Int).SetBytes(high[32:64])
	new(big.Int).Sub(crypto.S256().Params().N, s).FillBytes(high[32:64])
	high[64] ^= 1 // 27 <-> 28
	if _, _, err := safe.Recover(h, high); err == nil {
		t.Error("a high-s signature was accepted")
	}
	for _, v := range []byte{0, 1, 2, 26, 29, 30, 33, 35} {
		bad := bytes.Clone(sig)
		bad[64] = v
		if _, _, err := safe.Recover(h, bad); err == nil {
			t.Errorf("v %d was accepted as ECDSA", v)
		}
	}
	if _, _, err := safe.Recover(h, sig[:64]); err == nil {
		t.Error("a 64-byte signature was accepted")
	}
	// Two signatures in descending owner order, or the same owner twice.
	b, signB := key(t, "b")
	sb := signB(h[:])
	sb[64] += 27
	lo, hi := sig, sb
	if bytes.Compare(a[:], b[:]) > 0 {
		lo, hi = sb, sig
	}
	if _, err := safe.Decode(h, append(bytes.Clone(hi), lo...), 2); err == nil {
		t.Error("descending owners were accepted")
	}
	if _, err := safe.Encode([]safe.Signature{{Owner: a, Kind: safe.EOA, Sig: sig}, {Owner: a, Kind: safe.EOA, Sig: sig}}); err == nil {
		t.Error("one owner twice was encoded")
	}
	// A contract signature whose offset points into the static part.
	c := common.HexToAddress("0xc0")
	packed, _ := safe.Encode([]safe.Signature{{Owner: c, Kind: safe.Contract, Sig: []byte{1}}})
	packed[63] = 0 // offset 0: inside the 65 static bytes
	if _, err := safe.Decode(h, packed, 1); err == nil {
		t.Error("a contract signature pointing into the static part was accepted")
	}
}
