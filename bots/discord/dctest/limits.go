package dctest

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Limits are the REST rate limits the server enforces. Discord publishes them per route in
// X-RateLimit headers rather than as fixed numbers; these defaults are the ones it has
// long used for sending to a channel. A zero count turns that limit off.
type Limits struct {
	PerRoute       int // requests to one route and channel (or webhook) per PerRouteWindow
	PerRouteWindow time.Duration
	Global         int // requests across all routes per second
}

// DefaultLimits are 5 requests per 5 seconds per route and channel, 50 a second overall.
func DefaultLimits() Limits {
	return Limits{PerRoute: 5, PerRouteWindow: 5 * time.Second, Global: 50}
}

// NoLimits turns rate limiting off.
func NoLimits() Limits { return Limits{} }

// bucket is one route's fixed window, as Discord counts it: a limit, what is left and
// when it resets.
type bucket struct {
	used  int
	reset time.Time
}

type limiter struct {
	l       Limits
	buckets map[string]*bucket
	global  bucket
}

func newLimiter(l Limits) *limiter { return &limiter{l: l, buckets: map[string]*bucket{}} }

// take counts one request on route key. It returns the X-RateLimit headers to send, and
// the 429 to answer instead when the route or the whole bot is over its limit.
func (lm *limiter) take(key string, now time.Time) (map[string]string, *apiError) {
	if lm.l.Global > 0 {
		if now.After(lm.global.reset) {
			lm.global = bucket{reset: now.Add(time.Second)}
		}
		if lm.global.used >= lm.l.Global {
			return nil, tooMany(lm.global.reset.Sub(now), true, nil)
		}
		lm.global.used++
	}
	if lm.l.PerRoute <= 0 {
		return nil, nil
	}
	b := lm.buckets[key]
	if b == nil || now.After(b.reset) {
		b = &bucket{reset: now.Add(lm.l.PerRouteWindow)}
		lm.buckets[key] = b
	}
	after := b.reset.Sub(now)
	h := map[string]string{
		"X-RateLimit-Limit":       strconv.Itoa(lm.l.PerRoute),
		"X-RateLimit-Reset":       fmt.Sprintf("%.3f", float64(b.reset.UnixMilli())/1000),
		"X-RateLimit-Reset-After": fmt.Sprintf("%.3f", after.Seconds()),
		"X-RateLimit-Bucket":      key,
	}
	if b.used >= lm.l.PerRoute {
		h["X-RateLimit-Remaining"] = "0"
		return h, tooMany(after, false, h)
	}
	b.used++
	h["X-RateLimit-Remaining"] = strconv.Itoa(lm.l.PerRoute - b.used)
	return h, nil
}

// tooMany is Discord's 429: retry_after in seconds (a float) in the body, whole seconds in
// Retry-After.
func tooMany(wait time.Duration, global bool, h map[string]string) *apiError {
	secs := math.Max(wait.Seconds(), 0.001)
	hdr := map[string]string{"Retry-After": strconv.Itoa(int(math.Ceil(secs)))}
	for k, v := range h {
		hdr[k] = v
	}
	scope := "user"
	if global {
		scope = "global"
		hdr["X-RateLimit-Global"] = "true"
	}
	hdr["X-RateLimit-Scope"] = scope
	return &apiError{status: 429, message: "You are being rate limited.", header: hdr,
		body: map[string]any{"message": "You are being rate limited.", "retry_after": secs, "global": global}}
}
