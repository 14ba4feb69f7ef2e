package discord

import (
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/mandatehq/mandate/bots/flood"
)

// onMessageCreate queues a message for its channel; the gateway's goroutine only sorts.
func (b *Bot) onMessageCreate(_ *discordgo.Session, m *discordgo.MessageCreate) {
	if m.Author == nil || m.Author.Bot || b.me == nil || m.Author.ID == b.me.ID {
		return
	}
	text, addressed := b.addressed(m.Message)
	if !addressed {
		return
	}
	if !b.paced(m.ChannelID, m.Author.ID) {
		return
	}
	ch := m.ChannelID
	say := func(s string) { b.say(b.ctx, ch, s) }
	if !b.queues.push(ch, func() { b.safely(ch, say, func() { b.onMessage(m.Message, text) }) }) {
		b.log.Warn("discord: a channel sent more than the bot can queue; dropped a message", "channel", ch)
	}
}

// onMessage answers one message addressed to the bot through the agent.
func (b *Bot) onMessage(m *discordgo.Message, text string) {
	ctx := b.ctx
	if !b.allowed(m.GuildID, m.ChannelID, m.Author.ID) {
		if m.GuildID == "" {
			b.say(ctx, m.ChannelID, notOpen)
		}
		return
	}
	if strings.TrimSpace(text) == "" {
		b.say(ctx, m.ChannelID, "I read text only: use a slash command (/help) or write a question after mentioning me.")
		return
	}
	b.converse(ctx, m.ChannelID, m.Author.ID, text)
}

// notOpen is what someone outside the allowlist hears.
const notOpen = "This bot is not open to you. Ask its owner to add you."

// addressed returns the message's text without the bot's mention, and whether it is for
// the bot: always in a DM; in a guild only when it mentions the bot.
func (b *Bot) addressed(m *discordgo.Message) (string, bool) {
	text := strings.TrimSpace(m.Content)
	if m.GuildID == "" {
		return text, true
	}
	mentioned := false
	for _, u := range m.Mentions {
		if u != nil && u.ID == b.me.ID {
			mentioned = true
		}
	}
	for _, tag := range []string{"<@" + b.me.ID + ">", "<@!" + b.me.ID + ">"} {
		if strings.Contains(text, tag) {
			mentioned = true
			text = strings.ReplaceAll(text, tag, "")
		}
	}
	return strings.TrimSpace(text), mentioned
}

// onInteraction answers slash commands and button presses. A press is handled at once (a
// turn may be waiting for it); a command is acknowledged at once (Discord wants an answer
// within three seconds) and then run in its channel's order.
func (b *Bot) onInteraction(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
	in := ic.Interaction
	u := who(in.Member, in.User)
	if u == nil {
		return
	}
	switch in.Type {
	case discordgo.InteractionMessageComponent:
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.safely(in.ChannelID, func(s string) { b.ephemeral(in, s) }, func() { b.ap.press(b.ctx, b, in, u) })
		}()
	case discordgo.InteractionApplicationCommand:
		b.slash(in, u)
	}
}

// slash acknowledges a command and queues its work; the answer replaces the "thinking…"
// Discord shows meanwhile.
func (b *Bot) slash(in *discordgo.Interaction, u *discordgo.User) {
	if !b.allowed(in.GuildID, in.ChannelID, u.ID) {
		b.wg.Add(1)
		go func() { defer b.wg.Done(); b.ephemeral(in, notOpen) }()
		return
	}
	if b.flood.Check(u.ID, time.Now()) != flood.Allow {
		b.wg.Add(1)
		go func() { defer b.wg.Done(); b.ephemeral(in, flood.SlowDown) }()
		return
	}
	acked := make(chan bool, 1)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		acked <- b.deferReply(in)
	}()
	ch := in.ChannelID
	reply := &answer{b: b, in: in, acked: acked}
	queued := b.queues.push(ch, func() {
		b.safely(ch, func(s string) { reply.text(b.ctx, s) }, func() { b.command(b.ctx, reply, u) })
	})
	if !queued {
		b.log.Warn("discord: a channel sent more than the bot can queue; dropped a command", "channel", ch)
	}
}
