package flood

import (
	"testing"
	"time"
)

func TestWindow(t *testing.T) {
	f := New[int64](2)
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	want := []Verdict{Allow, Allow, Warn, Ignore, Ignore}
	for i, w := range want {
		if got := f.Check(7, t0.Add(time.Duration(i)*time.Second)); got != w {
			t.Fatalf("message %d: verdict %d, want %d", i+1, got, w)
		}
	}
	if got := f.Check(8, t0.Add(5*time.Second)); got != Allow {
		t.Fatalf("another user during the first's flood: verdict %d, want Allow", got)
	}
	// The window passed: allowed again, and warned again past the limit.
	later := t0.Add(Window)
	for i, w := range []Verdict{Allow, Allow, Warn} {
		if got := f.Check(7, later.Add(time.Duration(i)*time.Second)); got != w {
			t.Fatalf("after the window, message %d: verdict %d, want %d", i+1, got, w)
		}
	}
}

func TestStringIDs(t *testing.T) {
	f := New[string](3)
	now := time.Unix(1_800_000_000, 0)
	for i, w := range []Verdict{Allow, Allow, Allow, Warn, Ignore, Ignore} {
		if got := f.Check("1", now); got != w {
			t.Fatalf("message %d: verdict %d, want %d", i+1, got, w)
		}
	}
	if got := f.Check("2", now); got != Allow {
		t.Fatalf("another user's first message: verdict %d, want Allow", got)
	}
}

func TestDefaultRate(t *testing.T) {
	f := New[string](0)
	now := time.Unix(1_800_000_000, 0)
	for i := range DefaultRate {
		if got := f.Check("1", now); got != Allow {
			t.Fatalf("message %d of %d: verdict %d, want Allow", i+1, DefaultRate, got)
		}
	}
	if got := f.Check("1", now); got != Warn {
		t.Fatalf("message %d: verdict %d, want Warn", DefaultRate+1, got)
	}
}

func TestSweepsEndedWindows(t *testing.T) {
	f := New[int64](1)
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	for id := range int64(maxTracked) {
		f.Check(id, t0)
	}
	f.Check(-1, t0.Add(Window))
	if n := f.tracked(); n != 1 {
		t.Fatalf("%d users tracked after every other window ended, want 1", n)
	}
}
