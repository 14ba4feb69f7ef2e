package charts

import (
	"bytes"
	"errors"
	"image/png"
	"strings"
	"testing"
	"time"
)

func checkPNG(t *testing.T, b []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if got := img.Bounds().Size(); got.X != Width || got.Y != Height {
		t.Fatalf("PNG is %dx%d, want %dx%d", got.X, got.Y, Width, Height)
	}
}

func samples(n int, start time.Time, step time.Duration) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{At: start.Add(time.Duration(i) * step), Price: []string{"1834.120034", "1835.5", "1833.000001", "1840"}[i%4]}
	}
	return pts
}

func TestPriceChart(t *testing.T) {
	start := time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, title string
		points      []Point
	}{
		{"minutes", "WETH/USDC TWAP", samples(30, start, time.Minute)},
		{"days", "WETH/USDC", samples(14, start, 24*time.Hour)},
		{"one sample", "WETH", samples(1, start, 0)},
		{"hostile title", "*_[ \n@everyone `x` 🚀", samples(5, start, time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := PriceChart(tc.title, tc.points)
			if err != nil {
				t.Fatal(err)
			}
			checkPNG(t, b)
		})
	}
}

func TestPriceChartRefusesBadInput(t *testing.T) {
	if _, err := PriceChart("x", nil); !errors.Is(err, ErrNoData) {
		t.Fatalf("empty input: %v, want ErrNoData", err)
	}
	for _, bad := range []string{"", "1/3", "1e9", "NaN", "12,5", "0x10"} {
		_, err := PriceChart("x", []Point{{At: time.Now(), Price: bad}})
		if err == nil || !strings.Contains(err.Error(), "not a decimal") {
			t.Fatalf("price %q: %v, want a 'not a decimal' error", bad, err)
		}
	}
}

func TestPortfolioChart(t *testing.T) {
	b, err := PortfolioChart([]Holding{
		{Symbol: "ETH", USD: "18341.2034"},
		{Symbol: "USDC", USD: "2500"},
		{Symbol: "*_[", USD: "12.345678"},
		{Symbol: "DUST", USD: "0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkPNG(t, b)
}

func TestPortfolioChartGroupsSmallHoldings(t *testing.T) {
	var hs []Holding
	for i := 0; i < 20; i++ {
		hs = append(hs, Holding{Symbol: strings.Repeat("T", i+1), USD: "1.01"})
	}
	b, err := PortfolioChart(hs)
	if err != nil {
		t.Fatal(err)
	}
	checkPNG(t, b)
}

func TestPortfolioChartRefusesBadInput(t *testing.T) {
	if _, err := PortfolioChart(nil); !errors.Is(err, ErrNoData) {
		t.Fatalf("no holdings: %v, want ErrNoData", err)
	}
	if _, err := PortfolioChart([]Holding{{Symbol: "A", USD: "0"}, {Symbol: "B", USD: "0.00"}}); !errors.Is(err, ErrNoData) {
		t.Fatalf("only zero holdings: %v, want ErrNoData", err)
	}
	if _, err := PortfolioChart([]Holding{{Symbol: "A", USD: "-5"}}); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Fatalf("negative holding: %v", err)
	}
	if _, err := PortfolioChart([]Holding{{Symbol: "A", USD: "five"}}); err == nil || !strings.Contains(err.Error(), "not a decimal") {
		t.Fatalf("bad value: %v", err)
	}
}

func TestPortfolioLabelsAreExact(t *testing.T) {
	// Sums that float64 gets wrong: 0.1+0.2, and amounts past 2^53 cents.
	hs := []Holding{
		{Symbol: "A", USD: "0.1"}, {Symbol: "B", USD: "0.2"},
		{Symbol: "BIG", USD: "90071992547409.93"},
	}
	names, _, total, err := portfolioSlices(hs)
	if err != nil {
		t.Fatal(err)
	}
	if total != "90071992547410.23" {
		t.Fatalf("total %s, want 90071992547410.23", total)
	}
	if names[0] != "BIG  $90071992547409.93" || names[2] != "A  $0.1" {
		t.Fatalf("labels %q", names)
	}

	var many []Holding
	for i := 0; i < 12; i++ {
		many = append(many, Holding{Symbol: strings.Repeat("T", i+1), USD: "0.1"})
	}
	many = append(many, Holding{Symbol: "TOP", USD: "100"})
	names, _, total, err = portfolioSlices(many)
	if err != nil {
		t.Fatal(err)
	}
	// TOP, six of the 0.1s, and Other holding the remaining six.
	if len(names) != maxSlices || names[0] != "TOP  $100" || names[maxSlices-1] != "Other  $0.6" || total != "101.2" {
		t.Fatalf("labels %q total %s", names, total)
	}
}
