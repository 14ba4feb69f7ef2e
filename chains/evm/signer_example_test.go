package evm_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"log"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm"
)

// remoteKey stands for a key in a KMS or an HSM: it signs digests and
// never shows the key. A real one would call the KMS in SignHash.
type remoteKey struct{ key *ecdsa.PrivateKey }

func (k remoteKey) Address() common.Address { return crypto.PubkeyToAddress(k.key.PublicKey) }

func (k remoteKey) SignHash(_ context.Context, h common.Hash) ([]byte, error) {
	return crypto.Sign(h[:], k.key)
}

func (k remoteKey) SignTx(ctx context.Context, tx *types.Transaction, chainID *big.Int) (*types.Transaction, error) {
	s := types.LatestSignerForChainID(chainID)
	sig, err := k.SignHash(ctx, s.Hash(tx))
	if err != nil {
		return nil, err
	}
	return tx.WithSignature(s, sig)
}

// A key held elsewhere becomes a Signer for evm.NewWallet (and, being a
// HashSigner, for evm.SignSafeTx). Whoever is handed the Signer cannot
// reach the KMS through it: it signs only what a Wallet sends under an
// Approval.
func ExampleNewSigner() {
	key, err := crypto.HexToECDSA("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80") // a well-known test key
	if err != nil {
		log.Fatal(err)
	}
	s := evm.NewSigner(remoteKey{key})
	_, reachable := s.(evm.TxSigner)
	fmt.Printf("%v\nTxSigner reachable: %t\n", s, reachable)
	// Output:
	// evm.Signer(0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266, key held elsewhere)
	// TxSigner reachable: false
}
