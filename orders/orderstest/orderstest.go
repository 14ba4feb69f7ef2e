// Package orderstest checks an orders.Store against the contract every
// implementation keeps: memory.Store's on SQLite and PostgreSQL, and
// orders.MemStore, run the same checks.
package orderstest

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/policies"
)

// Genesis hashes of two chains that share chain id 1337 (a devnet
// restarted over the same database), and of chain 1.
const (
	GenesisA = "0xaaaa000000000000000000000000000000000000000000000000000000000001"
	GenesisB = "0xbbbb000000000000000000000000000000000000000000000000000000000002"
	Genesis1 = "0x1111000000000000000000000000000000000000000000000000000000000003"
)

// Run checks s: placing assigns ids and keeps every field exactly; lists
// are per wallet (any letter case) and per chain, id and genesis, newest
// first, open-only when asked; Update is a compare-and-set on status open
// and the run count read. forget makes an order one placed at a given time
// before orders recorded their chain's genesis (as an upgraded database
// holds them), for the checks of Adopt.
func Run(t *testing.T, s orders.Store, forget func(id int64, created time.Time)) {
	t.Helper()
	ctx := context.Background()
	keyA, keyB := orders.ChainKey("1337", GenesisA), orders.ChainKey("1337", GenesisB)
	const wallet = "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"
	bps := uint32(75)
	big1 := new(big.Int).Lsh(big.NewInt(1), 200) // beyond int64 and float64's exact range
	usdc := policies.Token{Symbol: "USDC", Address: "0x2000000000000000000000000000000000000002", Decimals: 6}
	next := time.Unix(1_900_000_000, 123)
	dca, err := s.Place(ctx, orders.Order{Chain: "1337", Genesis: GenesisA, Wallet: wallet, Kind: orders.DCA, From: usdc, To: policies.Token{Symbol: "ETH", Decimals: 18},
		Amount: big1, Trigger: "every 1d for 7", SlippageBps: &bps, Every: 24 * time.Hour, Runs: 7, NextAt: next, Status: orders.Open})
	if err != nil {
		t.Fatal(err)
	}
	lim, err := s.Place(ctx, orders.Order{Chain: "1337", Genesis: "0x" + strings.ToUpper(GenesisA[2:]), Wallet: wallet, Kind: orders.Limit, From: policies.Token{Symbol: "ETH", Decimals: 18}, To: usdc,
		Amount: big.NewInt(5), Trigger: "ETH >= 3500", Status: orders.Open})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Place(ctx, orders.Order{Chain: "1", Genesis: Genesis1, Wallet: wallet, Kind: orders.Limit, From: usdc, To: usdc, Amount: big.NewInt(1), Trigger: "x", Status: orders.Open}); err != nil {
		t.Fatal(err)
	}
	if dca.ID <= 0 || lim.ID <= dca.ID {
		t.Fatalf("ids %d then %d, want increasing positive ids", dca.ID, lim.ID)
	}
	if _, err := s.Place(ctx, orders.Order{Chain: "1337", Wallet: wallet, Kind: orders.Limit, From: usdc, To: usdc, Amount: big.NewInt(1), Trigger: "x", Status: orders.Open}); err == nil {
		t.Error("an order placed without its chain's genesis was stored")
	}
	got, err := s.Get(ctx, keyA, "0xabcdef0123456789abcdef0123456789abcdef01", dca.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Amount.Cmp(big1) != 0 || got.From != usdc || got.To.Symbol != "ETH" || got.SlippageBps == nil || *got.SlippageBps != 75 ||
		got.Every != 24*time.Hour || got.Runs != 7 || !got.NextAt.Equal(next) || got.Kind != orders.DCA || got.Status != orders.Open || got.Trigger != "every 1d for 7" ||
		got.Chain != "1337" || got.Genesis != GenesisA || got.ChainKey() != keyA {
		t.Fatalf("stored %+v, got back %+v", dca, got)
	}
	for _, other := range []string{orders.ChainKey("1", Genesis1), keyB, orders.ChainKey("1", GenesisA)} {
		if _, err := s.Get(ctx, other, wallet, dca.ID); !errors.Is(err, orders.ErrNotFound) {
			t.Errorf("the order seen from chain %s: %v, want ErrNotFound", other, err)
		}
		if l, err := s.List(ctx, other, wallet, false); err != nil || len(l) > 1 || len(l) == 1 && l[0].Chain != "1" {
			t.Errorf("chain %s lists %+v, %v: orders of chain 1337/%s", other, l, err, GenesisA)
		}
	}
	if _, err := s.List(ctx, "1337", wallet, false); !errors.Is(err, orders.ErrChainKey) {
		t.Errorf("a list by chain id alone: %v, want ErrChainKey", err)
	}
	list, err := s.List(ctx, strings.ToUpper(keyA), wallet, true)
	if err != nil || len(list) != 2 || list[0].ID != lim.ID || list[1].SlippageBps != nil && list[0].SlippageBps != nil || list[0].Genesis != GenesisA {
		t.Fatalf("open list = %+v, %v; want the limit then the DCA", list, err)
	}
	if n, err := s.Elsewhere(ctx, keyB, wallet); err != nil || n != 2 {
		t.Errorf("live orders elsewhere, seen from a second chain 1337 = %d, %v; want the first chain's 2", n, err)
	}
	if n, err := s.Elsewhere(ctx, keyA, wallet); err != nil || n != 0 {
		t.Errorf("live orders elsewhere, seen from their own chain = %d, %v; want 0", n, err)
	}

	// One run recorded; a second writer that read the same state loses.
	read := got
	got.Done, got.Note, got.LastTx = 1, "run 1", "0xabc"
	if err := s.Update(ctx, got, read); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, got, read); !errors.Is(err, orders.ErrConflict) {
		t.Errorf("second update of the same run: %v, want ErrConflict", err)
	}
	limRead := lim
	lim.Status = orders.Cancelled
	if err := s.Update(ctx, lim, limRead); err != nil {
		t.Fatal(err)
	}
	lim.Status = orders.Filled
	if err := s.Update(ctx, lim, limRead); !errors.Is(err, orders.ErrConflict) {
		t.Errorf("filling a cancelled order: %v, want ErrConflict", err)
	}
	if err := s.Update(ctx, orders.Order{ID: 9999, Chain: "1337", Genesis: GenesisA, Wallet: wallet, Amount: big.NewInt(1), Status: orders.Open}, orders.Order{Status: orders.Open}); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("updating a missing order: %v, want ErrNotFound", err)
	}
	// A claimed run (executing) is live, and only its claimer's record,
	// read as executing, lands on it.
	claimed := got
	claimed.Status = orders.Executing
	if err := s.Update(ctx, claimed, got); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, got, got); !errors.Is(err, orders.ErrConflict) {
		t.Errorf("an update of an executing order read as open: %v, want ErrConflict", err)
	}
	bumped := claimed
	bumped.Attempt = 1
	if err := s.Update(ctx, bumped, claimed); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, got, claimed); !errors.Is(err, orders.ErrConflict) {
		t.Errorf("an update read before an attempt was counted: %v, want ErrConflict", err)
	}
	back := got
	back.Attempt = 1
	if err := s.Update(ctx, back, bumped); err != nil {
		t.Fatal(err)
	}
	open, _ := s.List(ctx, keyA, wallet, true)
	all, _ := s.List(ctx, keyA, wallet, false)
	if len(open) != 1 || open[0].Done != 1 || open[0].LastTx != "0xabc" || len(all) != 2 || all[0].Status != orders.Cancelled || open[0].Genesis != GenesisA {
		t.Errorf("after updates: open %+v, all %+v", open, all)
	}

	// Orders placed before orders recorded genesis: one before chain B
	// began, one after. B adopts only the later one, once; the earlier
	// one is another chain's, which B never lists.
	before, err := s.Place(ctx, orders.Order{Chain: "1337", Genesis: GenesisA, Wallet: wallet, Kind: orders.Stop, From: usdc, To: usdc, Amount: big.NewInt(2), Trigger: "y", Status: orders.Open})
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.Place(ctx, orders.Order{Chain: "1337", Genesis: GenesisA, Wallet: wallet, Kind: orders.Stop, From: usdc, To: usdc, Amount: big.NewInt(3), Trigger: "z", Status: orders.Open})
	if err != nil {
		t.Fatal(err)
	}
	born := time.Unix(1_800_000_000, 0)
	forget(before.ID, born.Add(-time.Second))
	forget(after.ID, born)
	if l, _ := s.List(ctx, keyB, wallet, false); len(l) != 0 {
		t.Fatalf("orders without a genesis listed before any chain adopted them: %+v", l)
	}
	if n, err := s.Elsewhere(ctx, keyB, wallet); err != nil || n != 3 {
		t.Errorf("live orders elsewhere, seen from chain B before it adopts = %d, %v; want A's live DCA and the 2 unadopted", n, err)
	}
	if n, err := s.Adopt(ctx, orders.ChainKey("1", GenesisB), wallet, time.Time{}); err != nil || n != 0 {
		t.Errorf("chain 1 adopted %d orders of chain 1337 (%v)", n, err)
	}
	if n, err := s.Adopt(ctx, keyB, "0x0000000000000000000000000000000000000001", time.Time{}); err != nil || n != 0 {
		t.Errorf("another wallet adopted %d orders (%v)", n, err)
	}
	if n, err := s.Adopt(ctx, strings.ToUpper(keyB), strings.ToLower(wallet), born); err != nil || n != 1 {
		t.Fatalf("chain B adopted %d orders (%v), want the one placed after it began", n, err)
	}
	if n, err := s.Adopt(ctx, keyB, wallet, born); err != nil || n != 0 {
		t.Errorf("a second adoption took %d more (%v)", n, err)
	}
	l, err := s.List(ctx, keyB, wallet, true)
	if err != nil || len(l) != 1 || l[0].ID != after.ID || l[0].Genesis != GenesisB || l[0].ChainKey() != keyB {
		t.Fatalf("chain B lists %+v (%v), want only the adopted order #%d", l, err, after.ID)
	}
	if _, err := s.Get(ctx, keyB, wallet, before.ID); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("the order placed before chain B began, from B: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, keyA, wallet, after.ID); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("the order chain B adopted, from A: %v, want ErrNotFound", err)
	}
	if n, err := s.Elsewhere(ctx, keyB, wallet); err != nil || n != 2 {
		t.Errorf("live orders elsewhere, seen from chain B = %d, %v; want A's live DCA and the unadopted one", n, err)
	}
	// A (still running, older than both) adopts the earlier one.
	if n, err := s.Adopt(ctx, keyA, wallet, born.Add(-time.Hour)); err != nil || n != 1 {
		t.Errorf("chain A adopted %d orders (%v), want the one left", n, err)
	}
	if got, err := s.Get(ctx, keyA, wallet, before.ID); err != nil || got.Genesis != GenesisA || !got.CreatedAt.Equal(born.Add(-time.Second)) {
		t.Errorf("the adopted order from A: %+v, %v", got, err)
	}
}
