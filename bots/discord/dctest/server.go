// Package dctest is a local Discord API server for tests: the REST endpoints a bot uses
// under /api/v9 and /api/v10 (users/@me, gateway, application commands, channel messages, interaction callbacks and
// their webhooks) and the gateway websocket (HELLO, IDENTIFY → READY, heartbeats, and
// dispatched MESSAGE_CREATE and INTERACTION_CREATE events), so that discordgo runs against
// it unchanged: give the client an HTTP transport that sends Discord's requests to URL()
// (the gateway's address then comes from GET /gateway).
//
// It enforces what a bot must get right before it meets the real service: the token (401,
// and gateway close code 4004 once revoked), rate limits (429 with retry_after and the
// X-RateLimit headers), message and embed sizes, one answer per interaction. Tests play
// the people (SendText, RunCommand, PressButton) and read back what the bot did (Sent,
// WaitSent, WaitFor).
package dctest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mandatehq/mandate/bots/internal/waitfor"
)

// The bot's identity; its application has the same id, as modern Discord bots do.
const (
	botID   = "1100000000000000001"
	botName = "mandate_test_bot"
)

// Option configures a Server.
type Option func(*Server)

// WithLimits replaces the default rate limits.
func WithLimits(l Limits) Option { return func(s *Server) { s.limits = newLimiter(l) } }

// WithWaitTimeout bounds WaitFor and WaitSent (default 30s).
func WithWaitTimeout(d time.Duration) Option { return func(s *Server) { s.waitTimeout = d } }

// Stats counts what the server saw.
type Stats struct {
	Requests    map[string]int // per route, e.g. "POST /channels/{id}/messages"
	RateLimited int            // 429s answered
	Identified  int            // successful IDENTIFYs
	Heartbeats  int
}

// Server is a running simulated Discord API.
type Server struct {
	srv         *httptest.Server
	token       string
	waitTimeout time.Duration
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup

	mu           sync.Mutex
	changed      chan struct{} // closed and replaced whenever state changes
	revoked      bool
	limits       *limiter
	stats        Stats
	next         int64 // the last snowflake handed out
	channels     map[string]*channelState
	dms          map[string]string // user id → DM channel id
	interactions map[string]*interaction
	byToken      map[string]*interaction
	commands     []json.RawMessage
	conns        map[*conn]bool
	backlog      []event // dispatched while no session was ready
}

type channelState struct {
	ch   Channel
	msgs map[string]*wMessage
	sent []Message
	typ  int // typing indicators
}

// interaction is one slash command or button press the server dispatched.
type interaction struct {
	id, token string
	channel   string
	message   string // the button's message, for components
	answered  bool
	original  string // the message that answers it
}

// New starts a server on a loopback port; it stops when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		token:        "MTEwMDAwMDAwMDAwMDAwMDAwMQ.dctest.c2VjcmV0LXRva2VuLWZvci10ZXN0cw",
		waitTimeout:  30 * time.Second,
		ctx:          ctx,
		cancel:       cancel,
		changed:      make(chan struct{}),
		limits:       newLimiter(DefaultLimits()),
		stats:        Stats{Requests: map[string]int{}},
		next:         1200000000000000000,
		channels:     map[string]*channelState{},
		dms:          map[string]string{},
		interactions: map[string]*interaction{},
		byToken:      map[string]*interaction{},
		conns:        map[*conn]bool{},
	}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.close)
	return s
}

func (s *Server) close() {
	s.cancel()
	s.mu.Lock()
	for c := range s.conns {
		c.ws.Close()
	}
	s.mu.Unlock()
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.wg.Wait()
}

// URL is the server's base URL: requests to https://discord.com go here instead.
func (s *Server) URL() string { return s.srv.URL }

// Token is the only token the server accepts (sent as "Bot <token>").
func (s *Server) Token() string { return s.token }

// Bot is the bot's own user.
func (s *Server) Bot() User { return User{ID: botID, Username: botName} }

// Mention is how a person mentions the bot in a message.
func (s *Server) Mention() string { return "<@" + botID + ">" }

// Revoke makes the token invalid, as resetting it in the developer portal does: every later
// REST call answers 401, and the gateway closes its connections with 4004.
func (s *Server) Revoke() {
	s.mu.Lock()
	s.revoked = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.closeWith(closeAuthFailed, "Authentication failed.")
	}
}

// Drop closes every gateway connection with close code 4000 (unknown error), as Discord
// does when it restarts a gateway node: a bot should reconnect (or resume) and carry on.
// Events dispatched until it is back are delivered when it is.
func (s *Server) Drop() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.mu.Lock()
		c.authed = false
		c.mu.Unlock()
		c.closeWith(closeUnknown, "Unknown error.")
	}
}

// Stats is a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = make(map[string]int, len(s.stats.Requests))
	for k, v := range s.stats.Requests {
		st.Requests[k] = v
	}
	return st
}

// Commands are the names of the application commands the bot registered last.
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, raw := range s.commands {
		var c struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(raw, &c) == nil {
			out = append(out, c.Name)
		}
	}
	return out
}

// Sent is what the bot did in channel, in order.
func (s *Server) Sent(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.channels[channel]
	if cs == nil {
		return nil
	}
	return append([]Message(nil), cs.sent...)
}

// Typing is how many typing indicators the bot sent to channel.
func (s *Server) Typing(channel string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.channels[channel]; cs != nil {
		return cs.typ
	}
	return 0
}

// Connected is how many gateway connections have identified and are open.
func (s *Server) Connected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		if c.ready() {
			n++
		}
	}
	return n
}

// WaitFor waits until cond holds (checked on every change to the server and every few
// milliseconds, for conditions outside it), failing the test with what was asked for if
// it does not within the wait timeout.
func (s *Server) WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitfor.Cond(t, "dctest", what, s.waitTimeout, s.nextChange, cond)
}

// nextChange is the channel closed at the server's next change.
func (s *Server) nextChange() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// WaitSent waits until the bot has done at least n things in channel and returns them.
func (s *Server) WaitSent(t testing.TB, channel string, n int) []Message {
	t.Helper()
	var got []Message
	s.WaitFor(t, fmt.Sprintf("%d messages from the bot in channel %s", n, channel), func() bool {
		got = s.Sent(channel)
		return len(got) >= n
	})
	return got
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// snowflakeLocked hands out the next id.
func (s *Server) snowflakeLocked() string {
	s.next++
	return strconv.FormatInt(s.next, 10)
}

// NewChannel is a new channel in guild (empty: a DM channel with nobody in particular).
func (s *Server) NewChannel(guild string) Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := Channel{ID: s.snowflakeLocked(), GuildID: guild}
	s.channels[ch.ID] = &channelState{ch: ch, msgs: map[string]*wMessage{}}
	return ch
}

// DM is the direct-message channel between u and the bot, the one the bot gets from
// POST /users/@me/channels.
func (s *Server) DM(u User) Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dmLocked(u.ID)
}

func (s *Server) dmLocked(user string) Channel {
	if id, ok := s.dms[user]; ok {
		return s.channels[id].ch
	}
	ch := Channel{ID: s.snowflakeLocked()}
	s.channels[ch.ID] = &channelState{ch: ch, msgs: map[string]*wMessage{}}
	s.dms[user] = ch.ID
	return ch
}

func (s *Server) channelLocked(ch Channel) *channelState {
	cs := s.channels[ch.ID]
	if cs == nil {
		cs = &channelState{ch: ch, msgs: map[string]*wMessage{}}
		s.channels[ch.ID] = cs
	}
	return cs
}

// recordLocked notes one thing the bot did.
func (s *Server) recordLocked(cs *channelState, m Message) {
	m.ChannelID = cs.ch.ID
	cs.sent = append(cs.sent, m)
	s.notifyLocked()
}

// The gateway's close codes the server uses.
const (
	closeUnknown    = 4000
	closeAuthFailed = 4004
	closeNotAuthed  = 4003
	closeDecode     = 4002
)

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// serve routes a request: the gateway's websocket, or the REST API under /api/v10.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/gateway") {
		s.gateway(w, r)
		return
	}
	path, ok := apiPath(r.URL.Path)
	if !ok {
		writeErr(w, &apiError{status: 404, code: 0, message: "404: Not Found"})
		return
	}
	res, err := s.rest(r, path)
	if err != nil {
		writeErr(w, err)
		return
	}
	for k, v := range res.header {
		w.Header().Set(k, v)
	}
	if res.body == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	raw, _ := json.Marshal(res.body)
	w.Write(raw)
}

// apiPath is the REST path under /api/v9 or /api/v10 (both served by Discord; discordgo
// v0.28 uses 9), or false.
func apiPath(p string) (string, bool) {
	for _, v := range []string{"/api/v9", "/api/v10"} {
		if rest, ok := strings.CutPrefix(p, v); ok && strings.HasPrefix(rest, "/") {
			return rest, true
		}
	}
	return "", false
}

func writeErr(w http.ResponseWriter, e *apiError) {
	for k, v := range e.header {
		w.Header().Set(k, v)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	w.Write(e.json())
}
