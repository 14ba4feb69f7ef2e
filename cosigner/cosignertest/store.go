// Package cosignertest checks a cosigner.Store against its contract; the
// database's and the in-memory store run the same checks.
package cosignertest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/mandatehq/mandate/cosigner"
)

// RunStore checks s: a review is found by chain and hash (any letter
// case), a rejection can be replaced, an approval never is.
func RunStore(t *testing.T, s cosigner.Store) {
	t.Helper()
	ctx := context.Background()
	h := "0xAbCd000000000000000000000000000000000000000000000000000000000001"
	if _, ok, err := s.Get(ctx, "1337", h); ok || err != nil {
		t.Fatalf("empty store: %v %v", ok, err)
	}
	rej := cosigner.Decision{Decision: cosigner.Reject, SafeTxHash: h, Safe: "0x5afe", ChainID: "1337", Nonce: 3,
		Reasons: []string{"no"}, Intents: []json.RawMessage{json.RawMessage(`{"kind":"safe_tx"}`)}, At: time.Unix(1_900_000_000, 0)}
	if err := s.Put(ctx, rej); err != nil {
		t.Fatal(err)
	}
	app := rej
	app.Decision, app.Reasons, app.Signature = cosigner.Approve, []string{}, "0xsig"
	if err := s.Put(ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, rej); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Get(ctx, "1337", "0xabcd000000000000000000000000000000000000000000000000000000000001")
	if err != nil || !ok || got.Decision != cosigner.Approve || got.Signature != "0xsig" || got.Nonce != 3 || len(got.Intents) != 1 {
		t.Fatalf("after approve then reject: %+v %v %v", got, ok, err)
	}
	if _, ok, _ := s.Get(ctx, "1", h); ok {
		t.Error("another chain sees the review")
	}
}
