package discord

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/mandatehq/mandate/policies"
)

// Approver asks the owners to confirm what the policy sends to a person, with Approve /
// Reject buttons. Make it before the runtime (NewApprover), give it to
// mandate.Config.Approver and to Config.Approver; the bot binds it while it runs. Only an
// owner's press counts, a request expires after the bot's ApprovalTimeout, and a second
// press acts on nothing.
type Approver struct {
	mu      sync.Mutex
	bot     *Bot
	pending map[string]*request
}

// request is one question put to the owners.
type request struct {
	msgs    []shown   // the buttons shown, one message per channel asked
	answer  chan bool // buffered: the first owner's press
	state   string    // "", "approved", "rejected", "expired"
	expires time.Time // for the presses that come late
	text    string    // the question, escaped, for the edits that settle it
}

type shown struct{ channel, id string }

// NewApprover returns an approver with no bot yet: until one runs, it refuses (an error
// says why).
func NewApprover() *Approver { return &Approver{pending: map[string]*request{}} }

// ErrNoBot is an approval asked while no bot runs.
var ErrNoBot = errors.New("discord: the bot is not running, so nobody can approve")

func (a *Approver) bind(b *Bot) {
	a.mu.Lock()
	a.bot = b
	a.mu.Unlock()
}

func (a *Approver) unbind(b *Bot) {
	a.mu.Lock()
	if a.bot == b {
		a.bot = nil
	}
	a.mu.Unlock()
}

type channelKey struct{}

// withChannel marks ctx as a request from channel, where its approval is asked.
func withChannel(ctx context.Context, channel string) context.Context {
	return context.WithValue(ctx, channelKey{}, channel)
}

// Custom ids of the buttons: "ap:<request>:y" and "ap:<request>:n".
const idPrefix = "ap:"

// Approve asks in the channel the request came from, or, for one that came from no channel
// (a standing order), in each owner's DM, and waits for an owner's press, the timeout or
// ctx. Expiry declines.
func (a *Approver) Approve(ctx context.Context, in policies.Intent, why []string) (bool, error) {
	a.mu.Lock()
	b := a.bot
	a.mu.Unlock()
	if b == nil {
		return false, ErrNoBot
	}
	channels, err := a.where(ctx, b)
	if err != nil {
		return false, err
	}
	id, err := newID()
	if err != nil {
		return false, err
	}
	timeout := b.cfg.ApprovalTimeout
	r := &request{answer: make(chan bool, 1), expires: time.Now().Add(timeout), text: pieces(escape(question(in, why, timeout)), maxContent-200)[0]} // room for how it ended
	a.mu.Lock()
	a.pending[id] = r
	a.mu.Unlock()
	a.ask(ctx, b, id, r, channels)
	if len(r.msgs) == 0 {
		a.claim(id, "expired")
		return false, errors.New("discord: could not show the approval to anyone")
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ok := <-r.answer:
		return ok, nil
	case <-timer.C:
		if !a.claim(id, "expired") {
			return <-r.answer, nil // an owner pressed just in time
		}
		a.show(context.WithoutCancel(ctx), b, id, "expired", "", "")
		return false, nil
	case <-ctx.Done():
		if a.claim(id, "expired") {
			a.show(context.WithoutCancel(ctx), b, id, "expired", "", "")
		}
		return false, ctx.Err()
	}
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

// ask shows the question with its buttons in each channel.
func (a *Approver) ask(ctx context.Context, b *Bot, id string, r *request, channels []string) {
	buttons := []discordgo.MessageComponent{discordgo.ActionsRow{Components: []discordgo.MessageComponent{
		discordgo.Button{Label: "Approve", Style: discordgo.SuccessButton, CustomID: idPrefix + id + ":y"},
		discordgo.Button{Label: "Reject", Style: discordgo.DangerButton, CustomID: idPrefix + id + ":n"},
	}}}
	for _, c := range channels {
		m, err := b.send(ctx, c, &discordgo.MessageSend{Content: r.text, Components: buttons})
		if err != nil {
			b.sendFailed(c, err)
			continue
		}
		a.mu.Lock()
		r.msgs = append(r.msgs, shown{c, m.ID})
		a.mu.Unlock()
	}
}

// press answers a button press: every press is answered, only an owner's first one before
// expiry acts, and it replaces the buttons with who decided.
func (a *Approver) press(ctx context.Context, b *Bot, in *discordgo.Interaction, u *discordgo.User) {
	data := in.MessageComponentData()
	rest, ok := strings.CutPrefix(data.CustomID, idPrefix)
	id, verdict, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || (verdict != "y" && verdict != "n") {
		b.ephemeral(in, "This button does nothing.")
		return
	}
	state, known := a.state(id)
	switch {
	case !known:
		b.ephemeral(in, "This request has expired; nothing was done.")
		return
	case !b.owner(u.ID):
		b.ephemeral(in, "Only an owner can approve or reject this.")
		return
	case state == "expired":
		b.ephemeral(in, "This request has expired; nothing was done.")
		return
	case state != "":
		b.ephemeral(in, "Already "+state+".")
		return
	}
	outcome := "approved"
	if verdict == "n" {
		outcome = "rejected"
	}
	if !a.claim(id, outcome) {
		b.ephemeral(in, "Already answered.")
		return
	}
	a.update(b, in, id, outcome, name(u))
	pressed := ""
	if in.Message != nil {
		pressed = in.Message.ID
	}
	a.show(ctx, b, id, outcome, name(u), pressed)
}

// state is request id's state, expired once its time is past.
func (a *Approver) state(id string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.pending[id]
	if !ok {
		return "", false
	}
	if r.state == "" && time.Now().After(r.expires) {
		return "expired", true
	}
	return r.state, true
}

// claim closes request id once with state, handing an owner's verdict to the waiting
// Approve; it reports whether this call was the one that did.
func (a *Approver) claim(id, state string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.pending[id]
	if !ok || r.state != "" {
		return false
	}
	r.state = state
	if state != "expired" {
		r.answer <- state == "approved"
	}
	// Kept a while, so a late press hears what happened rather than nothing; then
	// forgotten.
	time.AfterFunc(10*time.Minute, func() {
		a.mu.Lock()
		delete(a.pending, id)
		a.mu.Unlock()
	})
	return true
}

// settled is the question with how it ended.
func settled(text, state, by string) string {
	line := "Expired: nothing was done."
	switch state {
	case "approved":
		line = "Approved by " + escape(by) + "."
	case "rejected":
		line = "Rejected by " + escape(by) + "."
	}
	return text + "\n\n" + line
}

// update answers the pressing interaction by replacing its message's buttons with the
// outcome (the press's own message is edited through the interaction, not the channel).
func (a *Approver) update(b *Bot, in *discordgo.Interaction, id, state, by string) {
	text := a.text(id)
	err := b.client.InteractionRespond(in, &discordgo.InteractionResponse{
		Type: discordgo.InteractionResponseUpdateMessage,
		Data: &discordgo.InteractionResponseData{Content: settled(text, state, by), Components: []discordgo.MessageComponent{},
			AllowedMentions: noMentions()},
	})
	if err != nil {
		b.sendFailed(in.ChannelID, err)
	}
}

func (a *Approver) text(id string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if r := a.pending[id]; r != nil {
		return r.text
	}
	return ""
}

// show edits the request's messages but skip (the one a press updated already), removing
// the buttons and saying how it ended.
func (a *Approver) show(ctx context.Context, b *Bot, id, state, by, skip string) {
	a.mu.Lock()
	r := a.pending[id]
	var msgs []shown
	text := ""
	if r != nil {
		msgs, text = append([]shown(nil), r.msgs...), r.text
	}
	a.mu.Unlock()
	none := []discordgo.MessageComponent{}
	for _, m := range msgs {
		if m.id == skip {
			continue
		}
		if err := b.edit(ctx, m.channel, m.id, settled(text, state, by), &none); err != nil {
			b.sendFailed(m.channel, err)
		}
	}
}

// question is the approval's text: what, why, until when, and then the intent exactly,
// last, so that cutting a long one to Discord's limit loses only the end of its JSON.
func question(in policies.Intent, why []string, timeout time.Duration) string {
	var s strings.Builder
	fmt.Fprintf(&s, "The policy asks an owner to confirm this %s:\n", in.Kind())
	if h := headline(in); h != "" {
		s.WriteString(h + "\n")
	}
	if len(why) > 0 {
		s.WriteString("Because: " + strings.Join(why, "; ") + "\n")
	}
	fmt.Fprintf(&s, "Expires in %s.\n", timeout.Round(time.Second))
	s.WriteString("Exactly: " + describe(in))
	return s.String()
}

// name is how a person is shown: their username, escaped where it is shown.
func name(u *discordgo.User) string {
	if u.Username != "" {
		return "@" + u.Username
	}
	return "user " + u.ID
}

func newID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("discord: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
