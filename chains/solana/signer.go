package solana

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"

	sol "github.com/gagliardetto/solana-go"
)

// Signer is an account's key as this package holds it. Its signing method
// is unexported, and that is the point of the type: code that holds a
// Signer — a tool, the agent, an embedder's callback — cannot sign anything
// with it. Only this package can, in one place (signApproved), after the
// transaction was decoded into intents and an Approval was spent for each
// of them. So a key never signs a transaction the policy did not approve.
//
// Signers print as their address only (String, GoString, Format, LogValue,
// MarshalJSON).
type Signer interface {
	Address() sol.PublicKey
	// signMessage signs a transaction's serialized message.
	signMessage(ctx context.Context, msg []byte) (sol.Signature, error)
}

// NewKeySigner returns a Signer holding k. For tests and the devnet
// (MANDATE_SOLANA_KEY); anywhere else use a Keystore.
func NewKeySigner(k *Keypair) Signer {
	if k == nil {
		return nil
	}
	return &keySigner{kp: k}
}

// keySigner holds a decrypted key. It has no exported method that signs or
// returns the key.
type keySigner struct{ kp *Keypair }

func (s *keySigner) Address() sol.PublicKey { return s.kp.addr }

func (s *keySigner) signMessage(_ context.Context, msg []byte) (sol.Signature, error) {
	return sol.SignatureFromBytes(ed25519.Sign(s.kp.key, msg)), nil
}

func (s *keySigner) String() string   { return "solana.Signer(" + s.kp.addr.String() + ", key redacted)" }
func (s *keySigner) GoString() string { return s.String() }

// Format prints the redacted String for every verb.
func (s *keySigner) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// LogValue logs the address only.
func (s *keySigner) LogValue() slog.Value {
	return slog.GroupValue(slog.String("address", s.kp.addr.String()), slog.String("key", "redacted"))
}

// MarshalJSON writes the address only.
func (s *keySigner) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"address": s.kp.addr.String()})
}
