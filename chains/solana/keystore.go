package solana

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	sol "github.com/gagliardetto/solana-go"
)

// Keystore is a directory of encrypted Solana keys, one file per address.
// Each file's "crypto" section is go-ethereum's Web3 Secret Storage v3
// (scrypt, AES-128-CTR, a keccak MAC) produced by the same exported helper
// the EVM keystore's files are, so both wallets' keys are protected alike.
// It holds no decrypted key and no passphrase.
type Keystore struct {
	dir  string
	n, p int
}

// KeystoreOption configures OpenKeystore.
type KeystoreOption func(*Keystore)

// WithLightScrypt uses go-ethereum's light scrypt parameters. Tests only:
// light keys are cheap to brute-force.
func WithLightScrypt() KeystoreOption {
	return func(k *Keystore) { k.n, k.p = keystore.LightScryptN, keystore.LightScryptP }
}

// Errors a caller of the keystore branches on.
var (
	ErrBadPassphrase  = errors.New("solana: wrong passphrase for this key (or its encrypted part is damaged)")
	ErrCorruptKeyFile = errors.New("solana: the key file is damaged; restore it from a backup or import the key again")
	ErrNoAccount      = errors.New("solana: no key for this address in the keystore")
	ErrAccountExists  = errors.New("solana: the keystore already holds this key")
)

// keyFile is a key as stored. Address is in the clear so List needs no
// passphrase; it is checked against the decrypted key on every load.
type keyFile struct {
	Version int                 `json:"version"`
	Kind    string              `json:"kind"`
	Address string              `json:"address"`
	Crypto  keystore.CryptoJSON `json:"crypto"`
}

const keyFileKind = "solana-ed25519"

// OpenKeystore opens (creating it if needed, mode 0700) the directory dir.
func OpenKeystore(dir string, opts ...KeystoreOption) (*Keystore, error) {
	if dir == "" {
		return nil, errors.New("solana: the keystore directory is empty: give one")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("solana: keystore %s: %w", dir, err)
	}
	k := &Keystore{dir: dir, n: keystore.StandardScryptN, p: keystore.StandardScryptP}
	for _, o := range opts {
		o(k)
	}
	return k, nil
}

// Dir returns the keystore directory.
func (k *Keystore) Dir() string { return k.dir }

func (k *Keystore) path(addr sol.PublicKey) string {
	return filepath.Join(k.dir, "solana-"+addr.String()+".json")
}

// Import stores kp encrypted with passphrase and returns its address.
func (k *Keystore) Import(kp *Keypair, passphrase string) (sol.PublicKey, error) {
	if passphrase == "" {
		return sol.PublicKey{}, errors.New("solana: refusing to store a key with an empty passphrase")
	}
	c, err := keystore.EncryptDataV3(kp.key, []byte(passphrase), k.n, k.p)
	if err != nil {
		return sol.PublicKey{}, fmt.Errorf("solana: encrypt key: %w", err)
	}
	b, err := json.Marshal(keyFile{Version: 1, Kind: keyFileKind, Address: kp.addr.String(), Crypto: c})
	if err != nil {
		return sol.PublicKey{}, fmt.Errorf("solana: encode key file: %w", err)
	}
	f, err := os.OpenFile(k.path(kp.addr), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return sol.PublicKey{}, fmt.Errorf("%w: %s", ErrAccountExists, kp.addr)
	}
	if err != nil {
		return sol.PublicKey{}, fmt.Errorf("solana: write key file: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return sol.PublicKey{}, fmt.Errorf("solana: write key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return sol.PublicKey{}, fmt.Errorf("solana: write key file: %w", err)
	}
	return kp.addr, nil
}

// New creates a key, stores it encrypted and returns its address.
func (k *Keystore) New(passphrase string) (sol.PublicKey, error) {
	kp, err := NewKeypair()
	if err != nil {
		return sol.PublicKey{}, err
	}
	return k.Import(kp, passphrase)
}

// List returns the addresses of the keys in the keystore, sorted.
func (k *Keystore) List() ([]sol.PublicKey, error) {
	ents, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, fmt.Errorf("solana: keystore %s: %w", k.dir, err)
	}
	var out []sol.PublicKey
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), "solana-")
		if name, ok2 := strings.CutSuffix(name, ".json"); ok && ok2 {
			if pk, err := sol.PublicKeyFromBase58(name); err == nil {
				out = append(out, pk)
			}
		}
	}
	slices.SortFunc(out, func(a, b sol.PublicKey) int { return strings.Compare(a.String(), b.String()) })
	return out, nil
}

// Signer decrypts addr's key with passphrase and returns a Signer holding
// it in memory. Decryption (scrypt) happens once, here, not per signature.
func (k *Keystore) Signer(addr sol.PublicKey, passphrase string) (Signer, error) {
	kp, err := k.load(addr, passphrase)
	if err != nil {
		return nil, err
	}
	return NewKeySigner(kp), nil
}

func (k *Keystore) load(addr sol.PublicKey, passphrase string) (*Keypair, error) {
	blob, err := os.ReadFile(k.path(addr))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (keystore %s)", ErrNoAccount, addr, k.dir)
	}
	if err != nil {
		return nil, fmt.Errorf("solana: read key file for %s: %w", addr, err)
	}
	var f keyFile
	if err := json.Unmarshal(blob, &f); err != nil || f.Version != 1 || f.Kind != keyFileKind {
		return nil, fmt.Errorf("%w (%s: not a version 1 %s key file)", ErrCorruptKeyFile, addr, keyFileKind)
	}
	if f.Address != addr.String() {
		return nil, fmt.Errorf("%w (%s: the file names another address)", ErrCorruptKeyFile, addr)
	}
	secret, err := keystore.DecryptDataV3(f.Crypto, passphrase)
	switch {
	case errors.Is(err, keystore.ErrDecrypt):
		return nil, fmt.Errorf("%w (%s)", ErrBadPassphrase, addr)
	case err != nil:
		return nil, fmt.Errorf("%w (%s: its crypto section is unreadable)", ErrCorruptKeyFile, addr)
	}
	kp, err := keypairFromBytes(secret)
	if err != nil || kp.addr != addr {
		return nil, fmt.Errorf("%w (%s: the decrypted key is not this address's)", ErrCorruptKeyFile, addr)
	}
	return kp, nil
}

// String describes the keystore; it holds no secret.
func (k *Keystore) String() string { return "solana.Keystore(" + k.dir + ")" }
