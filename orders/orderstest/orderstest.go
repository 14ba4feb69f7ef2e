// Package orderstest checks an orders.Store against the contract every
// implementation keeps: memory.Store's on SQLite and PostgreSQL, and
// orders.MemStore, run the same checks.
package orderstest

import (
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/policies"
)

// Run checks s: placing assigns ids and keeps every field exactly; lists
// are per wallet (any letter case), newest first, open-only when asked;
// Update is a compare-and-set on status open and the run count read.
func Run(t *testing.T, s orders.Store) {
	t.Helper()
	ctx := context.Background()
	const wallet = "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"
	bps := uint32(75)
	big1 := new(big.Int).Lsh(big.NewInt(1), 200) // beyond int64 and float64's exact range
	usdc := policies.Token{Symbol: "USDC", Address: "0x2000000000000000000000000000000000000002", Decimals: 6}
	next := time.Unix(1_900_000_000, 123)
	dca, err := s.Place(ctx, orders.Order{Chain: "1337", Wallet: wallet, Kind: orders.DCA, From: usdc, To: policies.Token{Symbol: "ETH", Decimals: 18},
		Amount: big1, Trigger: "every 1d for 7", SlippageBps: &bps, Every: 24 * time.Hour, Runs: 7, NextAt: next, Status: orders.Open})
	if err != nil {
		t.Fatal(err)
	}
	lim, err := s.Place(ctx, orders.Order{Chain: "1337", Wallet: wallet, Kind: orders.Limit, From: policies.Token{Symbol: "ETH", Decimals: 18}, To: usdc,
		Amount: big.NewInt(5), Trigger: "ETH >= 3500", Status: orders.Open})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Place(ctx, orders.Order{Chain: "1", Wallet: wallet, Kind: orders.Limit, From: usdc, To: usdc, Amount: big.NewInt(1), Trigger: "x", Status: orders.Open}); err != nil {
		t.Fatal(err)
	}
	if dca.ID <= 0 || lim.ID <= dca.ID {
		t.Fatalf("ids %d then %d, want increasing positive ids", dca.ID, lim.ID)
	}
	got, err := s.Get(ctx, "1337", "0xabcdef0123456789abcdef0123456789abcdef01", dca.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Amount.Cmp(big1) != 0 || got.From != usdc || got.To.Symbol != "ETH" || got.SlippageBps == nil || *got.SlippageBps != 75 ||
		got.Every != 24*time.Hour || got.Runs != 7 || !got.NextAt.Equal(next) || got.Kind != orders.DCA || got.Status != orders.Open || got.Trigger != "every 1d for 7" {
		t.Fatalf("stored %+v, got back %+v", dca, got)
	}
	if _, err := s.Get(ctx, "1", wallet, dca.ID); !errors.Is(err, orders.ErrNotFound) {
		t.Errorf("another chain's view of the order: %v, want ErrNotFound", err)
	}
	list, err := s.List(ctx, "1337", wallet, true)
	if err != nil || len(list) != 2 || list[0].ID != lim.ID || list[1].SlippageBps != nil && list[0].SlippageBps != nil {
		t.Fatalf("open list = %+v, %v; want the limit then the DCA", list, err)
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
	if err := s.Update(ctx, orders.Order{ID: 9999, Chain: "1337", Wallet: wallet, Amount: big.NewInt(1), Status: orders.Open}, orders.Order{Status: orders.Open}); !errors.Is(err, orders.ErrNotFound) {
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
	open, _ := s.List(ctx, "1337", wallet, true)
	all, _ := s.List(ctx, "1337", wallet, false)
	if len(open) != 1 || open[0].Done != 1 || open[0].LastTx != "0xabc" || len(all) != 2 || all[0].Status != orders.Cancelled {
		t.Errorf("after updates: open %+v, all %+v", open, all)
	}
}
