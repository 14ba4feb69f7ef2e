package discord

import (
	"testing"
	"time"
)

func TestFlood(t *testing.T) {
	f := newFlood(3)
	now := time.Unix(1_800_000_000, 0)
	want := []verdict{allow, allow, allow, warn, ignore, ignore}
	for i, w := range want {
		if got := f.check("1", now); got != w {
			t.Fatalf("message %d: verdict %d, want %d", i+1, got, w)
		}
	}
	if got := f.check("2", now); got != allow {
		t.Fatalf("another user's first message: verdict %d, want allow", got)
	}
	if got := f.check("1", now.Add(floodWindow)); got != allow {
		t.Fatalf("the first message of the next minute: verdict %d, want allow", got)
	}
}
