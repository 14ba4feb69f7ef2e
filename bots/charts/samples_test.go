package charts

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestSamplesKeepTheNewest(t *testing.T) {
	var s Samples
	t0 := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	var pts []Point
	for i := range MaxSamples + 3 {
		pts = s.Add("eth", fmt.Sprintf("%d.5", 1000+i), t0.Add(time.Duration(i)*time.Second))
	}
	if len(pts) != MaxSamples || pts[0].Price != "1003.5" || pts[len(pts)-1].Price != fmt.Sprintf("%d.5", 1000+MaxSamples+2) {
		t.Fatalf("%d samples from %s to %s; want the newest %d", len(pts), pts[0].Price, pts[len(pts)-1].Price, MaxSamples)
	}
	if other := s.Add("ETH", "1", t0); len(other) != MaxSamples {
		t.Fatalf("ETH and eth kept apart: %d samples", len(other))
	}
	if again := s.Add("USDC", "1", t0); len(again) != 1 {
		t.Fatalf("USDC has %d samples, want its own one", len(again))
	}
}

func TestSamplesChart(t *testing.T) {
	var s Samples
	at := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	if _, _, err := s.Chart(map[string]any{"token": "ETH"}, at); !errors.Is(err, ErrNoPrice) {
		t.Fatalf("an answer without a price: %v, want ErrNoPrice", err)
	}
	s.Chart(map[string]any{"token": "ETH", "usd": "1834.12"}, at)
	png, caption, err := s.Chart(struct {
		Token string `json:"token"`
		USD   string `json:"usd"`
	}{"ETH", "1840"}, at.Add(time.Minute))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("Chart: %v (%d bytes); want a PNG", err, len(png))
	}
	if !strings.HasPrefix(caption, "ETH: $1840 now. The chart shows the 2 price(s)") {
		t.Fatalf("caption %q", caption)
	}
}

func TestPortfolio(t *testing.T) {
	data := map[string]any{"total_usd": "3100.5", "unpriced": 1, "holdings": []map[string]any{
		{"token": "ETH", "value_usd": "3000"}, {"token": "USDC", "value_usd": "100.5"}, {"token": "JUNK"}}}
	png, caption, err := Portfolio(data)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("Portfolio: %v; want a PNG", err)
	}
	if want := "Portfolio: $3100.5 (1 holding(s) without a price are not in the chart)"; caption != want {
		t.Fatalf("caption %q, want %q", caption, want)
	}
	if _, _, err := Portfolio(map[string]any{"holdings": []any{}}); err == nil {
		t.Fatal("nothing held: want an error, so the tool's text is shown instead")
	}
	if _, _, err := Portfolio("not a portfolio"); err == nil {
		t.Fatal("an answer of another shape: want an error")
	}
}
