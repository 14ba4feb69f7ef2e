package solana

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	sol "github.com/gagliardetto/solana-go"
)

func TestKeystore(t *testing.T) {
	ks, err := OpenKeystore(t.TempDir(), WithLightScrypt())
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := sol.NewRandomPrivateKey()
	kp, _ := KeypairFromBase58(priv.String())
	addr, err := ks.Import(kp, "correct horse")
	if err != nil || addr != priv.PublicKey() {
		t.Fatalf("import: %v %v", addr, err)
	}
	if _, err := ks.Import(kp, "again"); !errors.Is(err, ErrAccountExists) {
		t.Fatalf("second import: %v", err)
	}
	if _, err := ks.Import(kp, ""); err == nil {
		t.Fatal("an empty passphrase was accepted")
	}
	other, err := ks.New("other")
	if err != nil {
		t.Fatal(err)
	}
	list, err := ks.List()
	if err != nil || len(list) != 2 || !slices.Contains(list, addr) || !slices.Contains(list, other) {
		t.Fatalf("list: %v %v", list, err)
	}
	s, err := ks.Signer(addr, "correct horse")
	if err != nil || s.Address() != addr {
		t.Fatalf("signer: %v", err)
	}
	// The decrypted key signs for its address.
	sig, _ := s.signMessage(context.Background(), []byte("msg"))
	if !addr.Verify([]byte("msg"), sig) {
		t.Fatal("the keystore's key does not sign for its address")
	}
	// The file holds no key in the clear.
	raw, _ := os.ReadFile(ks.path(addr))
	if bytes.Contains(raw, []byte(priv.String())) || bytes.Contains(raw, []byte(hex.EncodeToString(priv[:32]))) || bytes.Contains(raw, priv[:32]) {
		t.Fatal("the key file holds the key in the clear")
	}

	if _, err := ks.Signer(addr, "wrong"); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := ks.Signer(sol.NewWallet().PublicKey(), "x"); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("missing key: %v", err)
	}
	corrupt := func(name string, edit func(map[string]any)) {
		var f map[string]any
		_ = json.Unmarshal(raw, &f)
		edit(f)
		b, _ := json.Marshal(f)
		if err := os.WriteFile(ks.path(addr), b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := ks.Signer(addr, "correct horse"); !errors.Is(err, ErrCorruptKeyFile) {
			t.Errorf("%s: got %v, want ErrCorruptKeyFile", name, err)
		}
	}
	corrupt("other address", func(f map[string]any) { f["address"] = other.String() })
	corrupt("no crypto", func(f map[string]any) { delete(f, "crypto") })
	corrupt("wrong kind", func(f map[string]any) { f["kind"] = "evm" })
	if err := os.WriteFile(ks.path(addr), raw[:len(raw)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Signer(addr, "correct horse"); !errors.Is(err, ErrCorruptKeyFile) {
		t.Errorf("truncated: got %v", err)
	}
	// Another address's file renamed to this one: the stored address and
	// the decrypted key disagree with the name.
	ob, _ := os.ReadFile(ks.path(other))
	_ = os.WriteFile(filepath.Join(ks.Dir(), "solana-"+addr.String()+".json"), ob, 0o600)
	if _, err := ks.Signer(addr, "other"); !errors.Is(err, ErrCorruptKeyFile) {
		t.Errorf("swapped file: got %v", err)
	}
}
