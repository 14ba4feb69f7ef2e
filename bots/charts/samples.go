package charts

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// MaxSamples bounds the price samples kept per token: the oldest go first.
const MaxSamples = 500

// ErrNoPrice is a token_price answer that holds no price to chart.
var ErrNoPrice = errors.New("charts: the answer holds no price")

// Samples are the prices a bot has read since it started, per token (any case). There is
// no price-history tool, so a price chart shows only these: every /price and /chart adds
// one, and nothing older is invented. The zero value is ready to use.
type Samples struct {
	mu     sync.Mutex
	tokens map[string][]Point
}

// Add records a price of token at at and returns the token's samples so far, oldest
// first.
func (s *Samples) Add(token, usd string, at time.Time) []Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens = map[string][]Point{}
	}
	key := strings.ToUpper(token)
	pts := append(s.tokens[key], Point{At: at, Price: usd})
	if len(pts) > MaxSamples {
		pts = pts[len(pts)-MaxSamples:]
	}
	s.tokens[key] = pts
	return append([]Point(nil), pts...)
}

// Price is the part of a token_price answer's Data a chart needs.
type Price struct {
	Token string `json:"token"`
	USD   string `json:"usd"`
}

// Note records a token_price answer's Data as a sample taken at at; an answer without a
// price is none (ok false).
func (s *Samples) Note(data any, at time.Time) (p Price, pts []Point, ok bool) {
	if !decode(data, &p) || p.USD == "" || p.Token == "" {
		return p, nil, false
	}
	return p, s.Add(p.Token, p.USD, at), true
}

// Chart notes a token_price answer and draws the token's samples: the PNG and a caption
// that says plainly how little history it shows. ErrNoPrice: the answer had no price.
func (s *Samples) Chart(data any, at time.Time) (png []byte, caption string, err error) {
	p, pts, ok := s.Note(data, at)
	if !ok {
		return nil, "", ErrNoPrice
	}
	png, err = PriceChart(p.Token+" in USD", pts)
	if err != nil {
		return nil, "", err
	}
	return png, fmt.Sprintf("%s: $%s now. The chart shows the %d price(s) this bot has read since it started (each /price and /chart adds one); it keeps no older history.",
		p.Token, p.USD, len(pts)), nil
}

// portfolio is the part of a wallet_portfolio answer's Data a chart needs.
type portfolio struct {
	Holdings []struct {
		Token    string `json:"token"`
		ValueUSD string `json:"value_usd"`
	} `json:"holdings"`
	TotalUSD string `json:"total_usd"`
	Unpriced int    `json:"unpriced"`
}

// Portfolio draws a wallet_portfolio answer's priced holdings as a pie, with a caption of
// the total and of what the pie leaves out. An error (nothing priced, nothing held, an
// answer of another shape) means the tool's own text should be shown instead.
func Portfolio(data any) (png []byte, caption string, err error) {
	var pd portfolio
	if !decode(data, &pd) {
		return nil, "", errors.New("charts: the answer is not a wallet_portfolio one")
	}
	var hs []Holding
	for _, h := range pd.Holdings {
		if h.ValueUSD != "" {
			hs = append(hs, Holding{Symbol: h.Token, USD: h.ValueUSD})
		}
	}
	if png, err = PortfolioChart(hs); err != nil {
		return nil, "", err
	}
	caption = "Portfolio: $" + pd.TotalUSD
	if pd.Unpriced > 0 {
		caption += fmt.Sprintf(" (%d holding(s) without a price are not in the chart)", pd.Unpriced)
	}
	return png, caption, nil
}

// decode reads a tool's Data (a struct or a map, as the tool made it) into v.
func decode(data any, v any) bool {
	raw, err := json.Marshal(data)
	return err == nil && json.Unmarshal(raw, v) == nil
}
