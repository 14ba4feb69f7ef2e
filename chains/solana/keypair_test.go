package solana

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	sol "github.com/gagliardetto/solana-go"
)

func TestKeypairImport(t *testing.T) {
	priv, err := sol.NewRandomPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	want := priv.PublicKey()
	fromB58, err := KeypairFromBase58(priv.String())
	if err != nil || fromB58.Address() != want {
		t.Fatalf("base58: %v %v", fromB58, err)
	}
	// The Solana CLI's keypair file: a JSON array of the 64 bytes.
	nums := make([]int, len(priv))
	for i, b := range priv {
		nums[i] = int(b)
	}
	file, _ := json.Marshal(nums)
	cli, err := sol.PrivateKeyFromSolanaKeygenFileBytes(file)
	if err != nil || !bytes.Equal(cli, priv) {
		t.Fatalf("solana-go does not read the file the test wrote: %v", err)
	}
	fromJSON, err := KeypairFromJSON(file)
	if err != nil || fromJSON.Address() != want {
		t.Fatalf("json: %v %v", fromJSON, err)
	}

	forged := append([]byte{}, priv...)
	forged[40] ^= 1 // the public half no longer matches the secret half
	bad := map[string]func() error{
		"not base58":       func() error { _, err := KeypairFromBase58("0OIl" + priv.String()[4:]); return err },
		"32 bytes":         func() error { _, err := KeypairFromBase58(sol.PublicKey(want).String()); return err },
		"forged halves":    func() error { _, err := KeypairFromBase58(sol.PrivateKey(forged).String()); return err },
		"json not array":   func() error { _, err := KeypairFromJSON([]byte(`{"k":1}`)); return err },
		"json not bytes":   func() error { _, err := KeypairFromJSON([]byte(`[256` + strings.Repeat(",1", 63) + `]`)); return err },
		"json short array": func() error { _, err := KeypairFromJSON(file[:len(file)-8]); return err },
	}
	for name, f := range bad {
		err := f()
		if !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: got %v, want ErrBadKey", name, err)
		} else if strings.Contains(err.Error(), priv.String()[:8]) {
			t.Errorf("%s: the error quotes the key: %v", name, err)
		}
	}
}

// TestKeysNeverPrinted prints a Keypair and a Signer every way a program
// might and looks for the secret in any encoding.
func TestKeysNeverPrinted(t *testing.T) {
	priv, _ := sol.NewRandomPrivateKey()
	kp, err := KeypairFromBase58(priv.String())
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{priv.String(), fmt.Sprintf("%x", []byte(priv[:32])), fmt.Sprint([]byte(priv[:8]))}
	for _, v := range []any{kp, NewKeySigner(kp)} {
		var out bytes.Buffer
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		j, _ := json.Marshal(v)
		out.Write(j)
		slog.New(slog.NewJSONHandler(&out, nil)).Info("key", "k", v)
		if !strings.Contains(out.String(), kp.Address().String()) {
			t.Fatalf("%T does not show its address:\n%s", v, out.String())
		}
		for _, s := range secrets {
			if strings.Contains(out.String(), s) {
				t.Fatalf("%T leaks its key:\n%s", v, out.String())
			}
		}
	}
}
