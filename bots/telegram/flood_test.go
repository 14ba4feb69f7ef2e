package telegram

import (
	"testing"
	"time"
)

func TestFloodWindow(t *testing.T) {
	f := newFlood(2)
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	want := []verdict{allow, allow, warn, ignore, ignore}
	for i, w := range want {
		if got := f.check(7, t0.Add(time.Duration(i)*time.Second)); got != w {
			t.Fatalf("update %d: verdict %d, want %d", i+1, got, w)
		}
	}
	if got := f.check(8, t0.Add(5*time.Second)); got != allow {
		t.Fatalf("another user during the first's flood: verdict %d, want allow", got)
	}
	// The window passed: allowed again, and warned again past the limit.
	later := t0.Add(floodWindow)
	for i, w := range []verdict{allow, allow, warn} {
		if got := f.check(7, later.Add(time.Duration(i)*time.Second)); got != w {
			t.Fatalf("after the window, update %d: verdict %d, want %d", i+1, got, w)
		}
	}
}

func TestFloodSweepsEndedWindows(t *testing.T) {
	f := newFlood(1)
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	for id := range int64(maxTracked) {
		f.check(id, t0)
	}
	f.check(-1, t0.Add(floodWindow))
	if len(f.users) != 1 {
		t.Fatalf("%d users tracked after every other window ended, want 1", len(f.users))
	}
}
