package evm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/keystore"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// A well-known test key (Hardhat account #0). Public knowledge.
const (
	testKeyHex  = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
	testKeyAddr = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
)

func TestKeystore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	ks, err := OpenKeystore(dir, WithLightScrypt())
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("keystore dir: %v %v", fi, err)
	}
	a, err := ks.New("pass one")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ks.Import("0x"+testKeyHex, "pass two")
	if err != nil {
		t.Fatal(err)
	}
	if b != common.HexToAddress(testKeyAddr) {
		t.Fatalf("imported %s", b.Hex())
	}
	if _, err := ks.Import(testKeyHex, "pass two"); !errors.Is(err, ErrAccountExists) {
		t.Fatalf("reimport: %v", err)
	}
	if _, err := ks.New(""); err == nil {
		t.Fatal("empty passphrase accepted")
	}
	got := ks.List()
	if len(got) != 2 || !(got[0] == a && got[1] == b || got[0] == b && got[1] == a) {
		t.Fatalf("List = %v", got)
	}

	// The files are go-ethereum keystore files: geth's own decoder opens them.
	files, _ := filepath.Glob(filepath.Join(dir, "UTC--*"))
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	for _, f := range files {
		blob, _ := os.ReadFile(f)
		if bytes.Contains(blob, []byte(testKeyHex)) {
			t.Fatal("key file holds the plaintext key")
		}
		var v struct {
			Crypto struct {
				KDF string `json:"kdf"`
			} `json:"crypto"`
			Version int `json:"version"`
		}
		if err := json.Unmarshal(blob, &v); err != nil || v.Crypto.KDF != "scrypt" || v.Version != 3 {
			t.Fatalf("%s: %+v %v", f, v, err)
		}
	}

	s, err := ks.Signer(b, "pass two")
	if err != nil {
		t.Fatal(err)
	}
	if s.Address() != b {
		t.Fatal("signer address")
	}
	if _, err := ks.Signer(b, "wrong"); !errors.Is(err, ErrBadPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := ks.Signer(common.HexToAddress(rcptAddr), "x"); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("unknown account: %v", err)
	}

	// A second Keystore over the same directory sees the keys (restart).
	ks2, err := OpenKeystore(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks2.List()) != 2 {
		t.Fatalf("reopened: %v", ks2.List())
	}
	if _, err := ks2.Signer(a, "pass one"); err != nil {
		t.Fatal(err)
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	s, err := NewKeySigner("0x" + testKeyHex)
	if err != nil {
		t.Fatal(err)
	}
	if s.Address() != common.HexToAddress(testKeyAddr) {
		t.Fatal(s.Address())
	}
	key, _ := crypto.HexToECDSA(testKeyHex)
	dec := key.D.String() // the key in decimal, as %v of a big.Int would print it
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	log.Info("signer", "s", s)
	log.Info("any", slog.Any("s", s))
	js, _ := json.Marshal(s)
	w := &Wallet{s: s, addr: s.Address(), chain: "1337"}
	out := fmt.Sprintf("%v %+v %#v %s %x %X %q %d", s, s, s, s, s, s, s, s) +
		fmt.Sprintf("%v %+v %#v %s", w, w, w, w) + fmt.Sprintf("%v %+v", []any{s}, map[string]any{"s": s}) + logs.String() + string(js)
	for _, secret := range []string{testKeyHex, strings.ToUpper(testKeyHex), dec, testKeyHex[:16]} {
		if strings.Contains(strings.ToLower(out), strings.ToLower(secret)) {
			t.Fatalf("key material printed:\n%s", out)
		}
	}
	if !strings.Contains(out, testKeyAddr) {
		t.Fatalf("address missing:\n%s", out)
	}
}

func TestKeyErrorsDoNotEchoInput(t *testing.T) {
	for _, in := range []string{
		"zz" + testKeyHex[2:],                          // not hex
		testKeyHex[:60],                                // short
		strings.Repeat("0", 64),                        // zero
		strings.Repeat("f", 64),                        // above the curve order
		"0x" + testKeyHex + "00",                       // long
		"g" + testKeyHex[1:],                           // one bad char
		testKeyHex[:63] + "\u00e9",                     // non-ASCII
		"0X" + strings.ToUpper(testKeyHex[:62]) + "q1", // bad tail
	} {
		_, err := NewKeySigner(in)
		if err == nil {
			t.Fatalf("accepted %d chars", len(in))
		}
		for i := 0; i+8 <= len(in); i++ {
			if strings.Contains(err.Error(), in[i:i+8]) {
				t.Fatalf("error %q echoes the input", err)
			}
		}
	}
	ks, err := OpenKeystore(t.TempDir(), WithScrypt(keystore.LightScryptN, keystore.LightScryptP))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ks.Import("g"+testKeyHex[1:], "p"); err == nil || strings.Contains(err.Error(), testKeyHex[1:9]) {
		t.Fatalf("import error: %v", err)
	}
}
