package solana

import (
	"encoding/binary"
	"fmt"

	sol "github.com/gagliardetto/solana-go"
)

// On-chain layouts of the Token programs' accounts. Token-2022 keeps the
// Token layout and, for an account with extensions, pads it to the token
// account's size, adds an account-type byte and a list of
// type-length-value extensions.
const (
	mintSize         = 82
	accountTypeByte  = tokenAccountSize // offset of Token-2022's account type
	extensionsOffset = tokenAccountSize + 1
	accountTypeMint  = 1
	accountTypeToken = 2
)

// isTokenProgram reports whether program is Token or Token-2022.
func isTokenProgram(program sol.PublicKey) bool {
	return program.Equals(sol.TokenProgramID) || program.Equals(sol.Token2022ProgramID)
}

// ParseMint reads a mint account's data, owned by program, as an RPC
// Lookup gets it (getAccountInfo). Token-2022 extensions are read so the
// decoder can refuse a mint whose transfers take a fee or run a hook.
func ParseMint(addr, program sol.PublicKey, data []byte) (Mint, error) {
	if !isTokenProgram(program) {
		return Mint{}, fmt.Errorf("%w: %s is owned by %s, not a token program", ErrNotMint, addr, program)
	}
	if len(data) < mintSize || data[45] != 1 {
		return Mint{}, fmt.Errorf("%w: %s has %d bytes of data, not an initialized mint", ErrNotMint, addr, len(data))
	}
	m := Mint{Address: addr, Program: program, Decimals: data[44], Supply: binary.LittleEndian.Uint64(data[36:44]),
		MintAuthority: optionalKey(data[0:36]), FreezeAuthority: optionalKey(data[46:82])}
	if len(data) == mintSize {
		return m, nil
	}
	if !program.Equals(sol.Token2022ProgramID) || len(data) <= accountTypeByte || data[accountTypeByte] != accountTypeMint {
		return Mint{}, fmt.Errorf("%w: %s has %d bytes, which is no mint layout", ErrNotMint, addr, len(data))
	}
	exts, err := extensions(data[extensionsOffset:])
	if err != nil {
		return Mint{}, fmt.Errorf("%w: %s: %v", ErrNotMint, addr, err)
	}
	m.Extensions = exts
	return m, nil
}

// ParseTokenAccount reads a token account's data, owned by program.
func ParseTokenAccount(addr, program sol.PublicKey, data []byte) (TokenAccount, error) {
	if !isTokenProgram(program) {
		return TokenAccount{}, fmt.Errorf("solana: %s is owned by %s, not a token program: not a token account", addr, program)
	}
	if len(data) < tokenAccountSize || data[108] == 0 {
		return TokenAccount{}, fmt.Errorf("solana: %s has %d bytes of data, not an initialized token account", addr, len(data))
	}
	if len(data) > tokenAccountSize && (!program.Equals(sol.Token2022ProgramID) || data[accountTypeByte] != accountTypeToken) {
		return TokenAccount{}, fmt.Errorf("solana: %s has %d bytes, which is no token account layout", addr, len(data))
	}
	return TokenAccount{
		Address: addr, Program: program,
		Mint:  sol.PublicKeyFromBytes(data[0:32]),
		Owner: sol.PublicKeyFromBytes(data[32:64]),
	}, nil
}

// extensions lists the types of a Token-2022 TLV area. A length that runs
// past the data is an error: a truncated list could hide a transfer hook.
func extensions(tlv []byte) ([]Extension, error) {
	var out []Extension
	for len(tlv) >= 4 {
		typ := binary.LittleEndian.Uint16(tlv)
		n := int(binary.LittleEndian.Uint16(tlv[2:]))
		if typ == 0 { // Uninitialized: the rest is padding
			break
		}
		if 4+n > len(tlv) {
			return nil, fmt.Errorf("extension %d claims %d bytes, %d remain", typ, n, len(tlv)-4)
		}
		out = append(out, Extension(typ))
		tlv = tlv[4+n:]
	}
	return out, nil
}

// optionalKey reads a COption<Pubkey> as the Token program lays it out: a
// 4-byte tag, then the key.
func optionalKey(b []byte) *sol.PublicKey {
	if binary.LittleEndian.Uint32(b) == 0 {
		return nil
	}
	k := sol.PublicKeyFromBytes(b[4:36])
	return &k
}
