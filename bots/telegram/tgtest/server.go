// Package tgtest is a local Telegram Bot API server for tests. It speaks the documented HTTP API
// (https://core.telegram.org/bots/api) closely enough that real client libraries run against it
// unchanged, and it enforces what a bot must get right before it meets the real service: the
// token, the flood limits (429 with retry_after), MarkdownV2 syntax, message length, update
// confirmation by offset, the webhook/getUpdates conflict and the webhook secret header.
//
// Tests play the people in the chats (SendText, PressButton, EditText, SendPhoto, SendSticker)
// and read back what the bot did (Sent, WaitSent, Stats).
package tgtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	botID       = 123456
	botUsername = "mandate_test_bot"
)

// Option configures a Server.
type Option func(*Server)

// WithLimits replaces the default Telegram flood limits.
func WithLimits(l Limits) Option { return func(s *Server) { s.limits = newLimiter(l) } }

// WithFaults makes chosen methods answer 5xx or garbage, to test a bot against a failing API.
func WithFaults(f ...Fault) Option { return func(s *Server) { s.faults = append(s.faults, f...) } }

// WithWaitTimeout bounds WaitSent (default 10s).
func WithWaitTimeout(d time.Duration) Option { return func(s *Server) { s.waitTimeout = d } }

// WithPrivacyMode turns on Telegram's default group privacy: in groups the bot receives only
// commands (not those addressed to another bot), mentions of its username and replies to its own
// messages. Off by default, as for a bot that is a group admin.
func WithPrivacyMode() Option { return func(s *Server) { s.privacy = true } }

// WithBotUsername sets the username getMe reports (default "mandate_test_bot").
func WithBotUsername(name string) Option { return func(s *Server) { s.username = name } }

// Fault is a failure injected on a method. Times is how many calls fail (0: all of them).
type Fault struct {
	Method  string // case-insensitive Bot API method name, e.g. "sendMessage"
	Status  int    // HTTP status to answer, e.g. 502; ignored when Garbage is set
	Garbage bool   // answer 200 with a body that is not JSON
	Times   int
}

// Server is a running simulated Bot API.
type Server struct {
	srv         *httptest.Server
	token       string
	username    string
	waitTimeout time.Duration
	ctx         context.Context
	cancel      context.CancelFunc
	wg          sync.WaitGroup

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever state changes
	revoked  bool
	privacy  bool
	limits   *limiter
	faults   []Fault
	stats    Stats
	chats    map[int64]*chatState
	files    map[string][]byte
	nextFile int
	nextCBQ  int64
	queries  map[string]bool // callback query id -> answered
	answers  []CallbackAnswer
	commands []wBotCommand

	updates    []queued // unconfirmed updates, oldest first
	nextUpdate int64
	allowed    []string
	poller     chan struct{} // closed to terminate the current long poll with 409
	polls      int
	hook       *webhook
}

type chatState struct {
	chat      Chat
	firstName string // a private chat shows the person's name
	username  string
	nextMsg   int64
	msgs      map[int64]*stored
	sent      []Message
	actions   []string
}

// stored is a message as Telegram keeps it, for edits, replies and callback queries.
type stored struct {
	msg   wMessage
	byBot bool
}

// New starts a server on a loopback port; it stops when the test ends.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		token:       fmt.Sprintf("%d:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", botID),
		username:    botUsername,
		waitTimeout: 10 * time.Second,
		ctx:         ctx,
		cancel:      cancel,
		changed:     make(chan struct{}),
		limits:      newLimiter(DefaultLimits()),
		chats:       map[int64]*chatState{},
		files:       map[string][]byte{},
		queries:     map[string]bool{},
		nextUpdate:  100000001,
		stats:       Stats{Requests: map[string]int{}, Succeeded: map[string]int{}},
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
	s.srv.CloseClientConnections()
	s.srv.Close()
	s.wg.Wait()
}

// URL is the base URL to give the client (bot.WithServerURL).
func (s *Server) URL() string { return s.srv.URL }

// Token is the only token the server accepts.
func (s *Server) Token() string { return s.token }

// Revoke makes the token invalid, as /revoke in BotFather does: every later call answers 401.
func (s *Server) Revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = true
	s.notifyLocked()
}

// InjectFault adds a fault while the server runs.
func (s *Server) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
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
	st.Succeeded = make(map[string]int, len(s.stats.Succeeded))
	for k, v := range s.stats.Succeeded {
		st.Succeeded[k] = v
	}
	return st
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// apiError is a Bot API error answer.
type apiError struct {
	code       int
	desc       string
	retryAfter int
}

func (e *apiError) Error() string { return e.desc }

func badRequest(format string, a ...any) *apiError {
	return &apiError{code: 400, desc: "Bad Request: " + fmt.Sprintf(format, a...)}
}

type handler func(s *Server, r *http.Request, p params) (any, *apiError)

var methods = map[string]handler{
	"getme":                  (*Server).getMe,
	"getupdates":             (*Server).getUpdates,
	"setwebhook":             (*Server).setWebhook,
	"deletewebhook":          (*Server).deleteWebhook,
	"getwebhookinfo":         (*Server).getWebhookInfo,
	"sendmessage":            (*Server).sendMessage,
	"editmessagetext":        (*Server).editMessageText,
	"editmessagereplymarkup": (*Server).editMessageReplyMarkup,
	"sendphoto":              (*Server).sendPhoto,
	"deletemessage":          (*Server).deleteMessage,
	"sendchataction":         (*Server).sendChatAction,
	"answercallbackquery":    (*Server).answerCallbackQuery,
	"setmycommands":          (*Server).setMyCommands,
	"getmycommands":          (*Server).getMyCommands,
	"deletemycommands":       (*Server).deleteMyCommands,
	"getchat":                (*Server).getChat,
	"getfile":                (*Server).notSupported,
	"sendsticker":            (*Server).notSupported,
	"senddocument":           (*Server).notSupported,
	"sendmediagroup":         (*Server).notSupported,
	"editmessagecaption":     (*Server).notSupported,
}

func (s *Server) notSupported(*http.Request, params) (any, *apiError) {
	return nil, badRequest("method not supported yet by tgtest")
}

// serve routes /bot<token>/<method> as api.telegram.org does.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 {
		writeError(w, &apiError{code: 404, desc: "Not Found"})
		return
	}
	method = strings.TrimPrefix(method, "test/")
	s.mu.Lock()
	s.stats.Requests[method]++
	if token != s.token || s.revoked {
		s.stats.Unauthorized++
		s.mu.Unlock()
		writeError(w, &apiError{code: 401, desc: "Unauthorized"})
		return
	}
	fault := s.takeFaultLocked(method)
	s.mu.Unlock()
	h, known := methods[strings.ToLower(method)]
	if !known {
		writeError(w, &apiError{code: 404, desc: "Not Found: method not found"})
		return
	}
	if fault != nil {
		writeFault(w, fault)
		return
	}
	p, err := parseParams(r)
	// Reading the body to its end lets net/http notice a client that hangs up during a long poll.
	_, _ = io.Copy(io.Discard, r.Body)
	if err != nil {
		writeError(w, badRequest("%v", err))
		return
	}
	result, aerr := h(s, r, p)
	if aerr != nil {
		if aerr.code == 429 {
			s.mu.Lock()
			s.stats.TooManyRequests++
			s.mu.Unlock()
		}
		writeError(w, aerr)
		return
	}
	s.mu.Lock()
	s.stats.Succeeded[method]++
	s.notifyLocked()
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"ok": true, "result": result})
}

func (s *Server) takeFaultLocked(method string) *Fault {
	for i := range s.faults {
		f := &s.faults[i]
		if !strings.EqualFold(f.Method, method) {
			continue
		}
		taken := *f
		if f.Times > 0 {
			if f.Times == 1 {
				s.faults = append(s.faults[:i], s.faults[i+1:]...)
			} else {
				f.Times--
			}
		}
		s.stats.Faults++
		return &taken
	}
	return nil
}

func writeFault(w http.ResponseWriter, f *Fault) {
	if f.Garbage {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		return
	}
	status := f.Status
	if status == 0 {
		status = 502
	}
	writeJSON(w, status, map[string]any{"ok": false, "error_code": status, "description": http.StatusText(status)})
}

func writeError(w http.ResponseWriter, e *apiError) {
	body := map[string]any{"ok": false, "error_code": e.code, "description": e.desc}
	if e.retryAfter > 0 {
		body["parameters"] = map[string]any{"retry_after": e.retryAfter}
	}
	writeJSON(w, e.code, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// params holds a request's parameters from the query string and a JSON, urlencoded or multipart
// body, as the Bot API accepts all of them. Object values stay JSON text.
type params struct {
	values map[string]string
	files  map[string][]byte
}

func parseParams(r *http.Request) (params, error) {
	p := params{values: map[string]string{}, files: map[string][]byte{}}
	for k, v := range r.URL.Query() {
		p.values[k] = v[0]
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var m map[string]json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil && err != io.EOF {
			return p, fmt.Errorf("can't parse JSON body: %v", err)
		}
		for k, raw := range m {
			var str string
			if json.Unmarshal(raw, &str) == nil {
				p.values[k] = str
			} else {
				p.values[k] = string(raw)
			}
		}
	case "multipart/form-data":
		if err := r.ParseMultipartForm(64 << 20); errors.Is(err, io.EOF) {
			return p, nil // the client sends an empty multipart body for a call without parameters
		} else if err != nil {
			return p, fmt.Errorf("can't parse multipart body: %v", err)
		}
		for k, v := range r.MultipartForm.Value {
			p.values[k] = v[0]
		}
		for k, fhs := range r.MultipartForm.File {
			f, err := fhs[0].Open()
			if err != nil {
				return p, err
			}
			b, err := io.ReadAll(f)
			f.Close()
			if err != nil {
				return p, err
			}
			p.files[k] = b
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return p, fmt.Errorf("can't parse form body: %v", err)
		}
		for k, v := range r.PostForm {
			p.values[k] = v[0]
		}
	}
	return p, nil
}

func (p params) str(name string) string { return p.values[name] }

func (p params) has(name string) bool { _, ok := p.values[name]; return ok }

func (p params) int(name string) (int64, *apiError) {
	v, ok := p.values[name]
	if !ok || v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, badRequest("invalid %s specified", name)
	}
	return n, nil
}

func (p params) bool(name string) bool {
	b, _ := strconv.ParseBool(p.values[name])
	return b
}

func (p params) json(name string, dest any) *apiError {
	v, ok := p.values[name]
	if !ok || v == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(v), dest); err != nil {
		return badRequest("can't parse %s JSON object", name)
	}
	return nil
}
