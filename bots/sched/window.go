package sched

import "time"

// window remembers the last n grant times so that at most n grants fall in any span
// shorter than per. A sliding window rather than a token bucket: a bucket refilled at
// n/per with burst n lets 2n through in the first period, which the chat platforms
// answer with 429s.
type window struct {
	per   time.Duration
	times []time.Time // ring; times[head] is the oldest once full
	head  int
	count int
}

func newWindow(n int, per time.Duration) *window {
	if n <= 0 || per <= 0 {
		return nil
	}
	return &window{per: per, times: make([]time.Time, n)}
}

// next is the earliest time another grant fits; the zero time means now.
func (w *window) next() time.Time {
	if w == nil || w.count < len(w.times) {
		return time.Time{}
	}
	return w.times[w.head].Add(w.per)
}

func (w *window) record(t time.Time) {
	if w == nil {
		return
	}
	n := len(w.times)
	if w.count < n {
		w.times[(w.head+w.count)%n] = t
		w.count++
		return
	}
	w.times[w.head] = t
	w.head = (w.head + 1) % n
}

// idle reports whether the window no longer constrains anything at now, so its owner
// can be forgotten without letting a later grant through early.
func (w *window) idle(now time.Time) bool {
	if w == nil || w.count == 0 {
		return true
	}
	newest := w.times[(w.head+w.count-1)%len(w.times)]
	return !newest.Add(w.per).After(now)
}

// spacing is the smallest interval that keeps n grants per period within the limit,
// rounded up so n+1 grants never fit in one period.
func spacing(n int, period time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	return (period + time.Duration(n) - 1) / time.Duration(n)
}
