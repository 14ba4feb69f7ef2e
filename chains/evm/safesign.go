package evm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/mandatehq/mandate/policies"
)

// SafeHasher recomputes a Safe transaction's safeTxHash from an intent's
// fields (the safe package's, for the Safe's version).
type SafeHasher func(policies.SafeTx) (common.Hash, error)

// ErrNotOwnerSigner says a Safe confirmation was asked of a signer for a
// transaction of another kind than a Safe transaction.
var ErrNotOwnerSigner = errors.New("evm: only a Safe transaction's hash can be signed this way")

// SignSafeTx is the one way to get a Signer's signature on anything but a
// transaction it sends: the safeTxHash of a Safe transaction the policy
// approved. It spends the approval, recomputes the hash from the approved
// intent's fields with hash (never trusting SafeTxHash as written), and
// requires it to equal the intent's SafeTxHash before signing. The result
// is the 65-byte r ‖ s ‖ v signature with v 27 or 28, low s, as a Safe
// verifies an owner's EOA signature.
//
// A key held elsewhere (NewSigner) signs it if it is a TypedDataSigner
// (as Clef is: it is given the SafeTx as EIP-712 typed data, which hashes
// to the safeTxHash, so its own rules can read it) or a HashSigner (a KMS,
// an HSM); one that signs transactions only gets ErrTxOnlySigner. Either
// way the signature must recover to the signer's address over the
// safeTxHash.
func SignSafeTx(ctx context.Context, s Signer, ap policies.Approval, hash SafeHasher) ([]byte, error) {
	in, err := ap.Claim()
	if err != nil {
		return nil, err
	}
	tx, ok := in.(policies.SafeTx)
	if !ok {
		return nil, fmt.Errorf("%w (the approval is for a %s)", ErrNotOwnerSigner, in.Kind())
	}
	h, err := hash(tx)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(h.Hex(), tx.SafeTxHash) {
		return nil, fmt.Errorf("%w: the approved intent's safeTxHash %s is not the hash of its fields, %s", ErrCallMismatch, tx.SafeTxHash, h.Hex())
	}
	sig, err := s.signDigest(ctx, h, func() []byte { return safeTypedData(tx, h) })
	if err != nil {
		return nil, fmt.Errorf("evm: sign the safeTxHash: %w", err)
	}
	sig[64] += 27
	return sig, nil
}

// safeTxFields are the SafeTx struct's fields from Safe 1.0.0 on; Safe
// 0.1.0 called baseGas dataGas.
var safeTxFields = []apitypes.Type{
	{Name: "to", Type: "address"}, {Name: "value", Type: "uint256"}, {Name: "data", Type: "bytes"},
	{Name: "operation", Type: "uint8"}, {Name: "safeTxGas", Type: "uint256"}, {Name: "baseGas", Type: "uint256"},
	{Name: "gasPrice", Type: "uint256"}, {Name: "gasToken", Type: "address"}, {Name: "refundReceiver", Type: "address"},
	{Name: "nonce", Type: "uint256"},
}

// safeTypedData is tx as the EIP-712 document whose hash is h: the layout
// of the Safe version that hashes to h (chain id in the domain from 1.3.0
// on, dataGas for baseGas in 0.1.0). The hasher knows the version; this
// finds the layout by its hash, so SafeHasher stays a plain function. It
// returns nil when no known layout gives h.
func safeTypedData(tx policies.SafeTx, h common.Hash) []byte {
	chain, ok := new(big.Int).SetString(tx.Chain, 10)
	if !ok {
		return nil
	}
	num := func(v *big.Int) string {
		if v == nil {
			return "0"
		}
		return v.String()
	}
	dataGas := append([]apitypes.Type(nil), safeTxFields...)
	dataGas[5].Name = "dataGas"
	layouts := []struct {
		chainID bool
		fields  []apitypes.Type
	}{{true, safeTxFields}, {false, safeTxFields}, {false, dataGas}}
	for _, l := range layouts {
		domainType := []apitypes.Type{{Name: "verifyingContract", Type: "address"}}
		domain := apitypes.TypedDataDomain{VerifyingContract: common.HexToAddress(tx.From).Hex()}
		if l.chainID {
			domainType = append([]apitypes.Type{{Name: "chainId", Type: "uint256"}}, domainType...)
			domain.ChainId = (*math.HexOrDecimal256)(chain)
		}
		td := apitypes.TypedData{
			Types:       apitypes.Types{"EIP712Domain": domainType, "SafeTx": l.fields},
			PrimaryType: "SafeTx",
			Domain:      domain,
			Message: apitypes.TypedDataMessage{
				"to": common.HexToAddress(tx.To).Hex(), "value": num(tx.Value), "data": hexutil.Encode(tx.Data),
				"operation": fmt.Sprint(uint8(tx.Operation)), "safeTxGas": num(tx.SafeTxGas), l.fields[5].Name: num(tx.BaseGas),
				"gasPrice": num(tx.GasPrice), "gasToken": common.HexToAddress(tx.GasToken).Hex(),
				"refundReceiver": common.HexToAddress(tx.RefundReceiver).Hex(), "nonce": fmt.Sprint(tx.Nonce),
			},
		}
		got, _, err := apitypes.TypedDataAndHash(td)
		if err != nil || common.BytesToHash(got) != h {
			continue
		}
		doc, err := json.Marshal(td)
		if err != nil {
			return nil
		}
		return doc
	}
	return nil
}
