package evm

import (
	"bytes"
	"fmt"
	"math/big"
	"unicode"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum/common"
)

// This file holds the strict ABI word codecs that both calldata decoding
// (decode.go) and RPC answer decoding (client.go) use. Strict means: exact
// lengths, and every bit that the type cannot hold is zero. Solidity's own
// decoder reverts on dirty high bits, so anything we accept is something the
// contract would read the same way; anything else is refused rather than
// guessed at.

const wordSize = 32

var (
	// maxUint256 is 2^256-1, the largest value an ABI uint256 word holds.
	maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	// unlimitedThreshold: allowances at or above 2^255 are treated as
	// unlimited. Wallets write max uint256; some write 2^255 or close to it;
	// none of these is a real budget.
	unlimitedThreshold = new(big.Int).Lsh(big.NewInt(1), 255)
	// maxUint160 is Permit2's "unlimited" allowance.
	maxUint160 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 160), big.NewInt(1))
	// maxUint48 bounds Permit2's expiration.
	maxUint48 = uint64(1)<<48 - 1
)

// word returns the i-th 32-byte word of data; the caller has checked length.
func word(data []byte, i int) []byte { return data[i*wordSize : (i+1)*wordSize] }

// zeroPrefix reports whether the first n bytes of w are zero.
func zeroPrefix(w []byte, n int) bool {
	for _, b := range w[:n] {
		if b != 0 {
			return false
		}
	}
	return true
}

// decodeAddressWord reads an ABI address: 12 zero bytes, then 20 bytes.
func decodeAddressWord(w []byte) (common.Address, error) {
	if len(w) != wordSize {
		return common.Address{}, fmt.Errorf("address word is %d bytes, want 32", len(w))
	}
	if !zeroPrefix(w, 12) {
		return common.Address{}, fmt.Errorf("address word 0x%x has dirty high bits", w)
	}
	return common.BytesToAddress(w[12:]), nil
}

// decodeUintWord reads an ABI uintN (N a multiple of 8, at most 256): the
// bytes above N bits must be zero.
func decodeUintWord(w []byte, bits int) (*big.Int, error) {
	if len(w) != wordSize {
		return nil, fmt.Errorf("uint%d word is %d bytes, want 32", bits, len(w))
	}
	if !zeroPrefix(w, wordSize-bits/8) {
		return nil, fmt.Errorf("uint%d word 0x%x has dirty high bits (value does not fit %d bits)", bits, w, bits)
	}
	return new(big.Int).SetBytes(w), nil
}

// decodeBoolWord reads an ABI bool: exactly 0 or 1.
func decodeBoolWord(w []byte) (bool, error) {
	if len(w) != wordSize {
		return false, fmt.Errorf("bool word is %d bytes, want 32", len(w))
	}
	if !zeroPrefix(w, wordSize-1) || w[31] > 1 {
		return false, fmt.Errorf("bool word 0x%x is neither 0 nor 1", w)
	}
	return w[31] == 1, nil
}

func encodeAddressWord(a common.Address) []byte {
	return common.LeftPadBytes(a.Bytes(), wordSize)
}

// encodeUintWord writes v as an ABI uintN word; v must be in [0, 2^bits).
func encodeUintWord(v *big.Int, bits int) ([]byte, error) {
	if v == nil {
		return nil, fmt.Errorf("uint%d value is nil", bits)
	}
	if v.Sign() < 0 {
		return nil, fmt.Errorf("uint%d value %s is negative", bits, v)
	}
	if v.BitLen() > bits {
		return nil, fmt.Errorf("value %s does not fit uint%d", v, bits)
	}
	return common.LeftPadBytes(v.Bytes(), wordSize), nil
}

func encodeBoolWord(b bool) []byte {
	w := make([]byte, wordSize)
	if b {
		w[31] = 1
	}
	return w
}

// --- RPC answers --------------------------------------------------------

// maxStringAnswer bounds the strings read from contracts (names, symbols,
// revert reasons): text longer than this is not a token name, it is a
// payload, and we do not carry it around.
const maxStringAnswer = 1024

// decodeUint256Answer decodes the return data of a function returning one
// uint256 (balanceOf, allowance, totalSupply): exactly one word.
func decodeUint256Answer(b []byte) (*big.Int, error) {
	if len(b) == 0 {
		return nil, errEmptyAnswer
	}
	if len(b) != wordSize {
		return nil, fmt.Errorf("answer is %d bytes, want exactly 32 for a uint256", len(b))
	}
	return new(big.Int).SetBytes(b), nil
}

// decodeUint8Answer decodes the return data of decimals(): one word whose
// value fits uint8.
func decodeUint8Answer(b []byte) (uint8, error) {
	if len(b) == 0 {
		return 0, errEmptyAnswer
	}
	if len(b) != wordSize {
		return 0, fmt.Errorf("answer is %d bytes, want exactly 32 for a uint8", len(b))
	}
	if !zeroPrefix(b, wordSize-1) {
		return 0, fmt.Errorf("answer 0x%x does not fit uint8 (more than 255)", b)
	}
	return b[31], nil
}

// errEmptyAnswer is the answer of an eth_call to an address without code.
var errEmptyAnswer = fmt.Errorf("answer is empty: the address has no contract code or the function does not exist")

// decodeStringAnswer decodes the return data of name() or symbol(). It takes
// the canonical ABI encoding of one string (offset 32, length, data padded
// with zeros to a word, nothing after) and, for old tokens such as MKR that
// return bytes32, exactly one word of text padded with trailing zeros. The
// text must be valid UTF-8 without NUL bytes.
func decodeStringAnswer(b []byte) (string, error) {
	if len(b) == 0 {
		return "", errEmptyAnswer
	}
	if len(b) == wordSize { // bytes32
		s := bytes.TrimRight(b, "\x00")
		if bytes.IndexByte(s, 0) >= 0 {
			return "", fmt.Errorf("bytes32 answer 0x%x has a NUL inside the text", b)
		}
		if !utf8.Valid(s) {
			return "", fmt.Errorf("bytes32 answer 0x%x is not UTF-8 text", b)
		}
		return string(s), nil
	}
	return decodeABIString(b)
}

// decodeABIString decodes the canonical ABI encoding of a single string.
func decodeABIString(b []byte) (string, error) {
	if len(b) < 2*wordSize || len(b)%wordSize != 0 {
		return "", fmt.Errorf("answer is %d bytes, not an ABI-encoded string (want a multiple of 32, at least 64)", len(b))
	}
	off, err := decodeUintWord(word(b, 0), 64)
	if err != nil || off.Uint64() != wordSize {
		return "", fmt.Errorf("answer is not an ABI-encoded string: offset word is 0x%x, want 32", word(b, 0))
	}
	n, err := decodeUintWord(word(b, 1), 64)
	if err != nil || n.Uint64() > uint64(len(b)-2*wordSize) {
		return "", fmt.Errorf("answer is not an ABI-encoded string: length word 0x%x exceeds the %d bytes that follow", word(b, 1), len(b)-2*wordSize)
	}
	l := int(n.Uint64())
	if l > maxStringAnswer {
		return "", fmt.Errorf("answer string is %d bytes, longer than the %d accepted", l, maxStringAnswer)
	}
	if want := 2*wordSize + (l+wordSize-1)/wordSize*wordSize; len(b) != want {
		return "", fmt.Errorf("answer is %d bytes, want exactly %d for a %d-byte string", len(b), want, l)
	}
	text, pad := b[2*wordSize:2*wordSize+l], b[2*wordSize+l:]
	if !zeroPrefix(pad, len(pad)) {
		return "", fmt.Errorf("answer string has non-zero padding")
	}
	if bytes.IndexByte(text, 0) >= 0 {
		return "", fmt.Errorf("answer string has a NUL byte")
	}
	if !utf8.Valid(text) {
		return "", fmt.Errorf("answer string is not UTF-8")
	}
	return string(text), nil
}

// encodeABIString is decodeABIString's inverse (tests and fuzzing).
func encodeABIString(s string) []byte {
	out := make([]byte, 0, 2*wordSize+len(s)+wordSize)
	out = append(out, common.LeftPadBytes([]byte{wordSize}, wordSize)...)
	out = append(out, common.LeftPadBytes(new(big.Int).SetInt64(int64(len(s))).Bytes(), wordSize)...)
	out = append(out, s...)
	if r := len(s) % wordSize; r != 0 {
		out = append(out, make([]byte, wordSize-r)...)
	}
	return out
}

// checkText refuses token names and symbols that would be a hazard when
// shown to a person or a model: control characters (including the bidi
// overrides, which are format characters) and over-long text. Token
// metadata is data written by whoever deployed the contract.
func checkText(what, s string, max int) error {
	if utf8.RuneCountInString(s) > max {
		return fmt.Errorf("%s is %d characters, longer than the %d accepted", what, utf8.RuneCountInString(s), max)
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("%s %q contains control or format character %U", what, s, r)
		}
	}
	return nil
}
