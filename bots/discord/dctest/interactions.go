package dctest

import (
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"sort"
	"strings"
	"time"
)

func multipartReader(r *http.Request, boundary string) (*multipart.Reader, error) {
	if boundary == "" {
		return nil, errors.New("no multipart boundary")
	}
	return multipart.NewReader(r.Body, boundary), nil
}

// Interaction callback types, as Discord numbers them.
const (
	cbMessage       = 4 // CHANNEL_MESSAGE_WITH_SOURCE
	cbDeferred      = 5 // DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
	cbDeferUpdate   = 6 // DEFERRED_UPDATE_MESSAGE
	cbUpdateMessage = 7 // UPDATE_MESSAGE
)

// callback is an interaction's one answer. A second answer is refused (40060), as on
// Discord.
func (s *Server) callback(r *http.Request, args []string) (any, *apiError) {
	var p struct {
		Type int   `json:"type"`
		Data wBody `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		return nil, badRequest(50109, "The request body contains invalid JSON.")
	}
	if err := check(p.Data, nil, p.Type == cbMessage); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.interactions[args[0]]
	if in == nil || in.token != args[1] {
		return nil, &apiError{status: 404, code: 10062, message: "Unknown interaction"}
	}
	if in.answered {
		return nil, badRequest(40060, "Interaction has already been acknowledged.")
	}
	cs := s.channels[in.channel]
	switch p.Type {
	case cbMessage, cbDeferred:
		m := s.messageLocked(cs, p.Data)
		in.original = m.ID
		kind := "reply"
		if p.Type == cbDeferred {
			kind = "defer"
		}
		rec := seen(kind, m, p.Data, nil)
		rec.Interaction = in.id
		s.recordLocked(cs, rec)
	case cbDeferUpdate, cbUpdateMessage:
		m := cs.msgs[in.message]
		if m == nil {
			return nil, badRequest(50035, "Invalid Form Body: type: only a component's interaction can update its message")
		}
		in.original = m.ID
		if p.Type == cbUpdateMessage {
			apply(m, p.Data)
			rec := seen("update", m, p.Data, nil)
			rec.Interaction = in.id
			s.recordLocked(cs, rec)
		}
	default:
		return nil, badRequest(50035, "Invalid Form Body: type: not a callback type this server supports")
	}
	in.answered = true
	s.notifyLocked()
	return nil, nil
}

// webhookLocked is the interaction a webhook id and token belong to: interactions answer
// through the application's webhook, with the interaction's token.
func (s *Server) webhookLocked(app, token string) (*interaction, *apiError) {
	in := s.byToken[token]
	if app != botID || in == nil {
		return nil, &apiError{status: 404, code: 10015, message: "Unknown Webhook"}
	}
	return in, nil
}

// editWebhookMessage edits an interaction's answer (@original) or a follow-up.
func (s *Server) editWebhookMessage(r *http.Request, args []string) (any, *apiError) {
	b, files, err := readBody(r)
	if err == nil {
		err = check(b, files, false)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.webhookLocked(args[0], args[1])
	if err != nil {
		return nil, err
	}
	id := args[2]
	if id == "@original" {
		id = in.original
	}
	cs := s.channels[in.channel]
	m := cs.msgs[id]
	if m == nil {
		return nil, &apiError{status: 404, code: 10008, message: "Unknown Message"}
	}
	apply(m, b)
	rec := seen("original", m, b, files)
	rec.Interaction = in.id
	s.recordLocked(cs, rec)
	return m, nil
}

// followup sends another message answering an interaction.
func (s *Server) followup(r *http.Request, args []string) (any, *apiError) {
	b, files, err := readBody(r)
	if err == nil {
		err = check(b, files, true)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in, err := s.webhookLocked(args[0], args[1])
	if err != nil {
		return nil, err
	}
	if !in.answered {
		return nil, &apiError{status: 404, code: 10015, message: "Unknown Webhook"}
	}
	cs := s.channels[in.channel]
	m := s.messageLocked(cs, b)
	rec := seen("followup", m, b, files)
	rec.Interaction = in.id
	s.recordLocked(cs, rec)
	return m, nil
}

// The people's side: what tests do.

// SendText posts text in ch as from and dispatches MESSAGE_CREATE. A "<@id>" of the bot
// in text is a mention of it (Mention()). It returns the message's id.
func (s *Server) SendText(ch Channel, from User, text string) string {
	s.mu.Lock()
	cs := s.channelLocked(ch)
	m := &wMessage{ID: s.snowflakeLocked(), ChannelID: ch.ID, GuildID: ch.GuildID, Author: person(from),
		Content: text, Timestamp: time.Now().UTC().Format(time.RFC3339)}
	if containsMention(text) {
		m.Mentions = []wUser{s.botWire()}
	}
	cs.msgs[m.ID] = m
	s.notifyLocked()
	s.mu.Unlock()
	ev := map[string]any{"id": m.ID, "type": 0, "channel_id": m.ChannelID, "author": m.Author, "content": m.Content,
		"mentions": m.Mentions, "timestamp": m.Timestamp, "embeds": []any{}, "attachments": []any{}}
	if ch.GuildID != "" {
		ev["guild_id"] = ch.GuildID
		ev["member"] = map[string]any{"roles": []string{}}
	}
	s.dispatch("MESSAGE_CREATE", ev)
	return m.ID
}

func containsMention(text string) bool {
	return strings.Contains(text, "<@"+botID+">") || strings.Contains(text, "<@!"+botID+">")
}

func person(u User) wUser {
	name := u.Username
	if name == "" {
		name = "user" + u.ID
	}
	return wUser{ID: u.ID, Username: name, Discriminator: "0"}
}

// RunCommand runs slash command name in ch as from, with string options, and dispatches
// INTERACTION_CREATE. It returns the interaction's id; the bot's answer is recorded with
// it (Message.Interaction).
func (s *Server) RunCommand(ch Channel, from User, name string, options map[string]string) string {
	keys := make([]string, 0, len(options))
	for k := range options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	opts := []map[string]any{}
	for _, k := range keys {
		opts = append(opts, map[string]any{"name": k, "type": 3, "value": options[k]})
	}
	data := map[string]any{"id": "1300000000000000000", "name": name, "type": 1, "options": opts}
	return s.interact(ch, from, 2, data, "")
}

// PressButton presses the button with customID on the bot's message msg in ch, as from,
// and dispatches INTERACTION_CREATE (a MESSAGE_COMPONENT). It returns the interaction's id.
func (s *Server) PressButton(ch Channel, from User, msg, customID string) string {
	return s.interact(ch, from, 3, map[string]any{"custom_id": customID, "component_type": 2}, msg)
}

// interact records an interaction and dispatches it.
func (s *Server) interact(ch Channel, from User, typ int, data map[string]any, msg string) string {
	s.mu.Lock()
	cs := s.channelLocked(ch)
	in := &interaction{id: s.snowflakeLocked(), channel: ch.ID, message: msg}
	in.token = "aW50ZXJhY3Rpb246" + in.id
	s.interactions[in.id] = in
	s.byToken[in.token] = in
	ev := map[string]any{"id": in.id, "application_id": botID, "type": typ, "data": data, "channel_id": ch.ID,
		"token": in.token, "version": 1, "app_permissions": "0", "locale": "en-US"}
	if ch.GuildID != "" {
		ev["guild_id"] = ch.GuildID
		ev["member"] = map[string]any{"user": person(from), "roles": []string{}, "permissions": "0"}
	} else {
		ev["user"] = person(from)
	}
	if m := cs.msgs[msg]; m != nil {
		ev["message"] = m
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.dispatch("INTERACTION_CREATE", ev)
	return in.id
}

// Answer is the bot's answer to interaction id, if it gave one: the message it sent or
// updated, as it looks now.
func (s *Server) Answer(id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.interactions[id]
	if in == nil || !in.answered {
		return Message{}, false
	}
	cs := s.channels[in.channel]
	for i := len(cs.sent) - 1; i >= 0; i-- {
		if cs.sent[i].Interaction == id || cs.sent[i].ID == in.original && in.message == "" {
			return cs.sent[i], true
		}
	}
	return Message{}, true
}
