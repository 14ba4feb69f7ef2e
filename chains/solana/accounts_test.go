package solana

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	bin "github.com/gagliardetto/binary"
	sol "github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/programs/token"
)

// encode writes v with solana-go's own account encoder.
func encode(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := bin.NewBinEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseAccounts(t *testing.T) {
	addr, owner, mintAddr := newKey(), newKey(), newKey()
	auth := newKey()
	mint := encode(t, token.Mint{MintAuthority: &auth, Supply: 1e12, Decimals: 6, IsInitialized: true})
	if len(mint) != mintSize {
		t.Fatalf("solana-go encodes a mint in %d bytes", len(mint))
	}
	m, err := ParseMint(addr, sol.TokenProgramID, mint)
	if err != nil || m.Decimals != 6 || len(m.Extensions) != 0 || m.Supply != 1e12 ||
		m.MintAuthority == nil || !m.MintAuthority.Equals(auth) || m.FreezeAuthority != nil {
		t.Fatalf("mint: %+v %v", m, err)
	}

	// A Token-2022 mint with a metadata pointer and a transfer hook.
	ext := append(append([]byte{}, mint...), make([]byte, tokenAccountSize-mintSize)...)
	ext = append(ext, accountTypeMint)
	ext = tlv(ext, 18, 64)
	ext = tlv(ext, uint16(ExtTransferHook), 64)
	m, err = ParseMint(addr, sol.Token2022ProgramID, ext)
	if err != nil || !slices.Equal(m.Extensions, []Extension{18, ExtTransferHook}) {
		t.Fatalf("2022 mint: %+v %v", m, err)
	}
	if err := checkMint(m); !errors.Is(err, ErrRiskyMint) {
		t.Fatalf("hook mint passed: %v", err)
	}
	for name, c := range map[string]struct {
		prog sol.PublicKey
		data []byte
	}{
		"truncated TLV":       {sol.Token2022ProgramID, ext[:len(ext)-1]},
		"extensions on Token": {sol.TokenProgramID, ext},
		"not a token program": {sol.SystemProgramID, mint},
		"short":               {sol.TokenProgramID, mint[:40]},
	} {
		if _, err := ParseMint(addr, c.prog, c.data); !errors.Is(err, ErrNotMint) {
			t.Errorf("%s: %v", name, err)
		}
	}

	acct := encode(t, token.Account{Mint: mintAddr, Owner: owner, Amount: 5, State: token.Initialized})
	if len(acct) != tokenAccountSize {
		t.Fatalf("solana-go encodes a token account in %d bytes", len(acct))
	}
	a, err := ParseTokenAccount(addr, sol.TokenProgramID, acct)
	if err != nil || a.Mint != mintAddr || a.Owner != owner {
		t.Fatalf("account: %+v %v", a, err)
	}
	if _, err := ParseTokenAccount(addr, sol.TokenProgramID, acct[:100]); err == nil {
		t.Fatal("a short account parsed")
	}
}

func tlv(b []byte, typ uint16, n int) []byte {
	b = binary.LittleEndian.AppendUint16(b, typ)
	b = binary.LittleEndian.AppendUint16(b, uint16(n))
	return append(b, make([]byte, n)...)
}
