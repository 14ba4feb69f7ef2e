package memory_test

import (
	"context"
	"testing"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

func TestBotStateOffsetOnlyMovesForward(t *testing.T) {
	ctx := context.Background()
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			bs := st.Store.BotState()
			if off, err := bs.Offset(ctx, "1001"); err != nil || off != 0 {
				t.Fatalf("Offset of an unknown bot = %d, %v; want 0, nil", off, err)
			}
			for _, step := range []struct{ set, want int64 }{{5, 5}, {9, 9}, {7, 9}, {9, 9}, {12, 12}} {
				if err := bs.SetOffset(ctx, "1001", step.set); err != nil {
					t.Fatalf("SetOffset(%d): %v", step.set, err)
				}
				if off, err := bs.Offset(ctx, "1001"); err != nil || off != step.want {
					t.Fatalf("after SetOffset(%d): Offset = %d, %v; want %d", step.set, off, err, step.want)
				}
			}
			if off, err := bs.Offset(ctx, "2002"); err != nil || off != 0 {
				t.Fatalf("another bot's Offset = %d, %v; want 0 (offsets are per bot)", off, err)
			}
			if err := bs.SetOffset(ctx, "1001:secret", 3); err == nil {
				t.Fatal("SetOffset keyed by a whole token succeeded; want it refused")
			}
			if err := bs.SetOffset(ctx, "", 3); err == nil {
				t.Fatal("SetOffset with an empty bot id succeeded; want it refused")
			}
		})
	}
}

func TestBotStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	st := memtest.SQLite(t)
	if err := st.Store.BotState().SetOffset(ctx, "42", 100); err != nil {
		t.Fatal(err)
	}
	again, err := memory.Open(ctx, st.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if off, err := again.BotState().Offset(ctx, "42"); err != nil || off != 100 {
		t.Fatalf("Offset after reopening = %d, %v; want 100", off, err)
	}
}
