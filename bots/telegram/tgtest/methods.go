package tgtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/bots/internal/waitfor"
)

const (
	maxText    = 4096
	maxCaption = 1024
)

func (s *Server) botWire() *wUser {
	return &wUser{ID: botID, IsBot: true, FirstName: "Mandate Test", Username: s.username}
}

func (s *Server) getMe(*http.Request, params) (any, *apiError) {
	me := s.botWire()
	me.CanJoinGroups = true
	me.CanReadAllGroupMessages = !s.privacy
	f := false
	me.SupportsInlineQueries = &f
	return me, nil
}

func (s *Server) getChat(_ *http.Request, p params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, err := s.targetLocked(p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"id": cs.chat.ID, "type": cs.chat.Type, "title": cs.wire().Title,
		"first_name": cs.wire().FirstName, "accent_color_id": 0, "max_reaction_count": 11}, nil
}

// targetLocked finds the chat named by chat_id; the bot can only write to chats it has seen.
func (s *Server) targetLocked(p params) (*chatState, *apiError) {
	raw := p.str("chat_id")
	if raw == "" {
		return nil, badRequest("chat_id is empty")
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return nil, badRequest("chat not found")
	}
	cs := s.chats[id]
	if cs == nil {
		return nil, badRequest("chat not found")
	}
	return cs, nil
}

// formatted is text after parse_mode handling.
type formatted struct {
	raw, text, mode string
	entities        []Entity
}

func format(p params, textField, entitiesField string, limit int) (formatted, *apiError) {
	f := formatted{raw: p.str(textField), mode: p.str("parse_mode")}
	switch f.mode {
	case "":
		f.text = f.raw
		if err := p.json(entitiesField, &f.entities); err != nil {
			return f, err
		}
	case "MarkdownV2":
		text, ents, err := parseMarkdownV2(f.raw)
		if err != nil {
			return f, badRequest("can't parse entities: %v", err)
		}
		f.text, f.entities = text, ents
	case "HTML", "Markdown":
		f.text = f.raw // accepted but not validated by tgtest
	default:
		return f, badRequest("unsupported parse_mode")
	}
	if textField == "text" && strings.TrimSpace(f.text) == "" {
		return f, badRequest("message text is empty")
	}
	if textLength(f.text) > limit {
		if textField == "caption" {
			return f, badRequest("message caption is too long")
		}
		return f, badRequest("message is too long")
	}
	f.entities = append(f.entities, autoEntities(f.text, f.entities)...)
	sortEntities(f.entities)
	return f, nil
}

func markup(p params) (*Keyboard, *apiError) {
	raw := p.str("reply_markup")
	if raw == "" {
		return nil, nil
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal([]byte(raw), &probe) != nil {
		return nil, badRequest("can't parse reply keyboard markup JSON object")
	}
	if _, ok := probe["inline_keyboard"]; !ok {
		return nil, nil // reply keyboards and force_reply are accepted and not recorded
	}
	var k Keyboard
	if json.Unmarshal([]byte(raw), &k) != nil {
		return nil, badRequest("can't parse inline keyboard button: InlineKeyboardButton must be an Object")
	}
	for _, row := range k.InlineKeyboard {
		for _, b := range row {
			if b.Text == "" {
				return nil, badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
			}
			if b.CallbackData == "" && b.URL == "" {
				continue
			}
			if b.URL == "" && len(b.CallbackData) > 64 {
				return nil, badRequest("BUTTON_DATA_INVALID")
			}
		}
	}
	return &k, nil
}

// takeLimitLocked counts one message against the flood limits.
func (s *Server) takeLimitLocked(cs *chatState) *apiError {
	return s.limits.take(cs.chat, time.Now())
}

func (s *Server) replyToLocked(cs *chatState, p params) (*wMessage, int64, *apiError) {
	var rp struct {
		MessageID                int64 `json:"message_id"`
		AllowSendingWithoutReply bool  `json:"allow_sending_without_reply"`
	}
	if err := p.json("reply_parameters", &rp); err != nil {
		return nil, 0, err
	}
	if rp.MessageID == 0 {
		id, err := p.int("reply_to_message_id")
		if err != nil {
			return nil, 0, err
		}
		rp.MessageID = id
	}
	if rp.MessageID == 0 {
		return nil, 0, nil
	}
	st := cs.msgs[rp.MessageID]
	if st == nil {
		if rp.AllowSendingWithoutReply {
			return nil, 0, nil
		}
		return nil, 0, badRequest("message to be replied not found")
	}
	m := st.msg
	m.ReplyToMessage = nil
	return &m, rp.MessageID, nil
}

func (s *Server) sendMessage(_ *http.Request, p params) (any, *apiError) {
	f, err := format(p, "text", "entities", maxText)
	if err != nil {
		return nil, err
	}
	kb, err := markup(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, err := s.targetLocked(p)
	if err != nil {
		return nil, err
	}
	reply, replyID, err := s.replyToLocked(cs, p)
	if err != nil {
		return nil, err
	}
	if err := s.takeLimitLocked(cs); err != nil {
		return nil, err
	}
	m := s.botMessageLocked(cs, func(m *wMessage) {
		m.Text, m.Entities, m.ReplyMarkup, m.ReplyToMessage = f.text, f.entities, kb, reply
	})
	s.recordLocked(cs, Message{Kind: "send", ID: m.MessageID, Text: f.text, Raw: f.raw, ParseMode: f.mode,
		Entities: f.entities, Markup: kb, ReplyTo: replyID})
	return m, nil
}

func (s *Server) botMessageLocked(cs *chatState, fill func(*wMessage)) wMessage {
	m := wMessage{MessageID: cs.nextMsg, From: s.botWire(), Date: time.Now().Unix(), Chat: cs.wire()}
	cs.nextMsg++
	fill(&m)
	cs.msgs[m.MessageID] = &stored{msg: m, byBot: true}
	return m
}

func (s *Server) recordLocked(cs *chatState, m Message) {
	m.ChatID = cs.chat.ID
	cs.sent = append(cs.sent, m)
	s.notifyLocked()
}

// editTargetLocked finds the bot's message an edit names.
func (s *Server) editTargetLocked(p params, verb string) (*chatState, *stored, *apiError) {
	if p.str("inline_message_id") != "" {
		return nil, nil, badRequest("inline messages are not supported yet by tgtest")
	}
	cs, err := s.targetLocked(p)
	if err != nil {
		return nil, nil, err
	}
	id, err := p.int("message_id")
	if err != nil {
		return nil, nil, err
	}
	st := cs.msgs[id]
	if st == nil {
		return nil, nil, badRequest("message to %s not found", verb)
	}
	if !st.byBot {
		return nil, nil, badRequest("message can't be edited")
	}
	return cs, st, nil
}

// sortEntities orders entities as Telegram returns them: by offset, longer first.
func sortEntities(es []Entity) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		return a.Offset < b.Offset || a.Offset == b.Offset && a.Length > b.Length
	})
}

const notModified = "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message"

// editMessageText replaces a message's text; like Telegram it drops the inline keyboard unless
// the edit carries one, and refuses an edit that changes nothing.
func (s *Server) editMessageText(_ *http.Request, p params) (any, *apiError) {
	f, err := format(p, "text", "entities", maxText)
	if err != nil {
		return nil, err
	}
	kb, err := markup(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, st, err := s.editTargetLocked(p, "edit")
	if err != nil {
		return nil, err
	}
	if st.msg.Photo != nil {
		return nil, badRequest("there is no text in the message to edit")
	}
	if st.msg.Text == f.text && reflect.DeepEqual(st.msg.Entities, f.entities) && sameMarkup(st.msg.ReplyMarkup, kb) {
		return nil, badRequest(notModified)
	}
	if err := s.takeLimitLocked(cs); err != nil {
		return nil, err
	}
	st.msg.Text, st.msg.Entities, st.msg.ReplyMarkup, st.msg.EditDate = f.text, f.entities, kb, time.Now().Unix()
	s.recordLocked(cs, Message{Kind: "edit", ID: st.msg.MessageID, Text: f.text, Raw: f.raw, ParseMode: f.mode,
		Entities: f.entities, Markup: kb})
	return st.msg, nil
}

func (s *Server) editMessageReplyMarkup(_ *http.Request, p params) (any, *apiError) {
	kb, err := markup(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, st, err := s.editTargetLocked(p, "edit")
	if err != nil {
		return nil, err
	}
	if sameMarkup(st.msg.ReplyMarkup, kb) {
		return nil, badRequest(notModified)
	}
	if err := s.takeLimitLocked(cs); err != nil {
		return nil, err
	}
	st.msg.ReplyMarkup, st.msg.EditDate = kb, time.Now().Unix()
	s.recordLocked(cs, Message{Kind: "markup", ID: st.msg.MessageID, Text: st.msg.Text, Markup: kb})
	return st.msg, nil
}

func sameMarkup(a, b *Keyboard) bool {
	empty := func(k *Keyboard) bool { return k == nil || len(k.InlineKeyboard) == 0 }
	if empty(a) || empty(b) {
		return empty(a) && empty(b)
	}
	return reflect.DeepEqual(a, b)
}

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// sendPhoto accepts an uploaded PNG (or JPEG) or the file_id of a photo the server has seen.
func (s *Server) sendPhoto(_ *http.Request, p params) (any, *apiError) {
	f, err := format(p, "caption", "caption_entities", maxCaption)
	if err != nil {
		return nil, err
	}
	kb, err := markup(p)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, err := s.targetLocked(p)
	if err != nil {
		return nil, err
	}
	img, ok := p.files["photo"]
	if !ok {
		ref := p.str("photo")
		if strings.HasPrefix(ref, "attach://") {
			img, ok = p.files[strings.TrimPrefix(ref, "attach://")]
		} else {
			img, ok = s.files[ref]
		}
		if !ok {
			return nil, badRequest("wrong file identifier/HTTP URL specified")
		}
	}
	if len(img) == 0 {
		return nil, badRequest("file must be non-empty")
	}
	if !bytes.HasPrefix(img, pngMagic) && !bytes.HasPrefix(img, []byte{0xff, 0xd8, 0xff}) {
		return nil, badRequest("IMAGE_PROCESS_FAILED")
	}
	reply, replyID, err := s.replyToLocked(cs, p)
	if err != nil {
		return nil, err
	}
	if err := s.takeLimitLocked(cs); err != nil {
		return nil, err
	}
	sizes := s.storePhotoLocked(img)
	m := s.botMessageLocked(cs, func(m *wMessage) {
		m.Photo, m.Caption, m.CaptionEntities, m.ReplyMarkup, m.ReplyToMessage = sizes, f.text, f.entities, kb, reply
	})
	s.recordLocked(cs, Message{Kind: "photo", ID: m.MessageID, Text: f.text, Raw: f.raw, ParseMode: f.mode,
		Entities: f.entities, Markup: kb, Photo: img, ReplyTo: replyID})
	return m, nil
}

func (s *Server) deleteMessage(_ *http.Request, p params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, err := s.targetLocked(p)
	if err != nil {
		return nil, err
	}
	id, err := p.int("message_id")
	if err != nil {
		return nil, err
	}
	if cs.msgs[id] == nil {
		return nil, badRequest("message to delete not found")
	}
	delete(cs.msgs, id)
	s.recordLocked(cs, Message{Kind: "delete", ID: id})
	return true, nil
}

var chatActions = map[string]bool{"typing": true, "upload_photo": true, "record_video": true, "upload_video": true,
	"record_voice": true, "upload_voice": true, "upload_document": true, "choose_sticker": true,
	"find_location": true, "record_video_note": true, "upload_video_note": true}

func (s *Server) sendChatAction(_ *http.Request, p params) (any, *apiError) {
	action := p.str("action")
	if !chatActions[action] {
		return nil, badRequest("wrong parameter action in request")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, err := s.targetLocked(p)
	if err != nil {
		return nil, err
	}
	cs.actions = append(cs.actions, action)
	s.notifyLocked()
	return true, nil
}

// answerCallbackQuery accepts one answer per query, as Telegram does.
func (s *Server) answerCallbackQuery(_ *http.Request, p params) (any, *apiError) {
	id := p.str("callback_query_id")
	text := p.str("text")
	if len([]rune(text)) > 200 {
		return nil, badRequest("MESSAGE_TOO_LONG")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	answered, ok := s.queries[id]
	if !ok || answered {
		return nil, badRequest("query is too old and response timeout expired or query ID is invalid")
	}
	s.queries[id] = true
	s.answers = append(s.answers, CallbackAnswer{QueryID: id, Text: text, ShowAlert: p.bool("show_alert")})
	s.notifyLocked()
	return true, nil
}

var commandRe = regexp.MustCompile(`^[a-z0-9_]{1,32}$`)

func (s *Server) setMyCommands(_ *http.Request, p params) (any, *apiError) {
	var cmds []wBotCommand
	if err := p.json("commands", &cmds); err != nil {
		return nil, err
	}
	if len(cmds) > 100 {
		return nil, badRequest("too many commands specified")
	}
	for _, c := range cmds {
		if !commandRe.MatchString(c.Command) {
			return nil, badRequest("BOT_COMMAND_INVALID")
		}
		if n := len([]rune(c.Description)); n < 1 || n > 256 {
			return nil, badRequest("command description must be non-empty")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = cmds
	return true, nil
}

func (s *Server) getMyCommands(*http.Request, params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wBotCommand{}, s.commands...), nil
}

func (s *Server) deleteMyCommands(*http.Request, params) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commands = nil
	return true, nil
}

// Sent is what the bot sent, edited and deleted in chat, in order.
func (s *Server) Sent(chat int64) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.chats[chat]; cs != nil {
		return append([]Message(nil), cs.sent...)
	}
	return nil
}

// Actions are the chat actions (typing, upload_photo, …) the bot sent to chat.
func (s *Server) Actions(chat int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cs := s.chats[chat]; cs != nil {
		return append([]string(nil), cs.actions...)
	}
	return nil
}

// Answers are the answerCallbackQuery calls, in order.
func (s *Server) Answers() []CallbackAnswer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CallbackAnswer(nil), s.answers...)
}

// Commands is the last setMyCommands list, as "command: description".
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.commands {
		out = append(out, c.Command+": "+c.Description)
	}
	return out
}

// Pending is the number of updates not yet confirmed by the bot.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.updates)
}

// WaitFor waits until cond holds (checked on every change to the server and every few
// milliseconds, for conditions outside it), failing the test with what was asked for if it does
// not within the wait timeout.
func (s *Server) WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	waitfor.Cond(t, "tgtest", what, s.waitTimeout, s.nextChange, cond)
}

// nextChange is the channel closed at the server's next change.
func (s *Server) nextChange() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// WaitSent waits until the bot has done at least n things in chat and returns them all.
func (s *Server) WaitSent(t testing.TB, chat int64, n int) []Message {
	t.Helper()
	var got []Message
	s.WaitFor(t, fmt.Sprintf("%d messages from the bot in chat %d", n, chat), func() bool {
		got = s.Sent(chat)
		return len(got) >= n
	})
	if len(got) < n {
		t.Fatalf("tgtest: chat %d has %d messages from the bot, want %d: %s", chat, len(got), n, describe(got))
	}
	return got
}

func describe(ms []Message) string {
	var b strings.Builder
	for i, m := range ms {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s #%d %q", m.Kind, m.ID, m.Text)
	}
	return b.String()
}
