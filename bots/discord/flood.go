package discord

import (
	"time"

	"github.com/mandatehq/mandate/bots/flood"
)

// DefaultUserRate is how many messages and commands one user may send the bot in a minute
// unless configured.
const DefaultUserRate = flood.DefaultRate

// paced reports whether a message or command from user in channel may be handled; the
// first one past the rate is answered with flood.SlowDown in the channel.
func (b *Bot) paced(channel, user string) bool {
	switch b.flood.Check(user, time.Now()) {
	case flood.Allow:
		return true
	case flood.Warn:
		b.log.Warn("discord: a user is sending faster than allowed; ignoring them for the rest of the minute", "user", user, "channel", channel)
		b.queues.push(channel, func() { b.say(b.ctx, channel, flood.SlowDown) })
	}
	return false
}
