package tgtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // photos may be JPEG
	_ "image/png"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const webhookConflict = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"

type queued struct {
	id        int64
	kind      string
	chat      int64
	body      []byte // the Update as JSON
	delivered int
}

// defaultExcluded are the update types Telegram leaves out when allowed_updates is not given.
var defaultExcluded = []string{"chat_member", "message_reaction", "message_reaction_count"}

func (s *Server) chatLocked(c Chat) *chatState {
	cs := s.chats[c.ID]
	if cs == nil {
		if c.Type == "" {
			c.Type = "private"
		}
		cs = &chatState{chat: c, nextMsg: 1, msgs: map[int64]*stored{}}
		s.chats[c.ID] = cs
	}
	return cs
}

func (cs *chatState) wire() wChat {
	c := wChat{ID: cs.chat.ID, Type: cs.chat.Type, Title: cs.chat.Title}
	if c.Type == "private" {
		c.Title, c.FirstName, c.Username = "", cs.firstName, cs.username
		if c.FirstName == "" {
			c.FirstName = "User"
		}
	}
	return c
}

func userWire(u User) *wUser {
	if u.FirstName == "" {
		u.FirstName = "User"
	}
	return &wUser{ID: u.ID, FirstName: u.FirstName, Username: u.Username}
}

// enqueueLocked adds an update unless allowed_updates excludes its kind.
func (s *Server) enqueueLocked(kind string, chat int64, u wUpdate) int64 {
	u.UpdateID = s.nextUpdate
	s.nextUpdate++
	if s.allowed != nil && !slices.Contains(s.allowed, kind) ||
		s.allowed == nil && slices.Contains(defaultExcluded, kind) {
		return u.UpdateID
	}
	body, _ := json.Marshal(u)
	s.updates = append(s.updates, queued{id: u.UpdateID, kind: kind, chat: chat, body: body})
	s.stats.UpdatesQueued++
	s.notifyLocked()
	return u.UpdateID
}

// userMessageLocked stores a message a person wrote and returns it.
func (s *Server) userMessageLocked(chat Chat, from User, fill func(*wMessage)) wMessage {
	cs := s.chatLocked(chat)
	if cs.chat.Type == "private" && cs.firstName == "" {
		cs.firstName, cs.username = from.FirstName, from.Username
	}
	m := wMessage{MessageID: cs.nextMsg, From: userWire(from), Date: time.Now().Unix(), Chat: cs.wire()}
	cs.nextMsg++
	fill(&m)
	cs.msgs[m.MessageID] = &stored{msg: m}
	return m
}

// SendText delivers a text message from a person. Commands (/start, /send@bot) and @mentions get
// the entities Telegram would add.
func (s *Server) SendText(chat Chat, from User, text string) int64 {
	return s.ReplyText(chat, from, 0, text)
}

// ReplyText is SendText as a reply to message replyTo (0: not a reply). With WithPrivacyMode, a
// group message the bot would not see is stored but not delivered, and ReplyText returns 0.
func (s *Server) ReplyText(chat Chat, from User, replyTo int64, text string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	toBot := false
	m := s.userMessageLocked(chat, from, func(m *wMessage) {
		m.Text = text
		m.Entities = autoEntities(text, nil)
		if replyTo != 0 {
			if orig := s.chats[chat.ID].msgs[replyTo]; orig != nil {
				r := orig.msg
				r.ReplyToMessage = nil
				m.ReplyToMessage = &r
				toBot = orig.byBot
			}
		}
	})
	if s.privacy && m.Chat.Type != "private" && !toBot && !s.addressed(text) {
		return 0
	}
	return s.enqueueLocked("message", chat.ID, wUpdate{Message: &m})
}

// addressed reports whether privacy mode lets a group message through: a command not meant for
// another bot, or a mention of this bot.
func (s *Server) addressed(text string) bool {
	if cmd, ok := strings.CutPrefix(text, "/"); ok {
		cmd, _, _ = strings.Cut(cmd, " ")
		_, bot, named := strings.Cut(cmd, "@")
		return !named || strings.EqualFold(bot, s.username)
	}
	return strings.Contains(strings.ToLower(text), "@"+strings.ToLower(s.username))
}

// EditText delivers an edited_message update: a person changed the text of their message.
func (s *Server) EditText(chat Chat, from User, messageID int64, text string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.chatLocked(chat)
	st := cs.msgs[messageID]
	var m wMessage
	if st != nil {
		m = st.msg
	} else {
		m = wMessage{MessageID: messageID, From: userWire(from), Date: time.Now().Unix(), Chat: cs.wire()}
		st = &stored{}
		cs.msgs[messageID] = st
	}
	m.Text, m.Entities, m.EditDate = text, autoEntities(text, nil), time.Now().Unix()
	st.msg = m
	return s.enqueueLocked("edited_message", chat.ID, wUpdate{EditedMessage: &m})
}

// SendPhoto delivers a photo message (png or jpeg bytes) with an optional caption.
func (s *Server) SendPhoto(chat Chat, from User, img []byte, caption string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	sizes := s.storePhotoLocked(img)
	m := s.userMessageLocked(chat, from, func(m *wMessage) {
		m.Photo, m.Caption = sizes, caption
	})
	return s.enqueueLocked("message", chat.ID, wUpdate{Message: &m})
}

// SendSticker delivers a sticker message.
func (s *Server) SendSticker(chat Chat, from User, emoji string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := s.newFileIDLocked([]byte(emoji))
	m := s.userMessageLocked(chat, from, func(m *wMessage) {
		m.Sticker = &wSticker{FileID: id, FileUniqueID: uniqueID([]byte(emoji)), Type: "regular", Width: 512, Height: 512, Emoji: emoji}
	})
	return s.enqueueLocked("message", chat.ID, wUpdate{Message: &m})
}

// PressButton delivers a callback_query: a person pressed a button carrying data on message
// messageID. The message is sent as the chat now shows it (Telegram sends the current message).
func (s *Server) PressButton(chat Chat, from User, messageID int64, data string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := s.chatLocked(chat)
	var msg []byte
	if st := cs.msgs[messageID]; st != nil {
		msg, _ = json.Marshal(st.msg)
	} else {
		// InaccessibleMessage: date 0
		msg, _ = json.Marshal(map[string]any{"chat": cs.wire(), "message_id": messageID, "date": 0})
	}
	s.nextCBQ++
	id := strconv.FormatInt(4000000000000000000+s.nextCBQ, 10)
	s.queries[id] = false
	q := &wCallbackQuery{ID: id, From: *userWire(from), Message: msg, ChatInstance: strconv.FormatInt(-chat.ID*7919, 10), Data: data}
	return s.enqueueLocked("callback_query", chat.ID, wUpdate{CallbackQuery: q})
}

func (s *Server) newFileIDLocked(b []byte) string {
	s.nextFile++
	id := fmt.Sprintf("AgACAgIAAxkBAAI%06d", s.nextFile)
	s.files[id] = b
	return id
}

func uniqueID(b []byte) string {
	h := sha256.Sum256(b)
	return fmt.Sprintf("AQAD%x", h[:8])
}

func (s *Server) storePhotoLocked(img []byte) []wPhotoSize {
	cfg, _, err := image.DecodeConfig(bytes.NewReader(img))
	if err != nil {
		cfg.Width, cfg.Height = 1, 1
	}
	return []wPhotoSize{{FileID: s.newFileIDLocked(img), FileUniqueID: uniqueID(img), Width: cfg.Width, Height: cfg.Height, FileSize: len(img)}}
}

// getUpdates implements long polling: an offset confirms every earlier update, timeout waits for
// an update, and a newer getUpdates call ends a waiting one with 409 as Telegram does.
func (s *Server) getUpdates(r *http.Request, p params) (any, *apiError) {
	offset, err := p.int("offset")
	if err != nil {
		return nil, err
	}
	limit, err := p.int("limit")
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	timeout, err := p.int("timeout")
	if err != nil {
		return nil, err
	}
	var allowed []string
	if err := p.json("allowed_updates", &allowed); err != nil {
		return nil, err
	}
	deadline := time.NewTimer(time.Duration(max(timeout, 0)) * time.Second)
	defer deadline.Stop()

	s.mu.Lock()
	if s.hook != nil {
		s.mu.Unlock()
		return nil, &apiError{code: 409, desc: webhookConflict}
	}
	if p.has("allowed_updates") {
		s.allowed = allowed
		if len(allowed) == 0 {
			s.allowed = nil
		}
	}
	s.confirmLocked(offset)
	if s.poller != nil {
		close(s.poller)
	}
	mine := make(chan struct{})
	s.poller = mine
	s.polls++
	defer func() {
		s.mu.Lock()
		s.polls--
		s.notifyLocked()
		s.mu.Unlock()
	}()
	for {
		if r.Context().Err() != nil {
			s.mu.Unlock()
			return nil, &apiError{code: 499, desc: "client went away"}
		}
		// Checked under the lock before every wait: a Revoke between the
		// request's token check and this wait has already rung the old
		// change channel, and would otherwise be seen only at the timeout.
		if s.revoked {
			s.mu.Unlock()
			return nil, &apiError{code: 401, desc: "Unauthorized"}
		}
		if len(s.updates) > 0 || timeout <= 0 {
			out := s.takeLocked(int(limit))
			if s.poller == mine {
				s.poller = nil
			}
			s.mu.Unlock()
			return out, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			timeout = 0
		case <-mine:
			s.mu.Lock()
			hook := s.hook != nil
			s.mu.Unlock()
			if hook {
				return nil, &apiError{code: 409, desc: webhookConflict}
			}
			return nil, &apiError{code: 409, desc: "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"}
		case <-r.Context().Done():
			return nil, &apiError{code: 499, desc: "client went away"}
		case <-s.ctx.Done():
			return nil, &apiError{code: 502, desc: "Bad Gateway"}
		}
		s.mu.Lock()
		if s.revoked {
			s.mu.Unlock()
			return nil, &apiError{code: 401, desc: "Unauthorized"}
		}
		if s.hook != nil {
			s.mu.Unlock()
			return nil, &apiError{code: 409, desc: webhookConflict}
		}
	}
}

// Polling is the number of getUpdates requests in progress, so a test can wait for a stopped
// client's long poll to end before it checks what was delivered.
func (s *Server) Polling() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls
}

// confirmLocked applies a getUpdates offset: positive confirms updates below it, negative keeps
// only the last -offset updates.
func (s *Server) confirmLocked(offset int64) {
	n := 0
	switch {
	case offset > 0:
		for n < len(s.updates) && s.updates[n].id < offset {
			n++
		}
	case offset < 0:
		n = max(len(s.updates)-int(-offset), 0)
	}
	s.stats.UpdatesConfirmed += n
	s.updates = s.updates[n:]
}

func (s *Server) takeLocked(limit int) []json.RawMessage {
	out := []json.RawMessage{}
	for i := 0; i < len(s.updates) && len(out) < limit; i++ {
		q := &s.updates[i]
		if q.delivered > 0 {
			s.stats.Redeliveries++
		}
		q.delivered++
		s.stats.UpdatesDelivered++
		out = append(out, q.body)
	}
	return out
}

// webhook is an active setWebhook registration and its delivery loop.
type webhook struct {
	url     string
	secret  string
	maxConn int
	cancel  context.CancelFunc
	lastErr string
	lastAt  int64
}

var secretRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func (s *Server) setWebhook(_ *http.Request, p params) (any, *apiError) {
	raw := p.str("url")
	var allowed []string
	if err := p.json("allowed_updates", &allowed); err != nil {
		return nil, err
	}
	maxConn, err := p.int("max_connections")
	if err != nil {
		return nil, err
	}
	if maxConn == 0 {
		maxConn = 40
	}
	if maxConn < 1 || maxConn > 100 {
		return nil, badRequest("bad webhook: max_connections must be between 1 and 100")
	}
	secret := p.str("secret_token")
	if secret != "" && !secretRe.MatchString(secret) {
		return nil, badRequest("bad webhook: secret token contains unallowed characters")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.bool("drop_pending_updates") {
		s.stats.UpdatesConfirmed += len(s.updates)
		s.updates = nil
	}
	if p.has("allowed_updates") {
		s.allowed = allowed
		if len(allowed) == 0 {
			s.allowed = nil
		}
	}
	s.stopHookLocked()
	if raw == "" { // an empty URL removes the webhook, as documented
		return true, nil
	}
	u, perr := url.Parse(raw)
	if perr != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, badRequest("bad webhook: An HTTPS URL must be provided for webhook")
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.hook = &webhook{url: raw, secret: secret, maxConn: int(maxConn), cancel: cancel}
	if s.poller != nil {
		close(s.poller)
		s.poller = nil
	}
	s.notifyLocked()
	s.wg.Add(1)
	go s.deliver(ctx, s.hook)
	return true, nil
}

func (s *Server) stopHookLocked() {
	if s.hook != nil {
		s.hook.cancel()
		s.hook = nil
		s.notifyLocked()
	}
}

func (s *Server) deleteWebhook(_ *http.Request, p params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopHookLocked()
	if p.bool("drop_pending_updates") {
		s.stats.UpdatesConfirmed += len(s.updates)
		s.updates = nil
	}
	return true, nil
}

func (s *Server) getWebhookInfo(*http.Request, params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := wWebhookInfo{PendingUpdateCount: len(s.updates), AllowedUpdates: s.allowed}
	if h := s.hook; h != nil {
		info.URL, info.MaxConnections = h.url, h.maxConn
		info.LastErrorDate, info.LastErrorMessage = h.lastAt, h.lastErr
	}
	return info, nil
}

// deliver POSTs pending updates to the webhook: at most maxConn at once, one at a time per
// chat so a chat's updates arrive in order, an update confirmed by a 2xx answer and retried
// otherwise after a growing pause, as Telegram keeps retrying.
func (s *Server) deliver(ctx context.Context, h *webhook) {
	defer s.wg.Done()
	client := &http.Client{Timeout: 60 * time.Second}
	type result struct {
		q   queued
		err error
	}
	done := make(chan result)
	inFlight := map[int64]bool{} // update id
	busyChat := map[int64]bool{}
	var backoff time.Duration
	var pausedUntil time.Time
	for {
		var retry <-chan time.Time
		s.mu.Lock()
		if wait := time.Until(pausedUntil); wait > 0 {
			retry = time.After(wait)
		} else {
			for i := range s.updates {
				q := s.updates[i]
				if len(inFlight) >= h.maxConn {
					break
				}
				if inFlight[q.id] || busyChat[q.chat] {
					continue
				}
				inFlight[q.id], busyChat[q.chat] = true, true
				if q.delivered > 0 {
					s.stats.Redeliveries++
				}
				s.updates[i].delivered++
				s.stats.UpdatesDelivered++
				go func(q queued) {
					err := s.post(ctx, client, h, q.body)
					select {
					case done <- result{q, err}:
					case <-ctx.Done():
					}
				}(q)
			}
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-retry:
		case r := <-done:
			delete(inFlight, r.q.id)
			delete(busyChat, r.q.chat)
			s.mu.Lock()
			if r.err == nil {
				backoff = 0
				for i := range s.updates {
					if s.updates[i].id == r.q.id {
						s.updates = append(s.updates[:i], s.updates[i+1:]...)
						s.stats.UpdatesConfirmed++
						break
					}
				}
			} else {
				h.lastErr, h.lastAt = r.err.Error(), time.Now().Unix()
				backoff = min(max(2*backoff, 50*time.Millisecond), 2*time.Second)
				pausedUntil = time.Now().Add(backoff)
			}
			s.mu.Unlock()
		}
	}
}

func (s *Server) post(ctx context.Context, client *http.Client, h *webhook, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if h.secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", h.secret)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("Connection refused")
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("Wrong response from the webhook: %s", strings.TrimSpace(resp.Status))
	}
	return nil
}
