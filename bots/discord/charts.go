package discord

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/mandatehq/mandate/bots/charts"
	"github.com/mandatehq/mandate/bots/render"
)

// chart answers /chart: the token's price now, added to the samples taken since the bot
// started, drawn as a line in the answer's embed.
func (b *Bot) chart(ctx context.Context, reply *answer, args map[string]any) {
	token, _ := args["token"].(string)
	raw, _ := json.Marshal(map[string]any{"token": token})
	res, err := b.rt.Tools().Call(b.turnContext(ctx, reply.in.ChannelID), "token_price", raw)
	if err != nil {
		reply.embed(ctx, "/chart", render.Result(res, err), colorBad)
		return
	}
	img, caption, err := b.prices.Chart(res.Data, time.Now())
	switch {
	case errors.Is(err, charts.ErrNoPrice):
		reply.text(ctx, "No price to chart for "+token+".")
	case err != nil:
		reply.text(ctx, "Could not draw the chart: "+render.OneLine(err.Error()))
	default:
		b.image(ctx, reply, "/chart", caption, img)
	}
}

// portfolio answers /portfolio: the wallet's priced holdings as a pie, with the tool's own
// text when there is nothing to draw.
func (b *Bot) portfolio(ctx context.Context, reply *answer) {
	res, err := b.rt.Tools().Call(b.turnContext(ctx, reply.in.ChannelID), "wallet_portfolio", json.RawMessage(`{}`))
	if err != nil {
		reply.embed(ctx, "/portfolio", render.Result(res, err), colorBad)
		return
	}
	img, caption, err := charts.Portfolio(res.Data)
	if err != nil {
		// Nothing priced, or nothing held: the text says what there is.
		reply.embed(ctx, "/portfolio", render.Result(res, nil), colorInfo)
		return
	}
	b.image(ctx, reply, "/portfolio", caption, img)
}

// image answers with a PNG shown inside an embed, the caption (escaped here) beside it.
func (b *Bot) image(ctx context.Context, reply *answer, title, caption string, img []byte) {
	e := &discordgo.MessageEmbed{Title: title, Description: pieces(escape(caption), maxDescription)[0], Color: colorInfo,
		Image: &discordgo.MessageEmbedImage{URL: "attachment://chart.png"}}
	reply.post(ctx, []*discordgo.MessageEmbed{e}, []*discordgo.File{png("chart.png", img)})
}
