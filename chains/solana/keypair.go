// Package solana is Mandate's Solana wallet: keys kept encrypted, a signer
// that signs only what an Approval allows, the decoding of a transaction's
// instructions into policy intents, builders for SOL and SPL transfers, a
// typed RPC client (Client), and a Wallet that prices, simulates, signs,
// journals, sends and confirms them.
//
// It mirrors chains/evm: the policy engine in package policies decides, and
// this package refuses to sign anything the decision did not cover. It
// journals in chains/evm's Journal, so one database holds both chains'
// transactions and one lock discipline guards them.
package solana

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	sol "github.com/gagliardetto/solana-go"
)

// Keypair is an ed25519 key as the Solana CLI writes it: 64 bytes, the seed
// then the public key. Its fields are unexported and it has no exported
// method that signs or returns the secret: a Keypair becomes a Signer
// (NewKeySigner) or a keystore file (Keystore.Import), nothing else.
//
// It prints as its address only (String, GoString, Format, LogValue,
// MarshalJSON), so a key that reaches a log line or an error stays secret.
type Keypair struct {
	key  ed25519.PrivateKey
	addr sol.PublicKey
}

// ErrBadKey is the error of a secret key that cannot be read. Its message
// never quotes the input.
var ErrBadKey = errors.New("solana: not a Solana secret key")

// KeypairFromBase58 reads a 64-byte secret key written in base58, the form
// MANDATE_SOLANA_KEY and wallets' "export private key" use.
func KeypairFromBase58(s string) (*Keypair, error) {
	b, err := sol.PrivateKeyFromBase58(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%w: it is not base58; give the 64-byte secret key in base58", ErrBadKey)
	}
	return keypairFromBytes(b)
}

// KeypairFromJSON reads the Solana CLI's keypair file format (solana-keygen
// writes a JSON array of the 64 secret-key bytes).
func KeypairFromJSON(data []byte) (*Keypair, error) {
	var nums []int
	if err := json.Unmarshal(data, &nums); err != nil {
		return nil, fmt.Errorf("%w: a keypair file is a JSON array of 64 numbers, as solana-keygen writes", ErrBadKey)
	}
	b := make([]byte, len(nums))
	for i, n := range nums {
		if n < 0 || n > 255 {
			clear(b)
			return nil, fmt.Errorf("%w: element %d of the keypair array is not a byte (0 to 255)", ErrBadKey, i)
		}
		b[i] = byte(n)
	}
	clear(nums)
	return keypairFromBytes(b)
}

// NewKeypair makes a key from the system's secure random source.
func NewKeypair() (*Keypair, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("solana: new key: %w", err)
	}
	return keypairFromBytes(priv)
}

// keypairFromBytes takes ownership of b. The last 32 bytes must be the
// public key of the first 32: a file whose halves disagree is corrupt or
// forged, and signing with it would sign for another address than shown.
func keypairFromBytes(b []byte) (*Keypair, error) {
	if len(b) != ed25519.PrivateKeySize {
		n := len(b)
		clear(b)
		return nil, fmt.Errorf("%w: it has %d bytes, a Solana secret key has 64", ErrBadKey, n)
	}
	key := ed25519.NewKeyFromSeed(b[:32])
	ok := string(key[32:]) == string(b[32:])
	clear(b)
	if !ok {
		clear(key)
		return nil, fmt.Errorf("%w: its public half does not match its secret half; export the key again", ErrBadKey)
	}
	return &Keypair{key: key, addr: sol.PublicKeyFromBytes(key[32:])}, nil
}

// Address is the account the key signs for.
func (k *Keypair) Address() sol.PublicKey { return k.addr }

func (k *Keypair) String() string   { return "solana.Keypair(" + k.addr.String() + ", key redacted)" }
func (k *Keypair) GoString() string { return k.String() }

// Format prints String for every verb, so %x and %#v show no more than %s.
func (k *Keypair) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }

// LogValue logs the address only.
func (k *Keypair) LogValue() slog.Value {
	return slog.GroupValue(slog.String("address", k.addr.String()), slog.String("key", "redacted"))
}

// MarshalJSON writes the address only.
func (k *Keypair) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"address": k.addr.String()})
}
