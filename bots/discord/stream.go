package discord

import (
	"context"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/mandatehq/mandate/bots/stream"
)

// converse runs text through the agent the sender may use and shows the answer as it
// streams in.
func (b *Bot) converse(ctx context.Context, channel, user, text string) {
	owner := b.owner(user)
	ag := b.rt.Agent()
	if !owner {
		ag = b.guests
	}
	stop := b.typing(ctx, channel)
	defer stop()
	out := &stream.Answer{To: channelMessages{b, channel}, Every: b.cfg.EditInterval,
		Parts: func(body string) []string { return pieces(escape(body), maxContent) }}
	out.Turn(ctx, ag.Session(session(channel, user, owner)).Send(b.turnContext(ctx, channel), text), !owner)
	stop()
	out.Flush(ctx, true)
}

// typingEvery repeats the typing indicator, which Discord shows for about ten seconds.
const typingEvery = 8 * time.Second

// typing shows "typing…" in channel until the returned stop is called. It is not a
// message, so not paced.
func (b *Bot) typing(ctx context.Context, channel string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if err := b.client.ChannelTyping(channel); err != nil {
				b.sendFailed(channel, err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(typingEvery):
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// channelMessages are a channel's messages (escaped already), for a streamed answer.
type channelMessages struct {
	b       *Bot
	channel string
}

func (c channelMessages) Send(ctx context.Context, text string) (string, error) {
	m, err := c.b.send(ctx, c.channel, &discordgo.MessageSend{Content: text})
	if err != nil {
		return "", err
	}
	return m.ID, nil
}

func (c channelMessages) Edit(ctx context.Context, id, text string) error {
	return c.b.edit(ctx, c.channel, id, text, nil)
}

func (c channelMessages) Failed(err error) { c.b.sendFailed(c.channel, err) }
