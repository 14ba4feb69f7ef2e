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
	// Offsets keeps the update offset across restarts
	// (rt.Store().BotState()), so a restart neither answers an update again
	// nor skips one; nil: not kept.
	Offsets OffsetStore
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
	opts   []tg.Option
	id     string // the token's numeric id, the offset's key
	owners map[int64]bool
	chats  map[int64]bool
	users  map[int64]bool
	guests *agent.Agent // the agent non-owners talk to: read-only tools only
	ap     *Approver

	me     *models.User
	sch    *sched.Scheduler // every message and edit, within the flood limits
	fatal  chan error       // a token refused while polling
	queues queues
	seen   *offsets       // nil: the offset is not kept
	wg     sync.WaitGroup // button presses being handled
	flood  *flood
	prices samples // for /chart
}

// New builds a bot over rt. It does not reach the Bot API; Run does.
func New(rt *mandate.Runtime, cfg Config) (*Bot, error) {
	if rt == nil {
		return nil, errors.New("telegram: no runtime")
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
	b := &Bot{rt: rt, cfg: cfg, log: cfg.Logger, owners: set(cfg.Owners), chats: set(cfg.AllowedChats),
		users: set(cfg.AllowedUsers), fatal: make(chan error, 1), ap: cfg.Approver}
	if b.log == nil {
		b.log = slog.Default()
	}
	b.flood = newFlood(cfg.UserRate)
	if b.ap == nil {
		b.ap = NewApprover()
	}
	model, _ := rt.Model()
	b.guests = agent.New(model, readOnly(rt.Tools()),
		agent.WithMemory(mandate.ChatMemory(rt.Store().Chats())),
		agent.WithSystemPrompt(agent.DefaultSystemPrompt+"\n"+guestPrompt),
		agent.WithLogger(b.log))
	if cfg.Offsets != nil {
		id, err := botID(cfg.Token)
		if err != nil {
			return nil, err
		}
		b.id = id
	}
	opts := []tg.Option{
		tg.WithSkipGetMe(),
		tg.WithDefaultHandler(b.track),
		// Updates begin in the order polled (track only queues them), so
		// the stored offset never passes one not yet handled.
		tg.WithNotAsyncHandlers(),
		tg.WithErrorsHandler(b.apiError),
		tg.WithAllowedUpdates(tg.AllowedUpdates{"message", "edited_message", "callback_query"}),
	}
	if cfg.APIURL != "" {
		opts = append(opts, tg.WithServerURL(strings.TrimRight(cfg.APIURL, "/")))
	}
	api, err := tg.New(cfg.Token, opts...)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	b.api, b.opts = api, opts
	return b, nil
}

// guestPrompt tells the model who it is talking to when that is not the
// owner.
const guestPrompt = `The person writing now is not the wallet's owner. You have only read-only tools (prices, quotes, pools, balances). If they ask to move value, say plainly that only the owner can do that.`

// Run long-polls the Bot API and answers until ctx ends (nil then) or the
// token is refused (ErrUnauthorized).
func (b *Bot) Run(ctx context.Context) error {
	if err := b.resume(ctx); err != nil {
		return err
	}
	me, err := b.api.GetMe(ctx)
	if err != nil {
		return b.apiErr(err)
	}
	b.me = me
	b.sch = sched.New(sched.TelegramLimits)
	defer func() {
		// A send in flight gets a moment to finish; nothing waits longer.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = b.sch.Close(cctx)
	}()
	b.ap.bind(b)
	defer b.ap.unbind(b)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		b.api.Start(runCtx)
	}()
	var ferr error
	select {
	case <-ctx.Done():
	case ferr = <-b.fatal:
		cancel()
	}
	<-stopped
	b.queues.wait()
	b.wg.Wait()
	return ferr
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

// handle receives every update: button presses at once (a turn may be
// waiting for one), messages in order per chat.
func (b *Bot) handle(ctx context.Context, _ *tg.Bot, u *models.Update) {
	switch {
	case u.CallbackQuery != nil:
		b.safely(ctx, 0, func() { b.ap.press(ctx, b, u.CallbackQuery) })
	case u.Message != nil:
		m := u.Message
		if !b.paced(ctx, m) {
			return
		}
		queued := b.queues.push(ctx, m.Chat.ID, func(ctx context.Context) {
			b.safely(ctx, m.Chat.ID, func() { b.onMessage(ctx, m) })
		})
		if !queued {
			b.log.Warn("telegram: a chat sent more than the bot can queue; dropped a message", "chat", m.Chat.ID)
		}
	case u.EditedMessage != nil:
		m := u.EditedMessage
		if b.paced(ctx, m) {
			b.queues.push(ctx, m.Chat.ID, func(ctx context.Context) {
				b.safely(ctx, m.Chat.ID, func() { b.onEdit(ctx, m) })
			})
		}
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

// readOnly is the registry of reg's read-only tools.
func readOnly(reg *tools.Registry) *tools.Registry {
	out := &tools.Registry{}
	for _, t := range reg.List() {
		if tools.TraitsOf(t).ReadOnly {
			out.Add(t)
		}
	}
	return out
}

func set(ids []int64) map[int64]bool {
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
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

// maxQueued bounds the messages waiting in one chat: a flood from one chat
// costs that chat its excess, not the bot its memory.
const maxQueued = 64

// queues runs each chat's messages one at a time, in order, each chat on
// its own goroutine while it has work.
type queues struct {
	mu    sync.Mutex
	chats map[int64][]func(context.Context)
	wg    sync.WaitGroup
}

// push queues f for chat; false: the chat's queue is full and f dropped.
func (q *queues) push(ctx context.Context, chat int64, f func(context.Context)) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.chats == nil {
		q.chats = map[int64][]func(context.Context){}
	}
	pending, running := q.chats[chat]
	if len(pending) >= maxQueued {
		return false
	}
	q.chats[chat] = append(pending, ticketOf(ctx).wrap(f))
	if !running {
		q.wg.Add(1)
		go q.drain(ctx, chat)
	}
	return true
}

func (q *queues) drain(ctx context.Context, chat int64) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		pending := q.chats[chat]
		if len(pending) == 0 {
			delete(q.chats, chat)
			q.mu.Unlock()
			return
		}
		f := pending[0]
		q.chats[chat] = pending[1:]
		q.mu.Unlock()
		f(ctx)
	}
}

// wait waits for the messages being handled.
func (q *queues) wait() { q.wg.Wait() }
