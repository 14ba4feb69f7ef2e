package evm

import (
	"errors"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/common"

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
func SignSafeTx(s Signer, ap policies.Approval, hash SafeHasher) ([]byte, error) {
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
	sig, err := s.signHash(h[:])
	if err != nil {
		return nil, fmt.Errorf("evm: sign the safeTxHash: %w", err)
	}
	sig[64] += 27
	return sig, nil
}
