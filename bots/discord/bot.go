// Package discord is Mandate's Discord front end: slash commands and messages that mention
// the bot (or come in a DM) over a runtime, answers as embeds or streamed into one edited
// message, and the policy's "ask" decisions as Approve / Reject buttons only an owner can
// press.
//
// Who may do what is decided from the tools' traits, not from a list of names: an owner may
// call every tool (the policy still decides), anyone else only read-only ones, and the agent
// a non-owner talks to holds no other tool at all, so no wording of a request can reach one
// that moves value.
//
// Everything sent is escaped Discord markdown with no mention allowed: nothing a token name
// or another member wrote can ping anyone, become a link or break the message.
//
// The Approve / Reject questions are kept in the runtime's database (bots/approval): a
// restarted bot still answers a press by its question's rules, and when two processes run
// the same application a press acts once whichever one it reaches.
package discord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/bots/access"
	"github.com/mandatehq/mandate/bots/approval"
	"github.com/mandatehq/mandate/bots/charts"
	"github.com/mandatehq/mandate/bots/flood"
	"github.com/mandatehq/mandate/bots/sched"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/tools"
)

// Config is what a Bot needs besides its runtime.
type Config struct {
	Token  string // the bot's token from the developer portal
	APIURL string // the API's base URL; empty: Discord's
	// Owners are the user ids (snowflakes) who may move value (within the policy).
	Owners []string
	// AllowedGuilds, AllowedChannels and AllowedUsers limit who may talk to the bot at
	// all; empty: anyone may (owners always may). Only owners move value either way.
	AllowedGuilds   []string
	AllowedChannels []string
	AllowedUsers    []string
	// ApprovalTimeout is how long Approve / Reject buttons wait for an owner (default
	// DefaultApprovalTimeout).
	ApprovalTimeout time.Duration
	// Approver is the one given to the runtime as mandate.Config.Approver (NewApprover),
	// so that asks from outside a channel (standing orders) reach the owners too; nil:
	// the bot makes its own for its channels.
	Approver *Approver
	// EditInterval spaces the edits of a streamed answer (default one a second).
	EditInterval time.Duration
	// UserRate is how many messages and commands one user may send the bot a minute
	// (default DefaultUserRate); past it they are told once to slow down.
	UserRate int
	// Limits are the send rates the bot keeps; nil: sched.DiscordLimits. A local server
	// that enforces none takes &sched.Limits{}.
	Limits *sched.Limits
	Logger *slog.Logger
}

// DefaultApprovalTimeout is how long an approval waits unless configured.
const DefaultApprovalTimeout = 5 * time.Minute

// ErrUnauthorized is Discord refusing the bot token: it is wrong or was reset. Run stops
// with it rather than reconnecting forever.
var ErrUnauthorized = errors.New("discord: Discord refused the bot token (401 Unauthorized or gateway close 4004): it is wrong or was reset; copy a new one from the developer portal")

// Bot is a Discord front end over a runtime.
type Bot struct {
	rt       *mandate.Runtime
	cfg      Config
	log      *slog.Logger
	client   *discordgo.Session
	owners   map[string]bool
	guilds   map[string]bool
	channels map[string]bool
	users    map[string]bool
	guests   *agent.Agent // the agent non-owners talk to: read-only tools only
	ap       *Approver
	book     *approval.Book[shown] // the approvals, in the database; made by Run
	flood    *flood.Limiter[string]

	ctx    context.Context // Run's: handlers answer within it
	me     *discordgo.User
	app    string           // the application's id, for commands and interaction webhooks
	sch    *sched.Scheduler // every message and edit, paced per channel
	fatal  chan error       // a token refused while running
	down   chan struct{}    // the gateway connection dropped
	queues queues
	wg     sync.WaitGroup // interactions being handled outside the queues
	prices charts.Samples // for /chart
}

// New builds a bot over rt. It does not reach Discord; Run does.
func New(rt *mandate.Runtime, cfg Config) (*Bot, error) {
	if rt == nil {
		return nil, errors.New("discord: no runtime")
	}
	if rt.Store() == nil {
		return nil, errors.New("discord: the runtime has no database; the bot keeps its approvals there")
	}
	token := strings.TrimPrefix(strings.TrimSpace(cfg.Token), "Bot ")
	if token == "" {
		return nil, errors.New("discord: no bot token; copy one from the developer portal (Bot → Reset Token)")
	}
	if cfg.ApprovalTimeout <= 0 {
		cfg.ApprovalTimeout = DefaultApprovalTimeout
	}
	if cfg.EditInterval <= 0 {
		cfg.EditInterval = time.Second
	}
	hc, err := httpClient(cfg.APIURL)
	if err != nil {
		return nil, err
	}
	client, err := discordgo.New("Bot " + token)
	if err != nil {
		return nil, fmt.Errorf("discord: %w", err)
	}
	client.Client = hc
	client.Dialer = &websocket.Dialer{HandshakeTimeout: 20 * time.Second, Proxy: websocket.DefaultDialer.Proxy}
	// Run reconnects itself, so that a refused token stops it instead of a retry loop.
	client.ShouldReconnectOnError = false
	// Events arrive in order; handlers only queue them.
	client.SyncEvents = true
	client.StateEnabled = false
	client.Identify.Intents = discordgo.IntentsGuildMessages | discordgo.IntentsDirectMessages | discordgo.IntentsGuilds
	client.LogLevel = discordgo.LogError
	b := &Bot{rt: rt, cfg: cfg, log: cfg.Logger, client: client, owners: access.Set(cfg.Owners), guilds: access.Set(cfg.AllowedGuilds),
		channels: access.Set(cfg.AllowedChannels), users: access.Set(cfg.AllowedUsers), ap: cfg.Approver, flood: flood.New[string](cfg.UserRate),
		fatal: make(chan error, 1), down: make(chan struct{}, 1)}
	if b.log == nil {
		b.log = slog.Default()
	}
	if b.ap == nil {
		b.ap = NewApprover()
	}
	model, _ := rt.Model()
	b.guests = agent.New(model, access.ReadOnly(rt.Tools()),
		agent.WithMemory(mandate.ChatMemory(rt.Store().Chats())),
		agent.WithSystemPrompt(agent.DefaultSystemPrompt+"\n"+access.GuestPrompt),
		agent.WithLogger(b.log))
	client.AddHandler(b.onMessageCreate)
	client.AddHandler(b.onInteraction)
	client.AddHandler(func(*discordgo.Session, *discordgo.Disconnect) { b.signal(b.down, struct{}{}) })
	return b, nil
}

// Run registers the slash commands, connects to the gateway and answers until ctx ends
// (nil then) or the token is refused (ErrUnauthorized). A dropped connection is
// reconnected; a refused one is not.
func (b *Bot) Run(ctx context.Context) error {
	me, err := b.client.User("@me")
	if err != nil {
		return b.apiErr(err)
	}
	b.me, b.app, b.ctx = me, me.ID, ctx
	// Every process running this application shares its questions.
	b.book = approval.NewBook(b.rt.Store().BotState(), "discord-"+b.app, b.log,
		func(ctx context.Context, q memory.BotApproval, where []shown) { b.settled(ctx, q, where, "") })
	if _, err := b.client.ApplicationCommandBulkOverwrite(b.app, "", slashCommands()); err != nil {
		if refused(err) {
			return ErrUnauthorized
		}
		// The commands registered last time still work; mentions and DMs do regardless.
		b.log.Warn("discord: registering the slash commands failed", "error", err.Error())
	}
	limits := sched.DiscordLimits
	if b.cfg.Limits != nil {
		limits = *b.cfg.Limits
	}
	b.sch = sched.New(limits)
	defer func() {
		// A send in flight gets a moment to finish; nothing waits longer.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = b.sch.Close(cctx)
	}()
	b.ap.seat.Take(b)
	defer b.ap.seat.Leave(b)
	if err := b.client.Open(); err != nil {
		return b.apiErr(err)
	}
	pruning, stopPruning := context.WithCancel(ctx)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.prune(pruning)
	}()
	err = b.stayConnected(ctx)
	stopPruning()
	_ = b.client.Close()
	b.queues.wait()
	b.wg.Wait()
	return err
}

// prune forgets long-expired questions now and hourly, until ctx ends.
func (b *Bot) prune(ctx context.Context) {
	for {
		if err := b.book.Prune(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("discord: could not forget old approvals", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}

// stayConnected waits for the end, reconnecting when the gateway drops: at once, then
// backing off up to a minute while it keeps failing.
func (b *Bot) stayConnected(ctx context.Context) error {
	wait := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-b.fatal:
			return err
		case <-b.down:
		}
		for {
			if ctx.Err() != nil {
				return nil
			}
			err := b.client.Open()
			if err == nil || errors.Is(err, discordgo.ErrWSAlreadyOpen) {
				wait = 0
				break
			}
			if err = b.apiErr(err); errors.Is(err, ErrUnauthorized) {
				return err
			}
			b.log.Warn("discord: reconnecting to the gateway failed", "error", err.Error(), "retry_in", wait.String())
			wait = min(max(2*wait, time.Second), time.Minute)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
		}
	}
}

// apiErr turns the client's error into one line; a refused token (a REST 401, or the
// gateway closing with 4004) is ErrUnauthorized.
func (b *Bot) apiErr(err error) error {
	if refused(err) {
		return ErrUnauthorized
	}
	return fmt.Errorf("discord: %w", err)
}

func refused(err error) bool {
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == 401 {
		return true
	}
	var ce *websocket.CloseError
	return errors.Is(err, discordgo.ErrUnauthorized) || errors.As(err, &ce) && ce.Code == 4004
}

// signal puts v on a buffered channel of one unless one is waiting already.
func (b *Bot) signal(c chan struct{}, v struct{}) {
	select {
	case c <- v:
	default:
	}
}

// sendFailed logs a failed send; a refused token stops Run.
func (b *Bot) sendFailed(channel string, err error) {
	if refused(err) {
		select {
		case b.fatal <- ErrUnauthorized:
		default:
		}
		return
	}
	if !errors.Is(err, context.Canceled) {
		b.log.Warn("discord: sending failed", "channel", channel, "error", err.Error())
	}
}

// safely runs one event's handling; a panic is logged and answered with say, and the
// event is not handled again.
func (b *Bot) safely(channel string, say func(string), f func()) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("discord: handling an event failed", "channel", channel, "panic", fmt.Sprint(r))
			if say != nil {
				say("Something went wrong handling that; it was not done. Try again, or rephrase it.")
			}
		}
	}()
	f()
}

// who is the person behind an event in a guild (Member) or a DM (User).
func who(m *discordgo.Member, u *discordgo.User) *discordgo.User {
	if m != nil && m.User != nil {
		return m.User
	}
	return u
}

// allowed reports whether user may talk to the bot at all in channel of guild.
func (b *Bot) allowed(guild, channel, user string) bool {
	if b.owners[user] {
		return true
	}
	if len(b.guilds) > 0 && (guild == "" || !b.guilds[guild]) {
		return false
	}
	if len(b.channels) > 0 && !b.channels[channel] {
		return false
	}
	return len(b.users) == 0 || b.users[user]
}

// owner reports whether user may move value.
func (b *Bot) owner(user string) bool { return b.owners[user] }

// session is the conversation of a person in a channel: the channel's own for owners; a
// guest's own beside it for anyone else, so that another member's words never become the
// owner's side of the conversation.
func session(channel, user string, owner bool) string {
	if owner {
		return "discord:" + channel
	}
	return "discord:" + channel + ":guest:" + user
}

// turnContext carries what a tool call made for this channel needs: where to ask an
// approval.
func (b *Bot) turnContext(ctx context.Context, channel string) context.Context {
	return tools.WithApprover(withChannel(ctx, channel), b.ap)
}

// maxQueued bounds what waits in one channel: a flood from one channel costs that channel
// its excess, not the bot its memory.
const maxQueued = 64

// queues runs each channel's events one at a time, in order, each channel on its own
// goroutine while it has work.
type queues struct {
	mu    sync.Mutex
	chans map[string][]func()
	wg    sync.WaitGroup
}

// push queues f for channel; false: the channel's queue is full and f dropped.
func (q *queues) push(channel string, f func()) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.chans == nil {
		q.chans = map[string][]func(){}
	}
	pending, running := q.chans[channel]
	if len(pending) >= maxQueued {
		return false
	}
	q.chans[channel] = append(pending, f)
	if !running {
		q.wg.Add(1)
		go q.drain(channel)
	}
	return true
}

func (q *queues) drain(channel string) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		pending := q.chans[channel]
		if len(pending) == 0 {
			delete(q.chans, channel)
			q.mu.Unlock()
			return
		}
		f := pending[0]
		q.chans[channel] = pending[1:]
		q.mu.Unlock()
		f()
	}
}

func (q *queues) wait() { q.wg.Wait() }
