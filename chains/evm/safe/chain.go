package safe

import (
	"context"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/policies"
)

// The Safe's view functions this package reads.
const safeViewABI = `[
{"type":"function","name":"nonce","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint256"}]},
{"type":"function","name":"getThreshold","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"uint256"}]},
{"type":"function","name":"getOwners","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"address[]"}]},
{"type":"function","name":"VERSION","stateMutability":"view","inputs":[],"outputs":[{"name":"","type":"string"}]},
{"type":"function","name":"getTransactionHash","stateMutability":"view","inputs":[{"name":"to","type":"address"},{"name":"value","type":"uint256"},{"name":"data","type":"bytes"},{"name":"operation","type":"uint8"},{"name":"safeTxGas","type":"uint256"},{"name":"baseGas","type":"uint256"},{"name":"gasPrice","type":"uint256"},{"name":"gasToken","type":"address"},{"name":"refundReceiver","type":"address"},{"name":"_nonce","type":"uint256"}],"outputs":[{"name":"","type":"bytes32"}]},
{"type":"function","name":"execTransaction","stateMutability":"payable","inputs":[{"name":"to","type":"address"},{"name":"value","type":"uint256"},{"name":"data","type":"bytes"},{"name":"operation","type":"uint8"},{"name":"safeTxGas","type":"uint256"},{"name":"baseGas","type":"uint256"},{"name":"gasPrice","type":"uint256"},{"name":"gasToken","type":"address"},{"name":"refundReceiver","type":"address"},{"name":"signatures","type":"bytes"}],"outputs":[{"name":"success","type":"bool"}]}]`

var viewABI = mustABI(safeViewABI)

func view(ctx context.Context, c *evm.Client, safe common.Address, method string, args ...any) ([]any, error) {
	data, err := viewABI.Pack(method, args...)
	if err != nil {
		return nil, err
	}
	out, err := c.Call(ctx, common.Address{}, policies.Call{To: safe.Hex(), Value: new(big.Int), Data: data})
	if err != nil {
		return nil, fmt.Errorf("safe %s.%s: %w", safe.Hex(), method, err)
	}
	vals, err := viewABI.Unpack(method, out)
	if err != nil {
		return nil, fmt.Errorf("safe %s.%s answered %d bytes that are not its result (is it a Safe?): %v", safe.Hex(), method, len(out), err)
	}
	return vals, nil
}

// Nonce reads the Safe's current nonce: the next transaction's.
func Nonce(ctx context.Context, c *evm.Client, safe common.Address) (uint64, error) {
	v, err := view(ctx, c, safe, "nonce")
	if err != nil {
		return 0, err
	}
	n := v[0].(*big.Int)
	if !n.IsUint64() {
		return 0, fmt.Errorf("safe %s: nonce %s", safe.Hex(), n)
	}
	return n.Uint64(), nil
}

// Owners reads the Safe's owners and threshold.
func Owners(ctx context.Context, c *evm.Client, safe common.Address) ([]common.Address, int, error) {
	o, err := view(ctx, c, safe, "getOwners")
	if err != nil {
		return nil, 0, err
	}
	t, err := view(ctx, c, safe, "getThreshold")
	if err != nil {
		return nil, 0, err
	}
	return o[0].([]common.Address), int(t[0].(*big.Int).Int64()), nil
}

// ReadVersion reads the Safe's VERSION().
func ReadVersion(ctx context.Context, c *evm.Client, safe common.Address) (Version, error) {
	v, err := view(ctx, c, safe, "VERSION")
	if err != nil {
		return Version{}, err
	}
	return ParseVersion(v[0].(string))
}

// ChainHash asks the Safe itself for tx's hash (getTransactionHash), to
// check the hand-encoded Hash against the contract.
func ChainHash(ctx context.Context, c *evm.Client, tx Tx) (common.Hash, error) {
	v, err := view(ctx, c, tx.Safe, "getTransactionHash", tx.To, nz(tx.Value), tx.Data, uint8(tx.Operation),
		nz(tx.SafeTxGas), nz(tx.BaseGas), nz(tx.GasPrice), tx.GasToken, tx.RefundReceiver, nz(tx.Nonce))
	if err != nil {
		return common.Hash{}, err
	}
	return common.Hash(v[0].([32]byte)), nil
}

// ExecCall is the execTransaction call that executes tx with signatures
// (Encode's output): what the last owner, or anyone, sends to the Safe.
func ExecCall(tx Tx, signatures []byte) (policies.Call, error) {
	data, err := viewABI.Pack("execTransaction", tx.To, nz(tx.Value), tx.Data, uint8(tx.Operation),
		nz(tx.SafeTxGas), nz(tx.BaseGas), nz(tx.GasPrice), tx.GasToken, tx.RefundReceiver, signatures)
	if err != nil {
		return policies.Call{}, err
	}
	return policies.Call{To: tx.Safe.Hex(), Value: new(big.Int), Data: data}, nil
}
