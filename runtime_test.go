package mandate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/tools"
)

func TestOpenWithoutChain(t *testing.T) {
	_, err := mandate.Open(t.Context(), mandate.Config{})
	if !errors.Is(err, mandate.ErrNoChain) {
		t.Fatalf("Open with nothing configured: %v, want ErrNoChain", err)
	}
}

// served is the shared devnet over HTTP, as a user's RPC URL would reach it.
func served(t *testing.T) (*devnet.Devnet, string) {
	t.Helper()
	d := devnettest.Shared(t)
	url, err := d.Serve(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return d, url
}

// A node reached over RPC gets no built-in policy: the gate allows nothing
// that moves value, and says so; reading still works.
func TestNoPolicyAllowsNothing(t *testing.T) {
	d, url := served(t)
	acct, _ := devnettest.Account(t, d)
	rt, err := mandate.Open(t.Context(), mandate.Config{RPCURL: url, PrivateKey: acct.PrivateKey, DB: "sqlite:" + filepath.Join(t.TempDir(), "m.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if rt.Engine() != nil || rt.Policy() != nil {
		t.Fatal("a policy appeared from nowhere")
	}
	if _, err := rt.Tools().Call(t.Context(), "wallet_balance", json.RawMessage(`{"token":"USDC"}`)); err != nil {
		t.Fatalf("reading a balance without a policy: %v", err)
	}
	_, err = rt.Tools().Call(t.Context(), "wallet_transfer", json.RawMessage(`{"to":"0x000000000000000000000000000000000000bEEF","token":"ETH","amount":"0.1"}`))
	if !errors.Is(err, tools.ErrNoPolicy) {
		t.Fatalf("a transfer without a policy: %v, want ErrNoPolicy", err)
	}
}

// The policy's own token symbols mean the same token to the tools as to the
// gate, even when no token list has them.
func TestPolicyTokensAreResolved(t *testing.T) {
	d, url := served(t)
	acct, _ := devnettest.Account(t, d)
	src := fmt.Sprintf(`version: 1
chains: [1337]
tokens:
  MYDOLLAR: {chain: 1337, address: "%s", decimals: 6}
limits:
  per_tx: {MYDOLLAR: "10"}
`, d.Address(devnet.USDC).Hex())
	rt, err := mandate.Open(t.Context(), mandate.Config{RPCURL: url, PrivateKey: acct.PrivateKey, PolicySource: []byte(src),
		DB: "sqlite:" + filepath.Join(t.TempDir(), "m.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	res, err := rt.Tools().Call(t.Context(), "wallet_balance", json.RawMessage(`{"token":"MYDOLLAR"}`))
	if err != nil {
		t.Fatalf("balance of the policy's token: %v", err)
	}
	if !strings.Contains(res.Text, "MYDOLLAR") {
		t.Fatalf("balance answer %q does not name the policy's symbol", res.Text)
	}
	_, err = rt.Tools().Call(t.Context(), "wallet_transfer", json.RawMessage(`{"to":"0x000000000000000000000000000000000000bEEF","token":"MYDOLLAR","amount":"11"}`))
	if err == nil || !strings.Contains(err.Error(), "per_tx") {
		t.Fatalf("a transfer over the policy's limit for its own symbol: %v", err)
	}
}

// A raw key is for the devnet's chain only, a rule that holds however the
// runtime is reached; a bad one is the configuration's fault.
func TestRawKeyRules(t *testing.T) {
	_, url := served(t)
	_, err := mandate.Open(t.Context(), mandate.Config{RPCURL: url, PrivateKey: "0x1234", DB: "sqlite:" + filepath.Join(t.TempDir(), "m.db")})
	var ce *mandate.ConfigError
	if !errors.As(err, &ce) || ce.Field != "private_key" {
		t.Fatalf("a malformed key: %v, want a ConfigError on private_key", err)
	}
	if strings.Contains(err.Error(), "0x1234") {
		t.Fatalf("the error repeats the key: %v", err)
	}
	_, err = mandate.Open(t.Context(), mandate.Config{RPCURL: url, ChainID: 1, DB: "sqlite:" + filepath.Join(t.TempDir(), "m.db")})
	if !errors.As(err, &ce) || ce.Field != "chain_id" {
		t.Fatalf("a node on another chain than configured: %v, want a ConfigError on chain_id", err)
	}
}

// On the devnet with KeepChats, a new devnet is a new chain with an empty
// ledger and order book, and the conversation carries over.
func TestDevnetKeepsChatsNotLedger(t *testing.T) {
	chats := "sqlite:" + filepath.Join(t.TempDir(), "chats.db")
	var notes []string
	cfg := mandate.Config{Devnet: true, KeepChats: true, ChatDB: chats, Notify: func(m string) { notes = append(notes, m) }}
	turn := func(rt *mandate.Runtime, text string) []agent.Event {
		var evs []agent.Event
		for ev, err := range rt.Agent().Session("keep").Send(t.Context(), text) {
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		return evs
	}
	rt, err := mandate.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	friend := rt.Deployment().Accounts[1].Address.Hex()
	evs := turn(rt, "send 900 USDC to "+friend)
	if !hasTx(evs) {
		t.Fatalf("first transfer not sent: %+v", evs)
	}
	first := rt.Client().Genesis()
	rt.Close()

	rt, err = mandate.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if rt.Client().Genesis() == first {
		t.Fatal("the second devnet has the first one's genesis")
	}
	// The devnet's daily limit is 5,000 USDC: a fresh ledger allows five
	// more of 900; a carried-over one would have counted the first.
	for i := range 5 {
		if evs := turn(rt, "send 900 USDC to "+friend); !hasTx(evs) {
			t.Fatalf("transfer %d on the new chain refused: %+v", i+1, evs)
		}
	}
	msgs, err := mandate.ChatMemory(mustStore(t, chats).Chats()).Recent(t.Context(), "keep", 100000)
	if err != nil {
		t.Fatal(err)
	}
	users := 0
	for _, m := range msgs {
		if m.Role == "user" {
			users++
		}
	}
	if users != 6 {
		t.Fatalf("%d user messages kept across the two devnets, want 6", users)
	}
	if len(notes) != 2 || !strings.Contains(notes[1], "new chain") {
		t.Fatalf("the runtime did not say the chain is new: %q", notes)
	}
}

func hasTx(evs []agent.Event) bool {
	for _, ev := range evs {
		if ev.Kind == agent.EventTx && ev.TxStatus == "mined" {
			return true
		}
	}
	return false
}

func mustStore(t *testing.T, dsn string) *memory.Store {
	t.Helper()
	s, err := memory.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Every tool says whether it moves value; front ends decide from that who
// may call it, so a read-only claim on a tool that signs would hand a
// stranger the wallet.
func TestCatalogTraits(t *testing.T) {
	moving := map[string]bool{"wallet_transfer": true, "token_approve": true, "dex_swap": true,
		"order_place": true, "order_cancel": true, "safe_propose": true, "sol_transfer": true, "sol_swap": true}
	for _, tool := range mandate.Catalog().List() {
		if got := tools.MovesValue(tool); got != moving[tool.Name()] {
			t.Errorf("%s: MovesValue = %v, want %v", tool.Name(), got, moving[tool.Name()])
		}
	}
}
