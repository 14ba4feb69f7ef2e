package policies

import (
	"errors"
	"strings"

	"github.com/ethereum/go-ethereum/common"
)

// Address problems the policy parser turns into line-numbered errors.
var (
	errNotAddress    = errors.New("is not an EVM address (0x and 40 hex digits) nor a Solana address (base58 of 32 bytes)")
	errWrongChecksum = errors.New("has a wrong checksum")
)

// checkEVMAddress accepts 0x and 40 hex digits. An all-lower-case or
// all-upper-case address carries no checksum; a mixed-case one claims an
// EIP-55 checksum, and a mismatch means a typo, so it is refused rather than
// silently accepted.
func checkEVMAddress(s string) error {
	if !isEVMAddress(s) {
		return errNotAddress
	}
	hexpart := s[2:]
	if hexpart == strings.ToLower(hexpart) || hexpart == strings.ToUpper(hexpart) {
		return nil
	}
	if common.HexToAddress(s).Hex() != "0x"+hexpart {
		return errWrongChecksum
	}
	return nil
}

// isEVMAddress reports whether s has the shape of an EVM address.
func isEVMAddress(s string) bool {
	if len(s) != 42 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X') {
		return false
	}
	for i := 2; i < len(s); i++ {
		if fromHex(s[i]) < 0 {
			return false
		}
	}
	return true
}

func fromHex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// isZeroAddress reports whether s is empty or the EVM zero address, the
// values a Safe uses for "no gas token" and "no refund receiver".
func isZeroAddress(s string) bool {
	if s == "" {
		return true
	}
	return isEVMAddress(s) && strings.Trim(s[2:], "0") == ""
}

// checkAddress accepts an EVM address (see checkEVMAddress) or a Solana
// address, which is the base58 encoding of 32 bytes.
func checkAddress(s string) error {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		return checkEVMAddress(s)
	}
	if b, ok := decodeBase58(s); ok && len(b) == 32 {
		return nil
	}
	return errNotAddress
}

// addrKey is the form addresses are compared in: EVM addresses are
// case-insensitive (case is only a checksum), so they are lower-cased;
// Solana's base58 is case-sensitive and is kept as written.
func addrKey(s string) string {
	if isEVMAddress(s) {
		if s[1] == 'x' && !hasUpper(s[2:]) {
			return s
		}
		return "0x" + strings.ToLower(s[2:])
	}
	return s
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

var base58Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base58Alphabet); i++ {
		t[base58Alphabet[i]] = int8(i)
	}
	return t
}()

// decodeBase58 decodes Bitcoin-alphabet base58 as Solana writes addresses.
// Inputs longer than 64 characters are refused: no address is that long.
func decodeBase58(s string) ([]byte, bool) {
	if s == "" || len(s) > 64 {
		return nil, false
	}
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	// Big-endian base-256 accumulator; 64 base58 digits fit in 47 bytes.
	buf := make([]byte, 0, 48)
	for i := zeros; i < len(s); i++ {
		carry := int(base58Index[s[i]])
		if carry < 0 {
			return nil, false
		}
		for j := len(buf) - 1; j >= 0; j-- {
			carry += int(buf[j]) * 58
			buf[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			buf = append([]byte{byte(carry)}, buf...)
			carry >>= 8
		}
	}
	out := make([]byte, zeros+len(buf))
	copy(out[zeros:], buf)
	return out, true
}
