package memory_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

func TestBotInboxKeepsEachUpdateOnceInChatOrder(t *testing.T) {
	ctx := context.Background()
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			bs := st.Store.BotState()
			for _, u := range []memory.BotUpdate{{ID: 12, Chat: 7}, {ID: 10, Chat: 7}, {ID: 11, Chat: 8}} {
				u.Payload = []byte(`{"update_id":1}`)
				if fresh, err := bs.Put(ctx, "1", u); err != nil || !fresh {
					t.Fatalf("Put(%d) = %v, %v; want fresh", u.ID, fresh, err)
				}
			}
			if fresh, err := bs.Put(ctx, "1", memory.BotUpdate{ID: 10, Chat: 7, Payload: []byte("{}")}); err != nil || fresh {
				t.Fatalf("Put of a redelivered update = %v, %v; want not fresh", fresh, err)
			}
			if off, _ := bs.Offset(ctx, "1"); off != 13 {
				t.Fatalf("offset after Put = %d, want 13 (one past the highest stored)", off)
			}
			waiting, err := bs.Waiting(ctx, "1")
			slices.Sort(waiting)
			if err != nil || !slices.Equal(waiting, []int64{7, 8}) {
				t.Fatalf("Waiting = %v, %v; want [7 8]", waiting, err)
			}
			var order []int64
			for {
				u, ok, err := bs.Next(ctx, "1", 7)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				if n, err := bs.Begin(ctx, "1", u.ID); err != nil || n != 1 {
					t.Fatalf("Begin(%d) = %d, %v; want 1", u.ID, n, err)
				}
				order = append(order, u.ID)
				if err := bs.Finish(ctx, "1", u.ID, memory.UpdateDone); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(order, []int64{10, 12}) {
				t.Fatalf("chat 7 handled %v, want [10 12]", order)
			}
			u, ok, _ := bs.Next(ctx, "1", 8)
			if !ok || u.ID != 11 {
				t.Fatalf("Next of chat 8 = %+v, %v", u, ok)
			}
			bs.Begin(ctx, "1", 11)
			if n, _ := bs.Begin(ctx, "1", 11); n != 2 {
				t.Fatalf("a second Begin counted %d, want 2 (the first was cut short)", n)
			}
			if err := bs.Finish(ctx, "1", 11, "bogus"); err == nil {
				t.Fatal("Finish with an unknown state succeeded")
			}
			if err := bs.Prune(ctx, "1", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if u, ok, _ := bs.Next(ctx, "1", 8); !ok || u.ID != 11 {
				t.Fatal("Prune removed an update not yet handled")
			}
		})
	}
}

func TestBotLeaseHasOneHolder(t *testing.T) {
	ctx := context.Background()
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			bs := st.Store.BotState()
			var mu sync.Mutex
			winners := 0
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := bs.Claim(ctx, "1", 5, string(rune('a'+i)), time.Minute)
					if err != nil {
						t.Error(err)
					}
					if ok {
						mu.Lock()
						winners++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if winners != 1 {
				t.Fatalf("%d holders claimed one chat at once, want 1", winners)
			}
			if ok, _ := bs.Claim(ctx, "1", 6, "x", -time.Second); !ok {
				t.Fatal("claiming a free chat failed")
			}
			if ok, _ := bs.Claim(ctx, "1", 6, "y", time.Minute); !ok {
				t.Fatal("a lease that ran out was not taken over")
			}
			if err := bs.Release(ctx, "1", 6, "x"); err != nil {
				t.Fatal(err)
			}
			if ok, _ := bs.Claim(ctx, "1", 6, "x", time.Minute); ok {
				t.Fatal("a holder whose lease was taken over released the new holder's lease")
			}
			bs.Release(ctx, "1", 6, "y")
			if ok, _ := bs.Claim(ctx, "1", 6, "x", time.Minute); !ok {
				t.Fatal("a released chat could not be claimed")
			}
		})
	}
}

func TestBotApprovalSettlesOnce(t *testing.T) {
	ctx := context.Background()
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			bs := st.Store.BotState()
			open := memory.BotApproval{ID: "a1", Bot: "1", Question: "send?", Expires: time.Now().Add(time.Minute)}
			if err := bs.PutApproval(ctx, open); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			won := []string{}
			var wg sync.WaitGroup
			for _, verdict := range []string{"approved", "rejected", "approved", "expired"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ok, err := bs.Settle(ctx, "a1", verdict, "@owner")
					if err != nil {
						t.Error(err)
					}
					if ok {
						mu.Lock()
						won = append(won, verdict)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			a, ok, err := bs.Approval(ctx, "a1")
			if err != nil || !ok || len(won) != 1 || a.State != won[0] {
				t.Fatalf("settled by %v, stored %+v (%v, %v); want exactly one", won, a, ok, err)
			}
			late := memory.BotApproval{ID: "a2", Bot: "1", Question: "q", Expires: time.Now().Add(-time.Second)}
			bs.PutApproval(ctx, late)
			if ok, _ := bs.Settle(ctx, "a2", "approved", "@owner"); ok {
				t.Fatal("an expired question was approved")
			}
			if ok, _ := bs.Settle(ctx, "a2", "expired", ""); !ok {
				t.Fatal("an expired question could not be closed as expired")
			}
			if _, ok, _ := bs.Approval(ctx, "nope"); ok {
				t.Fatal("an unknown approval was found")
			}
			if err := bs.Prune(ctx, "1", time.Now()); err != nil {
				t.Fatal(err)
			}
			if _, ok, _ := bs.Approval(ctx, "a2"); ok {
				t.Fatal("Prune kept a question that expired before its cut-off")
			}
			if _, ok, _ := bs.Approval(ctx, "a1"); !ok {
				t.Fatal("Prune removed a question that expires after its cut-off")
			}
		})
	}
}
