package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestLatencyWindow(t *testing.T) {
	var w latencyWindow
	if p50, p95 := w.percentiles(); p50 != 0 || p95 != 0 {
		t.Fatal("empty window has percentiles")
	}
	for i := 1; i <= 100; i++ { // only the last 50 (51..100) count
		w.add(time.Duration(i) * time.Millisecond)
	}
	p50, p95 := w.percentiles()
	if w.n != latencyWindowSize || p50 != 75*time.Millisecond || p95 != 98*time.Millisecond {
		t.Fatalf("n %d p50 %v p95 %v", w.n, p50, p95)
	}
	w.add(time.Second)
	if _, p95 := w.percentiles(); p95 != 99*time.Millisecond {
		t.Fatalf("p95 after an outlier %v", p95)
	}
}

func TestRedactError(t *testing.T) {
	for _, secret := range []string{
		"Bearer abcdefghijklmnop",
		"api_key=abc123secret",
		"sk-proj-abcdefgh1234567890",
		"io-v2-abcdefghijklmnopqrstuvwxyz0123456789",
		"Authorization: Basic dXNlcjpwYXNz",
	} {
		err := fmt.Errorf("llm backend x answered HTTP 401: Incorrect API key provided: %s.", secret)
		got := redactError(err)
		tail := secret[strings.LastIndexAny(secret, " =-")+1:]
		if strings.Contains(got, tail) {
			t.Errorf("%q not redacted: %q", secret, got)
		}
		if !strings.Contains(got, "HTTP 401") {
			t.Errorf("redaction ate the useful part: %q", got)
		}
	}
	long := errors.New(strings.Repeat("word ", 200))
	if got := redactError(long); len(got) > maxErrorText+len("…") {
		t.Errorf("not shortened: %d bytes", len(got))
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestClassifyFailure(t *testing.T) {
	for _, tc := range []struct {
		err, cause error
		want       failureKind
		retry      time.Duration
	}{
		{&HTTPError{Status: 503}, nil, failTransient, 0},
		{&HTTPError{Status: 429, RetryAfter: 7 * time.Second}, nil, failTransient, 7 * time.Second},
		{&HTTPError{Status: 402}, nil, failTransient, 0},
		{&HTTPError{Status: 401}, nil, failMisconfigured, 0},
		{&HTTPError{Status: 403}, nil, failMisconfigured, 0},
		{&HTTPError{Status: 400}, nil, failFatal, 0},
		{&HTTPError{Status: 422}, nil, failFatal, 0},
		{fmt.Errorf("llm backend x: %w", timeoutErr{}), nil, failTransient, 0},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, nil, failTransient, 0},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), nil, failTransient, 0},
		{fmt.Errorf("x: %w", ErrMalformedResponse), nil, failTransient, 0},
		{&StreamError{Message: "boom"}, nil, failTransient, 0},
		{context.Canceled, errAttemptTimeout, failTransient, 0},
		{errors.New("unsupported content part"), nil, failFatal, 0},
	} {
		kind, retry := classifyFailure(tc.err, tc.cause)
		if kind != tc.want || retry != tc.retry {
			t.Errorf("%v (cause %v): %v %v, want %v %v", tc.err, tc.cause, kind, retry, tc.want, tc.retry)
		}
	}
}

func TestCooldownBackoff(t *testing.T) {
	var s backendState
	now := time.Unix(1_000_000, 0)
	var got []time.Duration
	for range 6 {
		got = append(got, s.fail(errors.New("x"), now, 0, 30*time.Second, 3*time.Minute).Sub(now))
	}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute, 3 * time.Minute}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("backoff %v, want %v", got, want)
	}
	if d := s.fail(errors.New("x"), now, 5*time.Second, 30*time.Second, 3*time.Minute).Sub(now); d != 5*time.Second {
		t.Fatalf("Retry-After not honored: %v", d)
	}
	s.success(time.Millisecond)
	if d := s.fail(errors.New("x"), now, 0, 30*time.Second, 3*time.Minute).Sub(now); d != 30*time.Second {
		t.Fatalf("backoff not reset by a success: %v", d)
	}
}

func TestCanonicalArgs(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{`{"b":1,"a":"x"}`, `{ "a" : "x", "b" : 1 }`, true},
		{`{"a":{"y":[1,2],"x":null}}`, `{"a":{"x":null,"y":[1,2]}}`, true},
		{`{"amount":"1.5"}`, `{"amount":1.5}`, false},
		{`{"amount":1.50}`, `{"amount":1.5}`, false},
		{`{"to":"<a&b>"}`, `{"to":"<a&b>"}`, true},
		{``, `{}`, true},
		{`{"a":1} trailing`, `{"a":1}`, false},
	} {
		ca, cb := canonicalArgs(tc.a), canonicalArgs(tc.b)
		if (ca == cb) != tc.same {
			t.Errorf("%s vs %s: %s / %s", tc.a, tc.b, ca, cb)
		}
	}
	if got := canonicalArgs(`{"b":1,"a":"<x>"}`); got != `{"a":"<x>","b":1}` {
		t.Errorf("canonical form %s", got)
	}
}
