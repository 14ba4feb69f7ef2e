package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate/bots/charts"
)

// maxSamples bounds the price samples kept per token: the oldest go first.
const maxSamples = 500

// samples are the prices this bot has read since it started, per token.
// There is no price-history tool, so a price chart shows only these: every
// /price and /chart adds one, and nothing older is invented.
type samples struct {
	mu     sync.Mutex
	tokens map[string][]charts.Point
}

// add records a price of token now and returns the token's samples so far.
func (s *samples) add(token, usd string, at time.Time) []charts.Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tokens == nil {
		s.tokens = map[string][]charts.Point{}
	}
	key := strings.ToUpper(token)
	pts := append(s.tokens[key], charts.Point{At: at, Price: usd})
	if len(pts) > maxSamples {
		pts = pts[len(pts)-maxSamples:]
	}
	s.tokens[key] = pts
	return append([]charts.Point(nil), pts...)
}

// priceData is the part of token_price's Data a chart needs.
type priceData struct {
	Token string `json:"token"`
	USD   string `json:"usd"`
}

// notePrice records a token_price answer as a sample; an answer without a
// price is not one.
func (b *Bot) notePrice(data any) (priceData, []charts.Point, bool) {
	var p priceData
	raw, err := json.Marshal(data)
	if err != nil || json.Unmarshal(raw, &p) != nil || p.USD == "" || p.Token == "" {
		return p, nil, false
	}
	return p, b.prices.add(p.Token, p.USD, time.Now()), true
}

// chart answers /chart TOKEN: the token's price now, added to the samples
// taken since the bot started, drawn as a line.
func (b *Bot) chart(ctx context.Context, chat int64, words []string) {
	if len(words) != 1 {
		b.say(ctx, chat, "Usage: /chart TOKEN, e.g. /chart ETH")
		return
	}
	args, _ := json.Marshal(map[string]any{"token": words[0]})
	stop := b.typing(ctx, chat)
	defer stop()
	res, err := b.rt.Tools().Call(b.turnContext(ctx, chat), "token_price", args)
	if err != nil {
		b.say(ctx, chat, renderResult(res, err))
		return
	}
	p, pts, ok := b.notePrice(res.Data)
	if !ok {
		b.say(ctx, chat, "No price to chart for "+words[0]+".")
		return
	}
	img, err := charts.PriceChart(p.Token+" in USD", pts)
	if err != nil {
		b.say(ctx, chat, "Could not draw the chart: "+oneLine(err.Error()))
		return
	}
	caption := fmt.Sprintf("%s: $%s now. The chart shows the %d price(s) this bot has read since it started (each /price and /chart adds one); it keeps no older history.",
		p.Token, p.USD, len(pts))
	b.photo(ctx, chat, img, caption)
}

// portfolioData is the part of wallet_portfolio's Data a chart needs.
type portfolioData struct {
	Holdings []struct {
		Token    string `json:"token"`
		ValueUSD string `json:"value_usd"`
	} `json:"holdings"`
	TotalUSD string `json:"total_usd"`
	Unpriced int    `json:"unpriced"`
}

// portfolio answers /portfolio: the wallet's priced holdings as a pie, with
// the tool's own text as the caption's source of truth beside it.
func (b *Bot) portfolio(ctx context.Context, chat int64, words []string) {
	if len(words) != 0 {
		b.say(ctx, chat, "Usage: /portfolio")
		return
	}
	stop := b.typing(ctx, chat)
	defer stop()
	res, err := b.rt.Tools().Call(b.turnContext(ctx, chat), "wallet_portfolio", json.RawMessage(`{}`))
	if err != nil {
		b.say(ctx, chat, renderResult(res, err))
		return
	}
	var pd portfolioData
	raw, err := json.Marshal(res.Data)
	if err == nil {
		err = json.Unmarshal(raw, &pd)
	}
	if err != nil {
		b.say(ctx, chat, renderResult(res, nil))
		return
	}
	var hs []charts.Holding
	for _, h := range pd.Holdings {
		if h.ValueUSD != "" {
			hs = append(hs, charts.Holding{Symbol: h.Token, USD: h.ValueUSD})
		}
	}
	img, err := charts.PortfolioChart(hs)
	if err != nil {
		// Nothing priced, or nothing held: the text says what there is.
		b.say(ctx, chat, renderResult(res, nil))
		return
	}
	caption := "Portfolio: $" + pd.TotalUSD
	if pd.Unpriced > 0 {
		caption += fmt.Sprintf(" (%d holding(s) without a price are not in the chart)", pd.Unpriced)
	}
	b.photo(ctx, chat, img, caption)
}

// maxCaption is the Bot API's limit on a photo's caption.
const maxCaption = 1024

// photo sends a PNG with a plain-text caption through the scheduler.
func (b *Bot) photo(ctx context.Context, chat int64, img []byte, caption string) {
	caption = cutText(caption, maxCaption)
	err := b.sch.Do(ctx, itoa(chat), chat < 0, func(ctx context.Context) error {
		_, err := b.api.SendPhoto(ctx, &tg.SendPhotoParams{
			ChatID:  chat,
			Photo:   &models.InputFileUpload{Filename: "chart.png", Data: bytes.NewReader(img)},
			Caption: caption,
		})
		return rateLimit(err)
	})
	if err != nil {
		b.sendFailed(chat, unwrapRate(err))
	}
}
