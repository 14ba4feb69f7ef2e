package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate/bots/charts"
	"github.com/mandatehq/mandate/bots/render"
)

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
		b.say(ctx, chat, render.Result(res, err))
		return
	}
	img, caption, err := b.prices.Chart(res.Data, time.Now())
	switch {
	case errors.Is(err, charts.ErrNoPrice):
		b.say(ctx, chat, "No price to chart for "+words[0]+".")
	case err != nil:
		b.say(ctx, chat, "Could not draw the chart: "+render.OneLine(err.Error()))
	default:
		b.photo(ctx, chat, img, caption)
	}
}

// portfolio answers /portfolio: the wallet's priced holdings as a pie, with
// the tool's own text when there is nothing to draw.
func (b *Bot) portfolio(ctx context.Context, chat int64, words []string) {
	if len(words) != 0 {
		b.say(ctx, chat, "Usage: /portfolio")
		return
	}
	stop := b.typing(ctx, chat)
	defer stop()
	res, err := b.rt.Tools().Call(b.turnContext(ctx, chat), "wallet_portfolio", json.RawMessage(`{}`))
	if err != nil {
		b.say(ctx, chat, render.Result(res, err))
		return
	}
	img, caption, err := charts.Portfolio(res.Data)
	if err != nil {
		// Nothing priced, or nothing held: the text says what there is.
		b.say(ctx, chat, render.Result(res, nil))
		return
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
