package discord

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/mandatehq/mandate/bots/access"
	"github.com/mandatehq/mandate/bots/render"
	"github.com/mandatehq/mandate/tools"
)

// helpText lists the commands; a message that mentions the bot (or any DM) goes to the
// agent.
const helpText = `Commands:
/balance [token] - the wallet's balances
/address - the wallet's address
/price token - a token's USD price
/chart token - a chart of the prices read since the bot started
/portfolio - the wallet's holdings as a pie chart
/quote amount from to - what a swap would give
/swap amount from to - swap (owners only)
/send amount token to - transfer (owners only)
/orders - standing orders
/cancel id - cancel a standing order (owners only)
/history - the wallet's recent transfers
/policy - the policy in force
Or mention me (or DM me) and just write, e.g. "what is ETH worth?"`

// command is one slash command: the tool it calls (none: answered by the bot), its
// description and its options, named as the tool's arguments.
type command struct {
	tool     string
	desc     string
	required []string
	optional []string
}

var commands = map[string]command{
	"balance":   {tool: "wallet_balance", desc: "The wallet's balances", optional: []string{"token"}},
	"address":   {tool: "wallet_address", desc: "The wallet's address"},
	"price":     {tool: "token_price", desc: "A token's USD price", required: []string{"token"}},
	"quote":     {tool: "dex_quote", desc: "What a swap would give", required: []string{"amount", "from", "to"}},
	"swap":      {tool: "dex_swap", desc: "Swap tokens (owners only)", required: []string{"amount", "from", "to"}},
	"send":      {tool: "wallet_transfer", desc: "Send a token (owners only)", required: []string{"amount", "token", "to"}},
	"orders":    {tool: "order_list", desc: "Standing orders"},
	"history":   {tool: "wallet_history", desc: "The wallet's recent transfers"},
	"cancel":    {tool: "order_cancel", desc: "Cancel a standing order (owners only)", required: []string{"id"}},
	"policy":    {desc: "The policy in force"},
	"chart":     {desc: "A chart of a token's prices read since the bot started", required: []string{"token"}},
	"portfolio": {desc: "The wallet's holdings as a pie chart"},
	"help":      {desc: "What this bot does"},
}

// optionHelp describes each option.
var optionHelp = map[string]string{
	"token":  "a token symbol or address, e.g. ETH",
	"amount": "an amount in token units, e.g. 0.5",
	"from":   "the token to give, e.g. ETH",
	"to":     "the token to get, or the address to send to",
	"id":     "the order's id, as /orders shows it",
}

// slashCommands are the application commands registered with Discord.
func slashCommands() []*discordgo.ApplicationCommand {
	var out []*discordgo.ApplicationCommand
	for _, n := range []string{"balance", "address", "price", "quote", "swap", "send", "orders", "policy", "history", "cancel", "chart", "portfolio", "help"} {
		c := commands[n]
		ac := &discordgo.ApplicationCommand{Name: n, Description: c.desc}
		for _, o := range c.required {
			ac.Options = append(ac.Options, &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: o, Description: optionHelp[o], Required: true})
		}
		for _, o := range c.optional {
			ac.Options = append(ac.Options, &discordgo.ApplicationCommandOption{Type: discordgo.ApplicationCommandOptionString, Name: o, Description: optionHelp[o]})
		}
		out = append(out, ac)
	}
	return out
}

// command answers a slash command.
func (b *Bot) command(ctx context.Context, reply *answer, u *discordgo.User) {
	data := reply.in.ApplicationCommandData()
	args := map[string]any{}
	for _, o := range data.Options {
		args[o.Name] = strings.TrimSpace(o.StringValue())
	}
	channel, owner := reply.in.ChannelID, b.owner(u.ID)
	switch data.Name {
	case "help":
		intro := "Mandate: a wallet agent whose every value-moving action passes its owner's policy.\n"
		if !owner {
			intro += access.OwnersOnly + "\n"
		}
		reply.embed(ctx, "Mandate", intro+"\n"+helpText, colorInfo)
		return
	case "policy":
		reply.embed(ctx, "/policy", render.Policy(b.rt.Policy()), colorInfo)
		return
	case "chart":
		b.chart(ctx, reply, args)
		return
	case "portfolio":
		b.portfolio(ctx, reply)
		return
	}
	c, ok := commands[data.Name]
	if !ok || c.tool == "" {
		reply.text(ctx, "Unknown command /"+data.Name+". /help lists them.")
		return
	}
	reg := b.rt.Tools()
	tool := access.ToolFor(func(n string) bool { _, ok := reg.Get(n); return ok }, c.tool, args)
	t, ok := reg.Get(tool)
	if !ok {
		reply.text(ctx, "/"+data.Name+" is not supported yet here.")
		return
	}
	if tools.MovesValue(t) && !owner {
		reply.embed(ctx, "/"+data.Name, access.OwnersOnly, colorBad)
		return
	}
	if access.TakesKey(t) {
		// A redelivered interaction acts once: the key is the interaction's.
		args["idempotency_key"] = "discord:" + reply.in.ID
	}
	raw, err := json.Marshal(args)
	if err != nil {
		reply.text(ctx, "Could not read that: "+err.Error())
		return
	}
	res, err := reg.Call(b.turnContext(ctx, channel), tool, raw)
	if tool == "token_price" && err == nil {
		b.prices.Note(res.Data, time.Now()) // a sample for /chart
	}
	reply.embed(ctx, "/"+data.Name, render.Result(res, err), resultColor(res, err))
}

// resultColor marks a failure or denial red and an executed decision green.
func resultColor(res tools.Result, err error) int {
	switch {
	case err != nil:
		return colorBad
	case res.Outcome != nil && res.Outcome.Decision != "":
		return colorOK
	}
	return colorInfo
}
