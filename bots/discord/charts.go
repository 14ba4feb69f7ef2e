package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/mandatehq/mandate/bots/charts"
)

// maxSamples bounds the price samples kept per token: the oldest go first.
const maxSamples = 500

// samples are the prices this bot has read since it started, per token. There is no
// price-history tool, so a price chart shows only these: every /price and /chart adds one,
// and nothing older is invented. (Copied from bots/telegram, where it is unexported.)
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

// notePrice records a token_price answer as a sample; an answer without a price is not
// one.
func (b *Bot) notePrice(data any) (priceData, []charts.Point, bool) {
	var p priceData
	raw, err := json.Marshal(data)
	if err != nil || json.Unmarshal(raw, &p) != nil || p.USD == "" || p.Token == "" {
		return p, nil, false
	}
	return p, b.prices.add(p.Token, p.USD, time.Now()), true
}

// chart answers /chart: the token's price now, added to the samples taken since the bot
// started, drawn as a line in the answer's embed.
func (b *Bot) chart(ctx context.Context, reply *answer, args map[string]any) {
	token, _ := args["token"].(string)
	raw, _ := json.Marshal(map[string]any{"token": token})
	res, err := b.rt.Tools().Call(b.turnContext(ctx, reply.in.ChannelID), "token_price", raw)
	if err != nil {
		reply.embed(ctx, "/chart", renderResult(res, err), colorBad)
		return
	}
	p, pts, ok := b.notePrice(res.Data)
	if !ok {
		reply.text(ctx, "No price to chart for "+token+".")
		return
	}
	img, err := charts.PriceChart(p.Token+" in USD", pts)
	if err != nil {
		reply.text(ctx, "Could not draw the chart: "+oneLine(err.Error()))
		return
	}
	caption := fmt.Sprintf("%s: $%s now. The chart shows the %d price(s) this bot has read since it started (each /price and /chart adds one); it keeps no older history.",
		p.Token, p.USD, len(pts))
	b.image(ctx, reply, "/chart", caption, img)
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

// portfolio answers /portfolio: the wallet's priced holdings as a pie, with the tool's own
// text when there is nothing to draw.
func (b *Bot) portfolio(ctx context.Context, reply *answer) {
	res, err := b.rt.Tools().Call(b.turnContext(ctx, reply.in.ChannelID), "wallet_portfolio", json.RawMessage(`{}`))
	if err != nil {
		reply.embed(ctx, "/portfolio", renderResult(res, err), colorBad)
		return
	}
	var pd portfolioData
	raw, err := json.Marshal(res.Data)
	if err == nil {
		err = json.Unmarshal(raw, &pd)
	}
	var hs []charts.Holding
	for _, h := range pd.Holdings {
		if h.ValueUSD != "" {
			hs = append(hs, charts.Holding{Symbol: h.Token, USD: h.ValueUSD})
		}
	}
	var img []byte
	if err == nil {
		img, err = charts.PortfolioChart(hs)
	}
	if err != nil {
		// Nothing priced, or nothing held: the text says what there is.
		reply.embed(ctx, "/portfolio", renderResult(res, nil), colorInfo)
		return
	}
	caption := "Portfolio: $" + pd.TotalUSD
	if pd.Unpriced > 0 {
		caption += fmt.Sprintf(" (%d holding(s) without a price are not in the chart)", pd.Unpriced)
	}
	b.image(ctx, reply, "/portfolio", caption, img)
}

// image answers with a PNG shown inside an embed, the caption (escaped here) beside it.
func (b *Bot) image(ctx context.Context, reply *answer, title, caption string, img []byte) {
	e := &discordgo.MessageEmbed{Title: title, Description: pieces(escape(caption), maxDescription)[0], Color: colorInfo,
		Image: &discordgo.MessageEmbedImage{URL: "attachment://chart.png"}}
	reply.post(ctx, []*discordgo.MessageEmbed{e}, []*discordgo.File{png("chart.png", img)})
}
