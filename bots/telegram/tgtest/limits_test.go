package tgtest

import (
	"testing"
	"time"
)

// The edge of a window: a limit of one per second lets a message through exactly a
// second after the last and refuses one a nanosecond earlier, with retry_after rounded up
// to a whole second as Telegram does.
func TestLimiterWindowEdges(t *testing.T) {
	lm := newLimiter(DefaultLimits())
	dm := Chat{ID: 7, Type: "private"}
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	if err := lm.take(dm, t0); err != nil {
		t.Fatalf("first message: %v", err)
	}
	err := lm.take(dm, t0.Add(time.Second-time.Nanosecond))
	if err == nil || err.code != 429 || err.retryAfter != 1 {
		t.Fatalf("second message a nanosecond inside the second: %+v, want 429 with retry_after 1", err)
	}
	if err := lm.take(dm, t0.Add(time.Second)); err != nil {
		t.Fatalf("second message exactly a second later: %v", err)
	}

	// 30 a second across chats: the 31st within the same second is refused, and fits
	// exactly a second after the first.
	lm = newLimiter(DefaultLimits())
	for i := range 30 {
		if err := lm.take(Chat{ID: int64(100 + i), Type: "private"}, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatalf("message %d of 30: %v", i+1, err)
		}
	}
	other := Chat{ID: 999, Type: "private"}
	if err := lm.take(other, t0.Add(time.Second-time.Nanosecond)); err == nil || err.code != 429 {
		t.Fatalf("31st message within a second: %+v, want 429", err)
	}
	if err := lm.take(other, t0.Add(time.Second)); err != nil {
		t.Fatalf("31st message exactly a second after the first: %v", err)
	}

	// 20 a minute in a group, on top of one a second.
	lm = newLimiter(DefaultLimits())
	grp := Chat{ID: -5, Type: "supergroup"}
	for i := range 20 {
		if err := lm.take(grp, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatalf("group message %d of 20: %v", i+1, err)
		}
	}
	err = lm.take(grp, t0.Add(59*time.Second))
	if err == nil || err.code != 429 || err.retryAfter != 1 {
		t.Fatalf("21st group message within a minute: %+v, want 429 with retry_after 1", err)
	}
	if err := lm.take(grp, t0.Add(time.Minute)); err != nil {
		t.Fatalf("21st group message a minute after the first: %v", err)
	}
}
