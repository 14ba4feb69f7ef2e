package evm

import (
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Keystore is a directory of encrypted keys in go-ethereum's keystore
// format (Web3 Secret Storage v3, scrypt), readable by geth, clef and
// MetaMask's import. It holds no decrypted key and no passphrase.
type Keystore struct {
	dir string
	ks  *keystore.KeyStore
}

// KeystoreOption configures OpenKeystore.
type KeystoreOption func(*ksConfig)

type ksConfig struct{ n, p int }

// WithScrypt sets the scrypt cost parameters for keys written from now on.
// The default is keystore.StandardScryptN/P (about a second and 256 MB per
// key on a laptop): the passphrase is what stands between a stolen file and
// the funds.
func WithScrypt(n, p int) KeystoreOption { return func(c *ksConfig) { c.n, c.p = n, p } }

// WithLightScrypt uses keystore.LightScryptN/P. Tests only: light keys are
// cheap to brute-force.
func WithLightScrypt() KeystoreOption {
	return WithScrypt(keystore.LightScryptN, keystore.LightScryptP)
}

// Errors a caller of the keystore branches on.
var (
	ErrBadPassphrase = errors.New("evm: wrong passphrase for this key")
	ErrNoAccount     = errors.New("evm: no key for this address in the keystore")
	ErrAccountExists = errors.New("evm: the keystore already holds this key")
)

// OpenKeystore opens (creating it if needed, mode 0700) the keystore
// directory dir.
func OpenKeystore(dir string, opts ...KeystoreOption) (*Keystore, error) {
	cfg := ksConfig{n: keystore.StandardScryptN, p: keystore.StandardScryptP}
	for _, o := range opts {
		o(&cfg)
	}
	if dir == "" {
		return nil, errors.New("evm: the keystore directory is empty: give one")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("evm: keystore %s: %w", dir, err)
	}
	return &Keystore{dir: dir, ks: keystore.NewKeyStore(dir, cfg.n, cfg.p)}, nil
}

// Dir returns the keystore directory.
func (k *Keystore) Dir() string { return k.dir }

// New creates a key from the system's secure random source, stores it
// encrypted with passphrase and returns its address.
func (k *Keystore) New(passphrase string) (common.Address, error) {
	if passphrase == "" {
		return common.Address{}, errors.New("evm: refusing to store a key with an empty passphrase")
	}
	acc, err := k.ks.NewAccount(passphrase)
	if err != nil {
		return common.Address{}, fmt.Errorf("evm: new key: %w", err)
	}
	return acc.Address, nil
}

// Import stores a hex private key (with or without 0x) encrypted with
// passphrase. The key is never echoed in an error.
func (k *Keystore) Import(hexKey, passphrase string) (common.Address, error) {
	if passphrase == "" {
		return common.Address{}, errors.New("evm: refusing to store a key with an empty passphrase")
	}
	key, err := parseHexKey(hexKey)
	if err != nil {
		return common.Address{}, err
	}
	acc, err := k.ks.ImportECDSA(key, passphrase)
	if err != nil {
		if errors.Is(err, keystore.ErrAccountAlreadyExists) {
			return common.Address{}, fmt.Errorf("%w: %s", ErrAccountExists, crypto.PubkeyToAddress(key.PublicKey).Hex())
		}
		return common.Address{}, fmt.Errorf("evm: import key: %w", err)
	}
	return acc.Address, nil
}

// List returns the addresses of the keys in the keystore, sorted by file.
func (k *Keystore) List() []common.Address {
	accs := k.ks.Accounts()
	out := make([]common.Address, len(accs))
	for i, a := range accs {
		out[i] = a.Address
	}
	return out
}

// Signer decrypts addr's key with passphrase and returns a Signer holding
// it in memory. Decryption (scrypt) happens once, here, not per signature.
func (k *Keystore) Signer(addr common.Address, passphrase string) (Signer, error) {
	acc, err := k.ks.Find(accounts.Account{Address: addr})
	if err != nil {
		return nil, fmt.Errorf("%w: %s (keystore %s)", ErrNoAccount, addr.Hex(), k.dir)
	}
	blob, err := os.ReadFile(acc.URL.Path)
	if err != nil {
		return nil, fmt.Errorf("evm: read key file for %s: %w", addr.Hex(), err)
	}
	key, err := keystore.DecryptKey(blob, passphrase)
	if err != nil {
		if errors.Is(err, keystore.ErrDecrypt) {
			return nil, fmt.Errorf("%w (%s)", ErrBadPassphrase, addr.Hex())
		}
		return nil, fmt.Errorf("evm: key file for %s is not a valid keystore file: %v", addr.Hex(), redactErr(err))
	}
	if key.Address != addr {
		return nil, fmt.Errorf("evm: key file %s holds %s, not %s", acc.URL.Path, key.Address.Hex(), addr.Hex())
	}
	return &keySigner{key: key.PrivateKey, addr: addr}, nil
}

// String describes the keystore; it holds no secret, but says so anyway.
func (k *Keystore) String() string { return fmt.Sprintf("evm.Keystore(%s)", k.dir) }

// parseHexKey reads a secp256k1 private key. Its errors never contain any
// part of the input: go-ethereum's quote the offending character.
func parseHexKey(s string) (*ecdsa.PrivateKey, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if len(s) != 64 {
		return nil, fmt.Errorf("evm: private key must be 64 hex digits (32 bytes), got %d characters", len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, errors.New("evm: private key is not hex")
	}
	key, err := crypto.ToECDSA(b)
	clear(b)
	if err != nil {
		return nil, errors.New("evm: private key is not a valid secp256k1 key (zero or not below the curve order)")
	}
	return key, nil
}

// redactErr keeps an error's type of failure but not its text when that
// text could quote input (JSON syntax errors quote the offending bytes).
func redactErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	return "undecodable key file"
}
