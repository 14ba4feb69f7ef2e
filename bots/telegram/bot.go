// Package telegram is Mandate's Telegram front end: commands and free text
// over a runtime, answers streamed into one edited message, and the
// policy's "ask" decisions as Approve / Reject buttons only an owner can
// press.
//
// Who may do what is decided from the tools' traits, not from a list of
// names: an owner may call every tool (the policy still decides), anyone
// else only read-only ones, and the agent a non-owner talks to holds no
// other tool at all, so no wording of a request can reach one that moves
// value.
//
// Messages are sent as plain text (no parse_mode): nothing a token name or
// another member wrote can become a link, a mention or broken markup.
//
// Every update is stored in the runtime's database before the Bot API is
// told it arrived, and handled from there (see inbox.go): a restart loses
// and repeats nothing, and replicas in webhook mode sharing one PostgreSQL
// database answer each update once, each chat in order.
package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/bots/access"
	"github.com/mandatehq/mandate/bots/approval"
	"github.com/mandatehq/mandate/bots/charts"
	"github.com/mandatehq/mandate/bots/flood"
	"github.com/mandatehq/mandate/bots/sched"
	"github.com/mandatehq/mandate/tools"
)

// Config is what a Bot needs besides its runtime.
type Config struct {
	Token  string // the bot's token from BotFather
	APIURL string // the Bot API's base URL; empty: Telegram's
	// Owners are the user ids who may move value (within the policy).
	Owners []int64
	// AllowedChats and AllowedUsers limit who may talk to the bot at all;
	// empty: anyone may (owners always may). Only owners move value either
	// way.
	AllowedChats []int64
	AllowedUsers []int64
	// ApprovalTimeout is how long an Approve / Reject keyboard waits for
	// an owner (default DefaultApprovalTimeout).
	ApprovalTimeout time.Duration
	// Approver is the one given to the runtime as mandate.Config.Approver
	// (NewApprover), so that asks from outside a chat (standing orders)
	// reach the owners too; nil: the bot makes its own for its chats.
	Approver *Approver
	// EditInterval spaces the edits of a streamed answer (default one a
	// second, the Bot API's per-chat pace).
	EditInterval time.Duration
	// UserRate is how many messages one user may send the bot a minute
	// (default DefaultUserRate); past it they are told once to slow down.
	UserRate int
	// Limits are the send rates the bot keeps; nil: sched.TelegramLimits, the Bot API's
	// documented ones. A local server that enforces none (a benchmark of the bot's own
	// path) takes &sched.Limits{}; a bot whose limits Telegram raised takes those.
	Limits *sched.Limits
	// Webhook, when its URL is set, makes Run receive updates by webhook
	// instead of long polling: what several replicas behind a load
	// balancer need (see Webhook).
	Webhook Webhook
	Logger  *slog.Logger
}

// DefaultApprovalTimeout is how long an approval waits unless configured.
const DefaultApprovalTimeout = 5 * time.Minute

// ErrUnauthorized is the Bot API refusing the token: it is wrong or was
// revoked. Run stops with it rather than retrying forever.
var ErrUnauthorized = errors.New("telegram: the Bot API refused the bot token (401 Unauthorized): it is wrong or was revoked; get a new one from @BotFather")

// Bot is a Telegram front end over a runtime.
type Bot struct {
	rt     *mandate.Runtime
	cfg    Config
	log    *slog.Logger
	api    *tg.Bot
	id     string // the token's numeric id, the offset's key
	owners map[int64]bool
	chats  map[int64]bool
	users  map[int64]bool
	guests *agent.Agent // the agent non-owners talk to: read-only tools only
	ap     *Approver
	book   *approval.Book[sent] // the approvals, in the database

	me     *models.User
	sch    *sched.Scheduler // every message and edit, within the flood limits
	fatal  chan error       // a token refused while polling
	inbox  *inbox
	wg     sync.WaitGroup // button presses and warnings being handled
	flood  *flood.Limiter[int64]
	prices charts.Samples // for /chart

	runMu  sync.Mutex
	runCtx context.Context // while Run runs: the context updates are handled in
}

// New builds a bot over rt. It does not reach the Bot API; Run does.
func New(rt *mandate.Runtime, cfg Config) (*Bot, error) {
	if rt == nil {
		return nil, errors.New("telegram: no runtime")
	}
	if rt.Store() == nil {
		return nil, errors.New("telegram: the runtime has no database; the bot keeps its updates and approvals there")
	}
	if strings.TrimSpace(cfg.Token) == "" {
		return nil, errors.New("telegram: no bot token; get one from @BotFather")
	}
	if cfg.ApprovalTimeout <= 0 {
		cfg.ApprovalTimeout = DefaultApprovalTimeout
	}
	if cfg.EditInterval <= 0 {
		cfg.EditInterval = time.Second
	}
	b := &Bot{rt: rt, cfg: cfg, log: cfg.Logger, owners: access.Set(cfg.Owners), chats: access.Set(cfg.AllowedChats),
		users: access.Set(cfg.AllowedUsers), fatal: make(chan error, 1), ap: cfg.Approver}
	if b.log == nil {
		b.log = slog.Default()
	}
	var err error
	b.flood = flood.New[int64](cfg.UserRate)
	if b.ap == nil {
		b.ap = NewApprover()
	}
	model, _ := rt.Model()
	b.guests = agent.New(model, access.ReadOnly(rt.Tools()),
		agent.WithMemory(mandate.ChatMemory(rt.Store().Chats())),
		agent.WithSystemPrompt(agent.DefaultSystemPrompt+"\n"+access.GuestPrompt),
		agent.WithLogger(b.log))
	if b.id, err = botID(cfg.Token); err != nil {
		return nil, err
	}
	b.book = approval.NewBook(rt.Store().BotState(), b.id, b.log, b.settled)
	if b.inbox, err = newInbox(b, rt.Store().BotState()); err != nil {
		return nil, err
	}
	if err := cfg.Webhook.Check(); err != nil {
		return nil, err
	}
	// The client sends; it does not receive (see poll.go and Handler).
	opts := []tg.Option{tg.WithSkipGetMe(), tg.WithErrorsHandler(b.apiError)}
	if cfg.APIURL != "" {
		opts = append(opts, tg.WithServerURL(strings.TrimRight(cfg.APIURL, "/")))
	}
	api, err := tg.New(cfg.Token, opts...)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	b.api = api
	return b, nil
}

// Run receives updates (long polling, or the webhook when configured) and
// answers until ctx ends (nil then) or the token is refused
// (ErrUnauthorized).
func (b *Bot) Run(ctx context.Context) error {
	me, err := b.api.GetMe(ctx)
	if err != nil {
		return b.apiErr(err)
	}
	b.me = me
	limits := sched.TelegramLimits
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
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	b.setRunning(runCtx)
	defer b.setRunning(nil)
	receiving := make(chan error, 1)
	go func() { receiving <- b.receive(runCtx) }()
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		b.inbox.sweep(runCtx)
	}()
	var ferr error
	select {
	case <-ctx.Done():
	case ferr = <-b.fatal:
	case ferr = <-receiving:
		receiving <- nil
	}
	cancel()
	if err := <-receiving; ferr == nil {
		ferr = err
	}
	<-swept
	b.inbox.wait()
	b.wg.Wait()
	return ferr
}

// receive takes updates in until ctx ends: by webhook when one is
// configured, else by long polling.
func (b *Bot) receive(ctx context.Context) error {
	if b.cfg.Webhook.URL != "" {
		return b.serveWebhook(ctx)
	}
	return b.poll(ctx)
}

func (b *Bot) setRunning(ctx context.Context) {
	b.runMu.Lock()
	b.runCtx = ctx
	b.runMu.Unlock()
}

// running is the context updates are handled in, or nil while Run does not
// run.
func (b *Bot) running() context.Context {
	b.runMu.Lock()
	defer b.runMu.Unlock()
	return b.runCtx
}

// apiErr turns the client's error into one line; a refused token is
// ErrUnauthorized.
func (b *Bot) apiErr(err error) error {
	if errors.Is(err, tg.ErrorUnauthorized) {
		return ErrUnauthorized
	}
	return fmt.Errorf("telegram: %w", err)
}

// apiError hears the client's background errors (polling); a refused
// token stops Run instead of being retried forever.
func (b *Bot) apiError(err error) {
	if errors.Is(err, tg.ErrorUnauthorized) {
		select {
		case b.fatal <- ErrUnauthorized:
		default:
		}
		return
	}
	b.log.Warn("telegram: Bot API error", "error", err.Error())
}

// dispatch handles one stored message or edit; retried says an earlier
// handling of it was cut short (see inbox).
func (b *Bot) dispatch(ctx context.Context, u *models.Update, retried bool) {
	switch {
	case u.Message != nil:
		m := u.Message
		b.safely(ctx, m.Chat.ID, func() {
			if retried && !strings.HasPrefix(strings.TrimSpace(m.Text), "/") {
				if _, addressed := b.addressed(m); addressed && b.allowed(m) {
					b.say(ctx, m.Chat.ID, interrupted)
				}
				return
			}
			b.onMessage(ctx, m)
		})
	case u.EditedMessage != nil:
		m := u.EditedMessage
		b.safely(ctx, m.Chat.ID, func() { b.onEdit(ctx, m) })
	}
}

// safely runs one update's handling; a panic is logged and answered, and
// the update is not handled again.
func (b *Bot) safely(ctx context.Context, chat int64, f func()) {
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("telegram: handling an update failed", "chat", chat, "panic", fmt.Sprint(r))
			if chat != 0 {
				b.say(ctx, chat, "Something went wrong handling that message; it was not done. Try again, or rephrase it.")
			}
		}
	}()
	f()
}

// onMessage answers one message: a command, or free text for the agent.
func (b *Bot) onMessage(ctx context.Context, m *models.Message) {
	if m.From == nil || m.From.IsBot {
		return
	}
	if !b.allowed(m) {
		if m.Chat.Type == models.ChatTypePrivate {
			b.say(ctx, m.Chat.ID, "This bot is not open to you. Ask its owner to add you.")
		}
		return
	}
	text, addressed := b.addressed(m)
	if !addressed {
		return
	}
	if strings.TrimSpace(text) == "" {
		if m.Text == "" && m.Chat.Type == models.ChatTypePrivate {
			b.say(ctx, m.Chat.ID, "I read text only: send a command (/help) or a question.")
		}
		return
	}
	if strings.HasPrefix(text, "/") {
		b.command(ctx, m, text)
		return
	}
	b.converse(ctx, m, text)
}

// allowed reports whether the sender may talk to the bot at all.
func (b *Bot) allowed(m *models.Message) bool {
	if b.owners[m.From.ID] {
		return true
	}
	if len(b.chats) > 0 && !b.chats[m.Chat.ID] {
		return false
	}
	if len(b.users) > 0 && !b.users[m.From.ID] {
		return false
	}
	return true
}

// addressed returns the message's text without the bot's mention, and
// whether it is for the bot: always in a private chat; in a group only a
// command, a mention of the bot or a reply to it.
func (b *Bot) addressed(m *models.Message) (string, bool) {
	text := strings.TrimSpace(m.Text)
	if m.Chat.Type == models.ChatTypePrivate {
		return text, true
	}
	name := ""
	if b.me != nil && b.me.Username != "" {
		name = "@" + b.me.Username
	}
	if strings.HasPrefix(text, "/") {
		cmd, _, _ := strings.Cut(text, " ")
		if at := strings.IndexByte(cmd, '@'); at >= 0 && !strings.EqualFold(cmd[at:], name) {
			return "", false // a command for another bot
		}
		return text, true
	}
	if i := mention(text, name); i >= 0 {
		return strings.TrimSpace(text[:i] + text[i+len(name):]), true
	}
	if r := m.ReplyToMessage; r != nil && r.From != nil && b.me != nil && r.From.ID == b.me.ID {
		return text, true
	}
	return "", false
}

// owner reports whether user may move value.
func (b *Bot) owner(user int64) bool { return b.owners[user] }

// session is the conversation of a message's sender in its chat: the chat's
// own for owners; a guest's own beside it for anyone else, so that another
// member's words never become the owner's side of the conversation.
func session(chat, user int64, owner bool) string {
	if owner {
		return "telegram:" + strconv.FormatInt(chat, 10)
	}
	return "telegram:" + strconv.FormatInt(chat, 10) + ":guest:" + strconv.FormatInt(user, 10)
}

// turnContext carries what a tool call made for this message needs: the
// chat to ask an approval in.
func (b *Bot) turnContext(ctx context.Context, chat int64) context.Context {
	return tools.WithApprover(withChat(ctx, chat), b.ap)
}

// say sends plain text to a chat, logging a failure.
func (b *Bot) say(ctx context.Context, chat int64, text string) *models.Message {
	var last *models.Message
	for _, part := range split(text) {
		m, err := b.sendText(ctx, chat, part, nil)
		if err != nil {
			b.sendFailed(chat, err)
			return last
		}
		last = m
	}
	return last
}

func (b *Bot) sendFailed(chat int64, err error) {
	if errors.Is(err, tg.ErrorUnauthorized) {
		b.apiError(err)
		return
	}
	if !errors.Is(err, context.Canceled) {
		b.log.Warn("telegram: sending failed", "chat", chat, "error", err.Error())
	}
}

// mention is where text mentions name ("@bot", any case; usernames are
// ASCII) as a whole word, or -1: "@bot2" is another bot.
func mention(text, name string) int {
	if name == "" {
		return -1
	}
	for i := 0; i+len(name) <= len(text); i++ {
		if text[i] != '@' || i > 0 && wordByte(text[i-1]) || !strings.EqualFold(text[i:i+len(name)], name) {
			continue
		}
		if end := i + len(name); end == len(text) || !wordByte(text[end]) {
			return i
		}
	}
	return -1
}

func wordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
