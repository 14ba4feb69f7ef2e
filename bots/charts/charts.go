// Package charts draws the price and portfolio pictures the chat bots send as photos.
//
// Values arrive as exact decimal strings, the way the rest of Mandate keeps money. They
// become float64 only to place a line or a slice on the picture; every number printed
// on it is the caller's string, so a label never shows a rounding the ledger does not.
package charts

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	gocharts "github.com/go-analyze/charts"
)

// Width and Height of every chart, in pixels: Telegram shows photos up to 1280 wide and
// recompresses larger ones.
const (
	Width  = 800
	Height = 500
)

// ErrNoData is returned for a chart with nothing to draw.
var ErrNoData = errors.New("charts: nothing to draw")

// Point is one price sample, e.g. a TWAP observation.
type Point struct {
	At    time.Time
	Price string // exact decimal, e.g. "1834.120034"
}

// Holding is one line of a portfolio.
type Holding struct {
	Symbol string // shown as given; a stranger's token name is only text on a picture
	USD    string // exact decimal value in US dollars
}

var decimalRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// parseDecimal reads an exact decimal; fractions and exponents are refused so that what
// is printed is what was given.
func parseDecimal(s string) (*big.Rat, error) {
	if !decimalRE.MatchString(s) {
		return nil, fmt.Errorf("charts: %q is not a decimal number like 12.5", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("charts: %q is not a decimal number like 12.5", s)
	}
	return r, nil
}

// PriceChart draws points as a line, oldest first, with the exact first, last, lowest
// and highest prices under the title.
func PriceChart(title string, points []Point) ([]byte, error) {
	if len(points) == 0 {
		return nil, fmt.Errorf("%w: a price chart needs at least one price sample", ErrNoData)
	}
	pts := append([]Point(nil), points...)
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].At.Before(pts[j].At) })
	values := make([]float64, len(pts))
	labels := make([]string, len(pts))
	lo, hi := 0, 0
	rats := make([]*big.Rat, len(pts))
	for i, p := range pts {
		r, err := parseDecimal(p.Price)
		if err != nil {
			return nil, fmt.Errorf("price sample %d: %w", i, err)
		}
		rats[i] = r
		values[i], _ = r.Float64()
		labels[i] = timeLabel(p.At, pts[0].At, pts[len(pts)-1].At)
		if r.Cmp(rats[lo]) < 0 {
			lo = i
		}
		if r.Cmp(rats[hi]) > 0 {
			hi = i
		}
	}
	opt := gocharts.NewLineChartOptionWithData([][]float64{values})
	opt.Title = gocharts.TitleOption{
		Text: oneLine(title),
		Subtext: fmt.Sprintf("first %s  last %s  low %s  high %s",
			pts[0].Price, pts[len(pts)-1].Price, pts[lo].Price, pts[hi].Price),
		Offset: gocharts.OffsetCenter,
	}
	opt.XAxis.Labels = labels
	opt.Padding = gocharts.NewBoxEqual(20)
	opt.Symbol = gocharts.Symbol{Shape: gocharts.SymbolNone}
	opt.ValueFormatter = axisFormatter(values[lo], values[hi])
	return render(func(p *gocharts.Painter) error { return p.LineChart(opt) })
}

// axisFormatter prints axis ticks with enough decimals to tell them apart: the default
// "1.84k" on every tick of a price moving between 1833 and 1840 says nothing.
func axisFormatter(lo, hi float64) gocharts.ValueFormatter {
	decimals := 2
	if span := hi - lo; span > 0 {
		decimals = max(0, int(math.Ceil(-math.Log10(span/10)))+1)
	}
	decimals = min(decimals, 12)
	return func(v float64) string { return strconv.FormatFloat(v, 'f', decimals, 64) }
}

// timeLabel picks the shortest format that tells the samples apart over their span.
func timeLabel(t, first, last time.Time) string {
	t = t.UTC()
	switch span := last.Sub(first); {
	case span <= 2*time.Hour:
		return t.Format("15:04:05")
	case span <= 48*time.Hour:
		return t.Format("Jan 2 15:04")
	default:
		return t.Format("Jan 2")
	}
}

// maxSlices keeps the pie readable; smaller holdings are summed into "Other".
const maxSlices = 8

// PortfolioChart draws holdings as a pie of their USD values, largest first, each slice
// labelled with its exact value. Zero holdings are left out; a negative one is an error.
func PortfolioChart(holdings []Holding) ([]byte, error) {
	names, values, total, err := portfolioSlices(holdings)
	if err != nil {
		return nil, err
	}
	opt := gocharts.NewPieChartOptionWithData(values)
	opt.Title = gocharts.TitleOption{
		Text:    "Portfolio",
		Subtext: "total $" + total,
		Offset:  gocharts.OffsetCenter,
	}
	opt.Padding = gocharts.NewBoxEqual(20)
	// Each slice's label carries its name and exact value; a legend would repeat them
	// and overlap the pie.
	opt.Legend = gocharts.LegendOption{SeriesNames: names, Show: gocharts.Ptr(false)}
	return render(func(p *gocharts.Painter) error { return p.PieChart(opt) })
}

// portfolioSlices orders holdings largest first, folds the smallest into "Other" when
// there are too many to read, and returns each slice's label with its exact value, the
// values to plot, and the exact total.
func portfolioSlices(holdings []Holding) (names []string, values []float64, total string, err error) {
	type slice struct {
		name string
		usd  *big.Rat
		text string
	}
	var slices []slice
	for i, h := range holdings {
		r, err := parseDecimal(h.USD)
		if err != nil {
			return nil, nil, "", fmt.Errorf("holding %d (%s): %w", i, oneLine(h.Symbol), err)
		}
		if r.Sign() < 0 {
			return nil, nil, "", fmt.Errorf("charts: holding %d (%s) has a negative value %s; a portfolio chart shows what is held", i, oneLine(h.Symbol), h.USD)
		}
		if r.Sign() == 0 {
			continue
		}
		slices = append(slices, slice{name: oneLine(h.Symbol), usd: r, text: h.USD})
	}
	if len(slices) == 0 {
		return nil, nil, "", fmt.Errorf("%w: a portfolio chart needs at least one holding worth more than zero", ErrNoData)
	}
	sort.SliceStable(slices, func(i, j int) bool { return slices[i].usd.Cmp(slices[j].usd) > 0 })
	if len(slices) > maxSlices {
		other := new(big.Rat)
		places := 0
		for _, s := range slices[maxSlices-1:] {
			other.Add(other, s.usd)
			places = max(places, fractionDigits(s.text))
		}
		slices = append(slices[:maxSlices-1], slice{name: "Other", usd: other, text: other.FloatString(places)})
	}
	sum := new(big.Rat)
	places := 0
	for _, s := range slices {
		sum.Add(sum, s.usd)
		places = max(places, fractionDigits(s.text))
		v, _ := s.usd.Float64()
		values = append(values, v)
		names = append(names, fmt.Sprintf("%s  $%s", s.name, s.text))
	}
	return names, values, sum.FloatString(places), nil
}

// fractionDigits counts the digits after the point of a decimal the caller gave.
func fractionDigits(s string) int {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// oneLine keeps a caller's text to one line of reasonable length: a title or name with
// line breaks would push the chart off the picture.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 60 {
		s = string(r[:59]) + "…"
	}
	return s
}

func render(draw func(*gocharts.Painter) error) ([]byte, error) {
	p := gocharts.NewPainter(gocharts.PainterOptions{
		OutputFormat: gocharts.ChartOutputPNG,
		Width:        Width,
		Height:       Height,
	})
	if err := draw(p); err != nil {
		return nil, fmt.Errorf("charts: draw: %w", err)
	}
	b, err := p.Bytes()
	if err != nil {
		return nil, fmt.Errorf("charts: encode png: %w", err)
	}
	return b, nil
}
