package discord

import (
	"bytes"
	"context"
	"strings"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/mandatehq/mandate/bots/markup"
)

// Discord's limits on a message's content and an embed's description, in characters.
const (
	maxContent     = 2000
	maxDescription = 4096
)

// Embed colours: neutral, done, refused.
const (
	colorInfo = 0x5865F2
	colorOK   = 0x57F287
	colorBad  = 0xED4245
)

// noMentions lets a message ping nobody: not @everyone, not a role, not a user, whatever
// its text holds. An empty parse list (not an absent one) is what says so.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}

// escape makes text literal: a token's name or a member's words render as typed.
func escape(s string) string { return markup.DiscordEscape(s) }

// pieces cuts s (already escaped) into parts of at most n characters, at line ends where
// it can, never leaving an escaping backslash at the end of a part.
func pieces(s string, n int) []string {
	var out []string
	for utf8.RuneCountInString(s) > n {
		cut := byteAt(s, n)
		if nl := strings.LastIndexByte(s[:cut], '\n'); nl > cut/2 {
			cut = nl + 1
		}
		for cut > 1 && s[cut-1] == '\\' && trailing(s[:cut])%2 == 1 {
			cut--
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" || len(out) == 0 {
		out = append(out, s)
	}
	return out
}

// byteAt is the byte offset after the first n runes of s.
func byteAt(s string, n int) int {
	i := 0
	for k := range s {
		if i == n {
			return k
		}
		i++
	}
	return len(s)
}

// trailing counts the backslashes that end s.
func trailing(s string) int {
	n := 0
	for n < len(s) && s[len(s)-1-n] == '\\' {
		n++
	}
	return n
}

// pace runs fn within the channel's rate (bots/sched); discordgo itself waits out a 429.
func (b *Bot) pace(ctx context.Context, channel string, fn func() error) error {
	return b.sch.Do(ctx, channel, false, func(context.Context) error { return fn() })
}

// say sends text to a channel as plain (escaped) messages, logging a failure.
func (b *Bot) say(ctx context.Context, channel, text string) *discordgo.Message {
	var last *discordgo.Message
	for _, part := range pieces(escape(text), maxContent) {
		m, err := b.send(ctx, channel, &discordgo.MessageSend{Content: part})
		if err != nil {
			b.sendFailed(channel, err)
			return last
		}
		last = m
	}
	return last
}

// send posts a message through the scheduler with mentions off.
func (b *Bot) send(ctx context.Context, channel string, m *discordgo.MessageSend) (*discordgo.Message, error) {
	m.AllowedMentions = noMentions()
	var out *discordgo.Message
	err := b.pace(ctx, channel, func() error {
		var err error
		out, err = b.client.ChannelMessageSendComplex(channel, m, discordgo.WithContext(ctx))
		return err
	})
	return out, err
}

// edit replaces a message's content (escaped already) and its components; nil components
// keep them, an empty list removes them.
func (b *Bot) edit(ctx context.Context, channel, id, content string, components *[]discordgo.MessageComponent) error {
	e := &discordgo.MessageEdit{ID: id, Channel: channel, Content: &content, Components: components, AllowedMentions: noMentions()}
	return b.pace(ctx, channel, func() error {
		_, err := b.client.ChannelMessageEditComplex(e, discordgo.WithContext(ctx))
		return err
	})
}

// ephemeral answers an interaction with a message only its user sees. It is not paced:
// Discord wants the answer within three seconds.
func (b *Bot) ephemeral(in *discordgo.Interaction, text string) {
	err := b.client.InteractionRespond(in, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseChannelMessageWithSource,
		Data: &discordgo.InteractionResponseData{Content: escape(text), Flags: discordgo.MessageFlagsEphemeral, AllowedMentions: noMentions()},
	})
	if err != nil {
		b.sendFailed(in.ChannelID, err)
	}
}

// deferReply acknowledges a command ("thinking…"); false: Discord did not take it.
func (b *Bot) deferReply(in *discordgo.Interaction) bool {
	err := b.client.InteractionRespond(in, &discordgo.InteractionResponse{Type: discordgo.InteractionResponseDeferredChannelMessageWithSource})
	if err != nil {
		b.sendFailed(in.ChannelID, err)
		return false
	}
	return true
}

// answer is a slash command's reply: the first part replaces the acknowledgement, the rest
// follow it. If the acknowledgement failed the reply goes to the channel instead.
type answer struct {
	b      *Bot
	in     *discordgo.Interaction
	acked  chan bool
	ok     bool
	waited bool
	parts  int
}

func (a *answer) ready() bool {
	if !a.waited {
		a.ok, a.waited = <-a.acked, true
	}
	return a.ok
}

// text replies with plain text (escaped here).
func (a *answer) text(ctx context.Context, s string) { a.embed(ctx, "", s, colorInfo) }

// embed replies with text (escaped here) in embeds titled title, as many as it takes.
func (a *answer) embed(ctx context.Context, title, body string, color int) {
	body = strings.TrimSpace(body)
	if body == "" {
		body = "Done."
	}
	for i, part := range pieces(escape(body), maxDescription) {
		e := &discordgo.MessageEmbed{Description: part, Color: color}
		if i == 0 {
			e.Title = title
		}
		if !a.post(ctx, []*discordgo.MessageEmbed{e}, nil) {
			return
		}
	}
}

// post sends one part of the reply: embeds and files.
func (a *answer) post(ctx context.Context, embeds []*discordgo.MessageEmbed, files []*discordgo.File) bool {
	b, ch := a.b, a.in.ChannelID
	if !a.ready() {
		_, err := b.send(ctx, ch, &discordgo.MessageSend{Embeds: embeds, Files: files})
		return err == nil
	}
	first := a.parts == 0
	a.parts++
	err := b.pace(ctx, ch, func() error {
		var err error
		if first {
			empty := ""
			_, err = b.client.InteractionResponseEdit(a.in, &discordgo.WebhookEdit{Content: &empty, Embeds: &embeds, Files: files,
				AllowedMentions: noMentions()}, discordgo.WithContext(ctx))
		} else {
			_, err = b.client.FollowupMessageCreate(a.in, true, &discordgo.WebhookParams{Embeds: embeds, Files: files,
				AllowedMentions: noMentions()}, discordgo.WithContext(ctx))
		}
		return err
	})
	if err != nil {
		b.sendFailed(ch, err)
		return false
	}
	return true
}

// png is an image attachment.
func png(name string, img []byte) *discordgo.File {
	return &discordgo.File{Name: name, ContentType: "image/png", Reader: bytes.NewReader(img)}
}
