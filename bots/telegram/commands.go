package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate/bots/access"
	"github.com/mandatehq/mandate/bots/render"
	"github.com/mandatehq/mandate/tools"
)

// helpText lists the commands; everything else is free text for the agent.
const helpText = `Commands:
/balance [TOKEN] - the wallet's balances
/address - the wallet's address
/price TOKEN - a token's USD price
/chart TOKEN - a chart of the prices read since the bot started
/portfolio - the wallet's holdings as a pie chart
/quote AMOUNT FROM TO - what a swap would give
/swap AMOUNT FROM TO - swap (owners only)
/send AMOUNT TOKEN ADDRESS - transfer (owners only)
/orders - standing orders
/cancel ID - cancel a standing order (owners only)
/history - the wallet's recent transfers
/policy - the policy in force
Or just write, e.g. "what is ETH worth?"`

// command is one slash command as a tool call, or an answer of its own.
type command struct {
	tool  string
	usage string
	args  func(words []string) (map[string]any, bool)
}

var commands = map[string]command{
	"balance": {tool: "wallet_balance", usage: "/balance [TOKEN]", args: func(w []string) (map[string]any, bool) {
		switch len(w) {
		case 0:
			return map[string]any{}, true
		case 1:
			return map[string]any{"token": w[0]}, true
		}
		return nil, false
	}},
	"address": {tool: "wallet_address", usage: "/address", args: none},
	"price": {tool: "token_price", usage: "/price TOKEN, e.g. /price ETH", args: func(w []string) (map[string]any, bool) {
		if len(w) != 1 {
			return nil, false
		}
		return map[string]any{"token": w[0]}, true
	}},
	"quote":   {tool: "dex_quote", usage: "/quote AMOUNT FROM TO, e.g. /quote 0.5 ETH USDC", args: swapArgs},
	"swap":    {tool: "dex_swap", usage: "/swap AMOUNT FROM TO, e.g. /swap 0.5 ETH USDC", args: swapArgs},
	"send":    {tool: "wallet_transfer", usage: "/send AMOUNT TOKEN ADDRESS, e.g. /send 10 USDC 0x…", args: sendArgs},
	"orders":  {tool: "order_list", usage: "/orders", args: none},
	"history": {tool: "wallet_history", usage: "/history", args: none},
	"cancel": {tool: "order_cancel", usage: "/cancel ID (the id /orders shows)", args: func(w []string) (map[string]any, bool) {
		if len(w) != 1 {
			return nil, false
		}
		return map[string]any{"id": w[0]}, true
	}},
}

func none(w []string) (map[string]any, bool) { return map[string]any{}, len(w) == 0 }

// swapArgs reads "AMOUNT FROM [to] TO".
func swapArgs(w []string) (map[string]any, bool) {
	w = dropWord(w, 2, "to")
	if len(w) != 3 {
		return nil, false
	}
	return map[string]any{"amount": w[0], "from": w[1], "to": w[2]}, true
}

// sendArgs reads "AMOUNT TOKEN [to] ADDRESS".
func sendArgs(w []string) (map[string]any, bool) {
	w = dropWord(w, 2, "to")
	if len(w) != 3 {
		return nil, false
	}
	return map[string]any{"amount": w[0], "token": w[1], "to": w[2]}, true
}

// dropWord removes w[i] when it is word.
func dropWord(w []string, i int, word string) []string {
	if len(w) > i && strings.EqualFold(w[i], word) {
		return append(w[:i:i], w[i+1:]...)
	}
	return w
}

// command answers a slash command.
func (b *Bot) command(ctx context.Context, m *models.Message, text string) {
	words := strings.Fields(text)
	name := strings.ToLower(strings.TrimPrefix(words[0], "/"))
	name, _, _ = strings.Cut(name, "@")
	chat, owner := m.Chat.ID, b.owner(m.From.ID)
	switch name {
	case "start", "help":
		intro := "Mandate: a wallet agent whose every value-moving action passes its owner's policy.\n"
		if !owner {
			intro += access.OwnersOnly + "\n"
		}
		b.say(ctx, chat, intro+"\n"+helpText)
		return
	case "policy":
		b.say(ctx, chat, render.Policy(b.rt.Policy()))
		return
	case "chart":
		b.chart(ctx, chat, words[1:])
		return
	case "portfolio":
		b.portfolio(ctx, chat, words[1:])
		return
	}
	c, ok := commands[name]
	if !ok {
		b.say(ctx, chat, "Unknown command /"+name+". /help lists them.")
		return
	}
	args, ok := c.args(words[1:])
	if !ok {
		b.say(ctx, chat, "Usage: "+c.usage)
		return
	}
	reg := b.rt.Tools()
	tool := access.ToolFor(func(n string) bool { _, ok := reg.Get(n); return ok }, c.tool, args)
	t, ok := reg.Get(tool)
	if !ok {
		b.say(ctx, chat, "/"+name+" is not supported yet here.")
		return
	}
	if tools.MovesValue(t) && !owner {
		b.say(ctx, chat, access.OwnersOnly)
		return
	}
	if access.TakesKey(t) {
		// A redelivered update acts once: the key is the message's.
		args["idempotency_key"] = fmt.Sprintf("telegram:%d:%d", chat, m.ID)
	}
	raw, err := json.Marshal(args)
	if err != nil {
		b.say(ctx, chat, "Could not read that: "+err.Error())
		return
	}
	stop := b.typing(ctx, chat)
	res, err := reg.Call(b.turnContext(ctx, chat), tool, raw)
	stop()
	if tool == "token_price" && err == nil {
		b.prices.Note(res.Data, time.Now()) // a sample for /chart
	}
	b.say(ctx, chat, render.Result(res, err))
}

// typing shows "typing…" in chat until the returned stop is called; the
// Bot API shows it for about five seconds, so it is repeated.
func (b *Bot) typing(ctx context.Context, chat int64) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		wait := typingDelay
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			b.chatAction(ctx, chat)
			wait = typingEvery
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
