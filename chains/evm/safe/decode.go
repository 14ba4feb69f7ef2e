package safe

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/policies"
)

// The Safe's own functions, which change who controls it. A call to the
// Safe itself is always flagged as a self call, whatever its data.
const safeSelfABI = `[
{"type":"function","name":"addOwnerWithThreshold","inputs":[{"name":"owner","type":"address"},{"name":"_threshold","type":"uint256"}]},
{"type":"function","name":"removeOwner","inputs":[{"name":"prevOwner","type":"address"},{"name":"owner","type":"address"},{"name":"_threshold","type":"uint256"}]},
{"type":"function","name":"swapOwner","inputs":[{"name":"prevOwner","type":"address"},{"name":"oldOwner","type":"address"},{"name":"newOwner","type":"address"}]},
{"type":"function","name":"changeThreshold","inputs":[{"name":"_threshold","type":"uint256"}]},
{"type":"function","name":"enableModule","inputs":[{"name":"module","type":"address"}]},
{"type":"function","name":"disableModule","inputs":[{"name":"prevModule","type":"address"},{"name":"module","type":"address"}]},
{"type":"function","name":"setGuard","inputs":[{"name":"guard","type":"address"}]},
{"type":"function","name":"setModuleGuard","inputs":[{"name":"moduleGuard","type":"address"}]},
{"type":"function","name":"setFallbackHandler","inputs":[{"name":"handler","type":"address"}]},
{"type":"function","name":"approveHash","inputs":[{"name":"hashToApprove","type":"bytes32"}]}]`

var selfABI = mustABI(safeSelfABI)

func mustABI(s string) abi.ABI {
	a, err := abi.JSON(strings.NewReader(s))
	if err != nil {
		panic(err)
	}
	return a
}

// DescribeSelfCall says in words what a call to the Safe itself does:
// "addOwnerWithThreshold(owner 0x…, _threshold 3)". Calldata that names a
// known function but is not its canonical encoding is described as
// malformed; unknown functions by selector.
func DescribeSelfCall(data []byte) string {
	if len(data) == 0 {
		return "a plain call to the Safe itself"
	}
	if len(data) < 4 {
		return fmt.Sprintf("a call to the Safe itself with %d bytes of data", len(data))
	}
	m, err := selfABI.MethodById(data[:4])
	if err != nil {
		return fmt.Sprintf("a call to the Safe itself: unknown function 0x%x", data[:4])
	}
	args, err := m.Inputs.Unpack(data[4:])
	if err != nil {
		return fmt.Sprintf("a malformed %s call to the Safe itself", m.Name)
	}
	if again, err := m.Inputs.Pack(args...); err != nil || !bytes.Equal(again, data[4:]) {
		return fmt.Sprintf("a non-canonical %s call to the Safe itself", m.Name)
	}
	parts := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case common.Address:
			parts[i] = m.Inputs[i].Name + " " + evm.Checksum(v)
		case [32]byte:
			parts[i] = m.Inputs[i].Name + " 0x" + hex.EncodeToString(v[:])
		default:
			parts[i] = fmt.Sprintf("%s %v", m.Inputs[i].Name, v)
		}
	}
	return m.Name + "(" + strings.Join(parts, ", ") + ")"
}

// Decoder turns a Safe transaction into the SafeTx intent the policy
// judges, with every inner call decoded.
type Decoder struct {
	Version Version
	// Batches are the MultiSend and MultiSendCallOnly contracts whose
	// multiSend(bytes) data is decoded when delegatecalled; nil: the
	// canonical 1.3.0 and 1.4.1 deployments. Whether a delegatecall is
	// allowed at all is the policy's safe.delegatecall, not this list.
	Batches []common.Address
	// Tokens names tokens in decoded calls (symbol, decimals).
	Tokens evm.TokenLookup
	// Options for the inner calls' evm.DecodeCall (e.g. evm.Permit2At).
	Options []evm.DecodeOption
}

// MaxNesting is how deep batches inside batches are decoded.
const MaxNesting = 4

func (d Decoder) batch(a common.Address) bool {
	list := d.Batches
	if list == nil {
		list = []common.Address{MultiSendCallOnly130, MultiSendCallOnly141, MultiSend130, MultiSend141}
	}
	for _, b := range list {
		if b == a {
			return true
		}
	}
	return false
}

// Decode returns tx as a SafeTx intent: its fields, its recomputed hash,
// and Inner, the decoded calls it makes. A plain call is one inner call; a
// call to the Safe itself is a SelfCall with no inner calls; a
// delegatecall to a known batch contract is its calls, a delegatecall
// inside a batch a nested SafeTx; a delegatecall to anything else has no
// inner calls (the policy refuses what it cannot see). Calldata that names
// a known function but is not its canonical encoding is an error.
func (d Decoder) Decode(tx Tx) (policies.SafeTx, error) {
	if d.Version == (Version{}) {
		return policies.SafeTx{}, errors.New("safe: Decoder.Version is not set: the hash depends on the Safe's version")
	}
	h, err := tx.Hash(d.Version)
	if err != nil {
		return policies.SafeTx{}, err
	}
	out := d.safeTx(tx, Inner{Operation: tx.Operation, To: tx.To, Value: tx.Value, Data: tx.Data})
	out.SafeTxGas, out.BaseGas, out.GasPrice = nz(tx.SafeTxGas), nz(tx.BaseGas), nz(tx.GasPrice)
	out.GasToken, out.RefundReceiver = evm.Checksum(tx.GasToken), evm.Checksum(tx.RefundReceiver)
	if tx.Nonce != nil {
		if !tx.Nonce.IsUint64() {
			return policies.SafeTx{}, fmt.Errorf("safe: nonce %s is beyond any Safe's", tx.Nonce)
		}
		out.Nonce = tx.Nonce.Uint64()
	}
	out.SafeTxHash = h.Hex()
	if err := d.inner(tx, &out, Inner{Operation: tx.Operation, To: tx.To, Value: tx.Value, Data: tx.Data}, 0); err != nil {
		return policies.SafeTx{}, err
	}
	return out, nil
}

func nz(v *big.Int) *big.Int {
	if v == nil {
		return new(big.Int)
	}
	return new(big.Int).Set(v)
}

// safeTx is the SafeTx shell of one (outer or nested) operation.
func (d Decoder) safeTx(tx Tx, c Inner) policies.SafeTx {
	return policies.SafeTx{
		Header: policies.Header{Chain: chainName(tx.ChainID), From: evm.Checksum(tx.Safe)},
		To:     evm.Checksum(c.To), Value: nz(c.Value), Data: bytes.Clone(c.Data), Operation: policies.SafeOperation(c.Operation),
		SafeTxGas: new(big.Int), BaseGas: new(big.Int), GasPrice: new(big.Int),
		GasToken: evm.Checksum(common.Address{}), RefundReceiver: evm.Checksum(common.Address{}),
	}
}

func chainName(id *big.Int) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// inner fills s (for operation c) with what c does.
func (d Decoder) inner(tx Tx, s *policies.SafeTx, c Inner, depth int) error {
	switch {
	case c.Operation == Call && (c.To == tx.Safe || c.To == (common.Address{}) && depth > 0):
		// A batch's zero address is read as the Safe itself: later MultiSend
		// releases substitute address(this), the Safe under delegatecall,
		// and 1.3.0/1.4.1 call address zero. Either way a self call is
		// refused unless allowed, so the reading can only over-refuse.
		s.SelfCall = DescribeSelfCall(c.Data)
		return nil
	case c.Operation == Call:
		in, err := d.call(tx, c, depth)
		if err != nil {
			return err
		}
		s.Inner = []policies.Intent{in}
		return nil
	case !d.batch(c.To) || len(c.Data) < 4 || !bytes.Equal(c.Data[:4], selMultiSend):
		return nil // a delegatecall nothing here can read: no inner calls
	case depth >= MaxNesting:
		return fmt.Errorf("safe: batches nested more than %d deep", MaxNesting)
	}
	calls, err := DecodeMultiSend(c.Data)
	if err != nil {
		return err
	}
	for i, k := range calls {
		if k.Operation == DelegateCall || k.To == tx.Safe || k.To == (common.Address{}) {
			nested := d.safeTx(tx, k)
			if err := d.inner(tx, &nested, k, depth+1); err != nil {
				return fmt.Errorf("batch call %d: %w", i+1, err)
			}
			s.Inner = append(s.Inner, nested)
			continue
		}
		in, err := d.call(tx, k, depth+1)
		if err != nil {
			return fmt.Errorf("batch call %d: %w", i+1, err)
		}
		s.Inner = append(s.Inner, in)
	}
	return nil
}

// call decodes one plain call made by the Safe.
func (d Decoder) call(tx Tx, c Inner, _ int) (policies.Intent, error) {
	in, err := evm.DecodeCall(chainName(tx.ChainID), evm.Checksum(tx.Safe), policies.Call{To: evm.Checksum(c.To), Value: nz(c.Value), Data: c.Data}, d.Tokens, d.Options...)
	if err != nil {
		var de *evm.DecodeError
		if errors.As(err, &de) {
			return nil, fmt.Errorf("call to %s: %w", evm.Checksum(c.To), err)
		}
		return nil, err
	}
	return in, nil
}

// Hasher recomputes a SafeTx intent's hash from its fields for Safe version
// v, as evm.SignSafeTx wants it: the signature covers what the approved
// intent says, not a hash carried beside it.
func Hasher(v Version) evm.SafeHasher {
	return func(s policies.SafeTx) (common.Hash, error) {
		chain, ok := new(big.Int).SetString(s.Chain, 10)
		if !ok {
			return common.Hash{}, fmt.Errorf("safe: chain %q is not a chain id", s.Chain)
		}
		tx := Tx{
			Safe: common.HexToAddress(s.From), ChainID: chain, To: common.HexToAddress(s.To), Value: s.Value, Data: s.Data,
			Operation: Operation(s.Operation), SafeTxGas: s.SafeTxGas, BaseGas: s.BaseGas, GasPrice: s.GasPrice,
			GasToken: common.HexToAddress(s.GasToken), RefundReceiver: common.HexToAddress(s.RefundReceiver), Nonce: new(big.Int).SetUint64(s.Nonce),
		}
		return tx.Hash(v)
	}
}
