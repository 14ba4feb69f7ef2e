package discord

import (
	"context"
	"errors"

	"github.com/bwmarrin/discordgo"

	"github.com/mandatehq/mandate/bots/approval"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
)

// Approver asks the owners to confirm what the policy sends to a person, with Approve /
// Reject buttons. Make it before the runtime (NewApprover), give it to
// mandate.Config.Approver and to Config.Approver; the bot binds it while it runs. Only an
// owner's press counts, a request expires after the bot's ApprovalTimeout, and a second
// press acts on nothing.
//
// The question lives in the database (bots/approval), not in this process: after a
// restart a press is still checked against its rules, and when two processes run the bot
// a press acts once whichever one it reaches.
type Approver struct {
	seat approval.Seat[Bot]
}

// shown is where a question was shown, kept with it in the database.
type shown struct {
	Channel string `json:"channel"`
	ID      string `json:"id"`
}

// NewApprover returns an approver with no bot yet: until one runs, it refuses (an error
// says why).
func NewApprover() *Approver { return &Approver{} }

// ErrNoBot is an approval asked while no bot runs.
var ErrNoBot = errors.New("discord: the bot is not running, so nobody can approve")

type channelKey struct{}

// withChannel marks ctx as a request from channel, where its approval is asked.
func withChannel(ctx context.Context, channel string) context.Context {
	return context.WithValue(ctx, channelKey{}, channel)
}

// Approve asks in the channel the request came from, or, for one that came from no channel
// (a standing order), in each owner's DM, and waits for an owner's press, the timeout or
// ctx. Expiry declines.
func (a *Approver) Approve(ctx context.Context, in policies.Intent, why []string) (bool, error) {
	b := a.seat.Bot()
	if b == nil {
		return false, ErrNoBot
	}
	channels, err := a.where(ctx, b)
	if err != nil {
		return false, err
	}
	timeout := b.cfg.ApprovalTimeout
	text := pieces(escape(approval.Question(in, why, timeout)), maxContent-200)[0] // room for how it ended
	return b.book.Ask(ctx, text, timeout, func(ctx context.Context, id string) []shown {
		return b.ask(ctx, id, text, channels)
	})
}

// where are the channels to ask in: the request's own, or the owners' DMs.
func (a *Approver) where(ctx context.Context, b *Bot) ([]string, error) {
	if c, ok := ctx.Value(channelKey{}).(string); ok {
		return []string{c}, nil
	}
	var out []string
	for _, o := range b.cfg.Owners {
		dm, err := b.client.UserChannelCreate(o, discordgo.WithContext(ctx))
		if err != nil {
			b.sendFailed("", err)
			continue
		}
		out = append(out, dm.ID)
	}
	if len(out) == 0 {
		return nil, errors.New("discord: no owner is configured (or reachable by DM), so nobody can approve")
	}
	return out, nil
}

// ask shows question id's text (escaped already) with its buttons in each channel and
// returns where it reached.
func (b *Bot) ask(ctx context.Context, id, text string, channels []string) []shown {
	buttons := []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{Label: "Approve", Style: discordgo.SuccessButton, CustomID: approval.Button(id, true)},
		discordgo.Button{Label: "Reject", Style: discordgo.DangerButton, CustomID: approval.Button(id, false)},
	}}}
	var out []shown
	for _, c := range channels {
		m, err := b.send(ctx, c, &discordgo.MessageSend{Content: text, Components: buttons})
		if err != nil {
			b.sendFailed(c, err)
			continue
		}
		out = append(out, shown{c, m.ID})
	}
	return out
}

// press answers a button press: every press is answered, only an owner's first one before
// expiry acts, and it replaces the buttons with who decided.
func (a *Approver) press(ctx context.Context, b *Bot, in *discordgo.Interaction, u *discordgo.User) {
	answer, q := b.book.Press(ctx, in.MessageComponentData().CustomID, b.owner(u.ID), name(u))
	if q == nil {
		b.ephemeral(in, answer)
		return
	}
	pressed := ""
	if in.Message != nil && b.update(in, *q) {
		pressed = in.Message.ID
	}
	b.settled(ctx, *q, b.book.Where(*q), pressed)
}

// ending is the question q with how it ended.
func ending(q memory.BotApproval) string {
	return q.Question + "\n\n" + approval.Ending(q, escape)
}

// update answers the pressing interaction by replacing its message's buttons with how q
// ended (the press's own message is edited through the interaction, not the channel);
// false: Discord did not take it, and the message is left to a channel edit.
func (b *Bot) update(in *discordgo.Interaction, q memory.BotApproval) bool {
	err := b.client.InteractionRespond(in, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseUpdateMessage,
		Data: &discordgo.InteractionResponseData{Content: ending(q), Components: []discordgo.MessageComponent{},
			AllowedMentions: noMentions()},
	})
	if err != nil {
		b.sendFailed(in.ChannelID, err)
		return false
	}
	return true
}

// settled edits question q's messages but skip (the one a press updated already),
// removing the buttons and saying how it ended.
func (b *Bot) settled(ctx context.Context, q memory.BotApproval, where []shown, skip string) {
	none := []discordgo.MessageComponent{}
	for _, m := range where {
		if m.ID == skip {
			continue
		}
		if err := b.edit(ctx, m.Channel, m.ID, ending(q), &none); err != nil {
			b.sendFailed(m.Channel, err)
		}
	}
}

// name is how a person is shown: their username, escaped where it is shown.
func name(u *discordgo.User) string {
	if u.Username != "" {
		return "@" + u.Username
	}
	return "user " + u.ID
}
