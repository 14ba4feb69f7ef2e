// Package safe reads and signs Safe (Gnosis Safe) multisig transactions:
// the SafeTx and its EIP-712 hash for each Safe version, the signatures a
// Safe accepts, MultiSend batches, calls to the Safe itself, decoding of a
// whole transaction into the intents the policy judges, and a client of
// the Safe Transaction Service.
//
// Everything here assumes the transaction was written by an attacker who
// has read this code: decoders are strict (a byte that a Safe would read
// differently from us is an error, not a guess), the hash is always
// recomputed from the fields, and nothing signs without an Approval.
package safe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Operation is a Safe transaction's operation.
type Operation uint8

const (
	Call         Operation = 0
	DelegateCall Operation = 1
)

// Tx is a Safe transaction: the fields its owners sign, plus the Safe and
// chain it is for.
type Tx struct {
	Safe           common.Address
	ChainID        *big.Int
	To             common.Address
	Value          *big.Int
	Data           []byte
	Operation      Operation
	SafeTxGas      *big.Int
	BaseGas        *big.Int
	GasPrice       *big.Int
	GasToken       common.Address
	RefundReceiver common.Address
	Nonce          *big.Int
}

var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// Type hashes of the SafeTx struct and the domain, by Safe version.
var (
	// SafeTxTypeHash is for Safe 1.0.0 and later.
	SafeTxTypeHash = crypto.Keccak256Hash([]byte("SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"))
	// safeTxTypeHashV0 is for Safe 0.1.0, which called baseGas dataGas.
	safeTxTypeHashV0 = crypto.Keccak256Hash([]byte("SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 dataGas,uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"))
	// domainTypeHash is for Safe 1.3.0 and later: chainId in the domain.
	domainTypeHash = crypto.Keccak256Hash([]byte("EIP712Domain(uint256 chainId,address verifyingContract)"))
	// domainTypeHashLegacy is for Safes before 1.3.0.
	domainTypeHashLegacy = crypto.Keccak256Hash([]byte("EIP712Domain(address verifyingContract)"))
)

// Version is a Safe contract version, e.g. "1.4.1".
type Version struct{ Major, Minor, Patch int }

// DefaultVersion is assumed when none is given: the current release.
var DefaultVersion = Version{1, 4, 1}

// ParseVersion reads "1.3.0", "1.4.1", "v1.3.0+L2".
func ParseVersion(s string) (Version, error) {
	t := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(t, "+-"); i >= 0 {
		t = t[:i]
	}
	parts := strings.Split(t, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("safe version %q: want MAJOR.MINOR.PATCH, e.g. 1.4.1", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 99 {
			return Version{}, fmt.Errorf("safe version %q: want MAJOR.MINOR.PATCH, e.g. 1.4.1", s)
		}
		v[i] = n
	}
	ver := Version{v[0], v[1], v[2]}
	if ver.less(Version{0, 1, 0}) || !ver.less(Version{2, 0, 0}) {
		return Version{}, fmt.Errorf("safe version %q is not a Safe release this co-signer knows (0.1.0 to 1.x)", s)
	}
	return ver, nil
}

func (v Version) less(o Version) bool {
	if v.Major != o.Major {
		return v.Major < o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor < o.Minor
	}
	return v.Patch < o.Patch
}

// ChainBound reports whether the version's transaction hash includes the
// chain id (1.3.0 and later): a signature of an older Safe's hash is valid
// for the same Safe address on every chain.
func (v Version) ChainBound() bool { return !v.less(Version{1, 3, 0}) }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// DomainSeparator is the Safe's EIP-712 domain separator: with the chain
// id from 1.3.0 on, without it before.
func DomainSeparator(v Version, chainID *big.Int, safe common.Address) common.Hash {
	if v.less(Version{1, 3, 0}) {
		return crypto.Keccak256Hash(domainTypeHashLegacy[:], common.LeftPadBytes(safe[:], 32))
	}
	return crypto.Keccak256Hash(domainTypeHash[:], word(chainID), common.LeftPadBytes(safe[:], 32))
}

func word(v *big.Int) []byte {
	var b [32]byte
	if v != nil {
		v.FillBytes(b[:])
	}
	return b[:]
}

// check refuses fields a Safe could not have signed: values that do not
// fit their ABI types.
func (t Tx) check() error {
	for _, f := range []struct {
		name string
		v    *big.Int
	}{{"value", t.Value}, {"safeTxGas", t.SafeTxGas}, {"baseGas", t.BaseGas}, {"gasPrice", t.GasPrice}, {"nonce", t.Nonce}, {"chainId", t.ChainID}} {
		if f.v != nil && (f.v.Sign() < 0 || f.v.Cmp(maxUint256) > 0) {
			return fmt.Errorf("safe: %s %s is not a uint256", f.name, f.v)
		}
	}
	if t.Operation > DelegateCall {
		return fmt.Errorf("safe: operation %d is neither call (0) nor delegatecall (1)", t.Operation)
	}
	return nil
}

// Hash is the safeTxHash the owners sign, computed from the fields for
// Safe version v. The hash is encoded by hand rather than through a generic
// EIP-712 encoder: the struct is fixed, and this is the co-signer's hot path.
func (t Tx) Hash(v Version) (common.Hash, error) {
	if err := t.check(); err != nil {
		return common.Hash{}, err
	}
	if t.ChainID == nil && !v.less(Version{1, 3, 0}) {
		return common.Hash{}, errors.New("safe: the chain id is needed for the hash of a Safe 1.3.0 or later")
	}
	th := SafeTxTypeHash
	if v.less(Version{1, 0, 0}) {
		th = safeTxTypeHashV0
	}
	var enc [11 * 32]byte
	copy(enc[0:], th[:])
	copy(enc[32+12:], t.To[:])
	copy(enc[64:], word(t.Value))
	dh := crypto.Keccak256(t.Data)
	copy(enc[96:], dh)
	enc[128+31] = byte(t.Operation)
	copy(enc[160:], word(t.SafeTxGas))
	copy(enc[192:], word(t.BaseGas))
	copy(enc[224:], word(t.GasPrice))
	copy(enc[256+12:], t.GasToken[:])
	copy(enc[288+12:], t.RefundReceiver[:])
	copy(enc[320:], word(t.Nonce))
	structHash := crypto.Keccak256(enc[:])
	ds := DomainSeparator(v, t.ChainID, t.Safe)
	return crypto.Keccak256Hash([]byte{0x19, 0x01}, ds[:], structHash), nil
}

// ServiceTx is a transaction in the Safe Transaction Service's JSON shape
// (also what `mandate cosigner review` reads). Numbers may be JSON numbers
// or decimal strings, as the service writes them; data may be null.
type ServiceTx struct {
	Safe           string          `json:"safe,omitempty"`
	To             string          `json:"to"`
	Value          json.RawMessage `json:"value"`
	Data           *string         `json:"data"`
	Operation      json.RawMessage `json:"operation"`
	SafeTxGas      json.RawMessage `json:"safeTxGas"`
	BaseGas        json.RawMessage `json:"baseGas"`
	GasPrice       json.RawMessage `json:"gasPrice"`
	GasToken       *string         `json:"gasToken"`
	RefundReceiver *string         `json:"refundReceiver"`
	Nonce          json.RawMessage `json:"nonce"`
	SafeTxHash     string          `json:"safeTxHash,omitempty"`
}

// ServiceTx is t in the Transaction Service's JSON shape, with its hash.
func (t Tx) ServiceTx() ServiceTx {
	q := func(v *big.Int) json.RawMessage { return json.RawMessage(`"` + nz(v).String() + `"`) }
	data, gt, rr := "0x"+fmt.Sprintf("%x", t.Data), t.GasToken.Hex(), t.RefundReceiver.Hex()
	return ServiceTx{Safe: t.Safe.Hex(), To: t.To.Hex(), Value: q(t.Value), Data: &data, Operation: json.RawMessage(strconv.Itoa(int(t.Operation))),
		SafeTxGas: q(t.SafeTxGas), BaseGas: q(t.BaseGas), GasPrice: q(t.GasPrice), GasToken: &gt, RefundReceiver: &rr, Nonce: q(t.Nonce)}
}

// FieldError says which field of a transaction is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("safe transaction: %s: %s", e.Field, e.Reason)
}

// ParseServiceTx reads one transaction in the Transaction Service's JSON
// shape for safe on chain. Every signed field must be present; other fields
// the service adds (confirmations, submissionDate, ...) are ignored, except
// safe and safeTxHash, which must agree with safe and with the hash
// computed from the fields: a supplied hash is never trusted, only checked.
func ParseServiceTx(raw []byte, chainID *big.Int, safe common.Address, v Version) (Tx, error) {
	var s ServiceTx
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&s); err != nil {
		return Tx{}, &FieldError{Field: "json", Reason: err.Error()}
	}
	if dec.More() {
		return Tx{}, &FieldError{Field: "json", Reason: "trailing data after the transaction object"}
	}
	return s.Tx(chainID, safe, v)
}

// Tx converts s, checking every field (see ParseServiceTx).
func (s ServiceTx) Tx(chainID *big.Int, safe common.Address, v Version) (Tx, error) {
	t := Tx{Safe: safe, ChainID: chainID}
	var err error
	if s.Safe != "" {
		a, err := address("safe", s.Safe)
		if err != nil {
			return Tx{}, err
		}
		if a != safe {
			return Tx{}, &FieldError{Field: "safe", Reason: fmt.Sprintf("the transaction is for Safe %s, not %s", a.Hex(), safe.Hex())}
		}
	}
	if t.To, err = address("to", s.To); err != nil {
		return Tx{}, err
	}
	if t.Value, err = uintField("value", s.Value); err != nil {
		return Tx{}, err
	}
	if s.Data != nil && *s.Data != "" && *s.Data != "0x" {
		d := *s.Data
		if !strings.HasPrefix(d, "0x") || len(d)%2 != 0 {
			return Tx{}, &FieldError{Field: "data", Reason: "not 0x-prefixed hex with an even number of digits"}
		}
		if t.Data, err = decodeHex(d[2:]); err != nil {
			return Tx{}, &FieldError{Field: "data", Reason: err.Error()}
		}
	}
	op, err := uintField("operation", s.Operation)
	if err != nil {
		return Tx{}, err
	}
	if op.Cmp(big.NewInt(1)) > 0 {
		return Tx{}, &FieldError{Field: "operation", Reason: fmt.Sprintf("%s is neither 0 (call) nor 1 (delegatecall)", op)}
	}
	t.Operation = Operation(op.Uint64())
	if t.SafeTxGas, err = uintField("safeTxGas", s.SafeTxGas); err != nil {
		return Tx{}, err
	}
	if t.BaseGas, err = uintField("baseGas", s.BaseGas); err != nil {
		return Tx{}, err
	}
	if t.GasPrice, err = uintField("gasPrice", s.GasPrice); err != nil {
		return Tx{}, err
	}
	if t.GasToken, err = optAddress("gasToken", s.GasToken); err != nil {
		return Tx{}, err
	}
	if t.RefundReceiver, err = optAddress("refundReceiver", s.RefundReceiver); err != nil {
		return Tx{}, err
	}
	if t.Nonce, err = uintField("nonce", s.Nonce); err != nil {
		return Tx{}, err
	}
	if s.SafeTxHash != "" {
		h, err := t.Hash(v)
		if err != nil {
			return Tx{}, err
		}
		if !strings.EqualFold(s.SafeTxHash, h.Hex()) {
			return Tx{}, &FieldError{Field: "safeTxHash", Reason: fmt.Sprintf("%s does not match the fields, whose hash is %s (Safe %s)", s.SafeTxHash, h.Hex(), v)}
		}
	}
	return t, nil
}

func address(field, s string) (common.Address, error) {
	if len(s) != 42 || !strings.HasPrefix(s, "0x") {
		return common.Address{}, &FieldError{Field: field, Reason: fmt.Sprintf("%q is not an address (0x and 40 hex digits)", s)}
	}
	b, err := decodeHex(s[2:])
	if err != nil {
		return common.Address{}, &FieldError{Field: field, Reason: fmt.Sprintf("%q is not an address: %v", s, err)}
	}
	a := common.BytesToAddress(b)
	// Mixed case is a checksum and must be right; all-lower or all-upper
	// carries none.
	if s[2:] != strings.ToLower(s[2:]) && s[2:] != strings.ToUpper(s[2:]) && a.Hex() != s {
		return common.Address{}, &FieldError{Field: field, Reason: fmt.Sprintf("%q has a wrong EIP-55 checksum", s)}
	}
	return a, nil
}

func optAddress(field string, s *string) (common.Address, error) {
	if s == nil {
		return common.Address{}, &FieldError{Field: field, Reason: "missing (write the zero address for none)"}
	}
	return address(field, *s)
}

// uintField reads a uint256 written as a JSON number or a decimal string;
// it must be present.
func uintField(field string, raw json.RawMessage) (*big.Int, error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return nil, &FieldError{Field: field, Reason: "missing"}
	}
	s = strings.Trim(s, `"`)
	if s == "" || strings.TrimLeft(s, "0123456789") != "" || (len(s) > 1 && s[0] == '0') {
		return nil, &FieldError{Field: field, Reason: fmt.Sprintf("%s is not a decimal unsigned integer", raw)}
	}
	v, _ := new(big.Int).SetString(s, 10)
	if v.Cmp(maxUint256) > 0 {
		return nil, &FieldError{Field: field, Reason: fmt.Sprintf("%s does not fit uint256", s)}
	}
	return v, nil
}

func decodeHex(s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, errors.New("odd number of hex digits")
	}
	out := make([]byte, len(s)/2)
	for i := 0; i < len(out); i++ {
		hi, ok1 := unhex(s[2*i])
		lo, ok2 := unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%q is not a hex digit pair", s[2*i:2*i+2])
		}
		out[i] = hi<<4 | lo
	}
	return out, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
