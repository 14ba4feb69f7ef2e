package cosigner_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mandatehq/mandate/cosigner"
)

const token = "0123456789abcdef0123456789abcdef"

func post(t *testing.T, h http.Handler, auth string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/v1/review", bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func body(t *testing.T, tx any, safe string) []byte {
	t.Helper()
	raw, _ := json.Marshal(tx)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	m["safe"] = safe
	b, _ := json.Marshal(m)
	return b
}

// The HTTP service answers as the reviewer does, behind a bearer token,
// with a body limit and a per-client rate limit.
func TestHandler(t *testing.T) {
	h, err := cosigner.Handler(reviewer(t, true), token, cosigner.WithRateLimit(1, 3), cosigner.WithMaxBody(4096))
	if err != nil {
		t.Fatal(err)
	}
	good := body(t, stx(usdc, zeroInt(), transfer(friend, 100e6), 0), safeAddr.Hex())
	bad := body(t, stx(usdc, zeroInt(), transfer(attacker, 1), 0), safeAddr.Hex())

	if rec := post(t, h, "", good); rec.Code != http.StatusUnauthorized {
		t.Errorf("no token: %d", rec.Code)
	}
	if rec := post(t, h, "Bearer "+token[:len(token)-1]+"x", good); rec.Code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", rec.Code)
	}
	rec := post(t, h, "Bearer "+token, good)
	var d cosigner.Decision
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != 200 || d.Decision != cosigner.Approve || d.Signature == "" {
		t.Fatalf("good: %d %s", rec.Code, rec.Body)
	}
	rec = post(t, h, "Bearer "+token, bad)
	d = cosigner.Decision{}
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != 200 || d.Decision != cosigner.Reject || d.Signature != "" {
		t.Fatalf("bad: %d %s", rec.Code, rec.Body)
	}
	if rec := post(t, h, "Bearer "+token, []byte(`{"safe":"`+safeAddr.Hex()+`","to":"0x12"`)); rec.Code != http.StatusBadRequest {
		t.Errorf("malformed: %d", rec.Code)
	}
	// The burst of 3 is spent: the next is refused until a token returns.
	if rec := post(t, h, "Bearer "+token, good); rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("over the rate: %d", rec.Code)
	}
	h2, _ := cosigner.Handler(reviewer(t, false), token, cosigner.WithMaxBody(512))
	big := body(t, stx(usdc, zeroInt(), bytes.Repeat([]byte{1}, 2048), 0), safeAddr.Hex())
	if rec := post(t, h2, "Bearer "+token, big); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d %s", rec.Code, rec.Body)
	}
	if _, err := cosigner.Handler(reviewer(t, false), "short"); err == nil {
		t.Error("a short token was accepted")
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/review", nil)
	rec = httptest.NewRecorder()
	h2.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", rec.Code)
	}
}

// The HTTP service refuses the whole attack corpus too: same reviewer,
// same answers, never a signature.
func TestHandlerRefusesAttacks(t *testing.T) {
	h, err := cosigner.Handler(reviewer(t, true), token, cosigner.WithRateLimit(1000, 1000))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range attacks() {
		rec := post(t, h, "Bearer "+token, body(t, a.tx, safeAddr.Hex()))
		var d cosigner.Decision
		if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != 200 || d.Decision != cosigner.Reject || d.Signature != "" {
			t.Errorf("%s: %d %s", a.name, rec.Code, rec.Body)
		}
	}
}
