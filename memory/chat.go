package memory

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Roles a Message may have: the four of the OpenAI chat format, which is
// what the agent replays to a model.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Message is one turn of a conversation as the agent stores and replays it.
type Message struct {
	ID         int64
	Chat       string          // chat/session id, e.g. "telegram:42", "cli:default"
	Role       string          // "system", "user", "assistant", "tool"
	Content    string          // any UTF-8; see Chats.Append for what is normalised
	ToolCalls  json.RawMessage // assistant tool calls as JSON ([]{"id","name","arguments"}), nil when none
	ToolCallID string          // for role "tool": the call this result answers
	ToolName   string          // for role "tool"
	Tokens     int             // estimated tokens; Append fills it with EstimateTokens when ≤ 0
	At         time.Time       // UTC; Append sets it to now when zero
}

// EstimateTokens is the token count Append records for a message that does
// not bring its own: the bytes of its content and tool calls divided by four,
// rounded up, and at least 1. Four bytes a token is the usual rule of thumb
// for English under BPE tokenizers; it overestimates for code and JSON less
// than it underestimates for CJK text, so callers that know the model's real
// count (from usage) should set Message.Tokens themselves. The floor of 1
// keeps a budget a bound on the number of messages too.
func EstimateTokens(m Message) int {
	n := (len(m.Content) + len(m.ToolCalls) + 3) / 4
	return max(n, 1)
}

// Chats is conversation memory: messages, their full-text and vector
// recall, facts and the rolling summary, each kept per chat. A chat never
// sees another's data; every query names its chat.
type Chats struct{ s *Store }

// Chats returns the store's conversation memory.
func (s *Store) Chats() *Chats { return &Chats{s: s} }

// messageRow is a row of chat_messages. On PostgreSQL the table also has the
// generated content_tsv column, which is why reads name their columns.
type messageRow struct {
	ID         int64   `gorm:"column:id;primaryKey;autoIncrement"`
	Chat       string  `gorm:"column:chat"`
	Role       string  `gorm:"column:role"`
	Content    string  `gorm:"column:content"`
	ToolCalls  *string `gorm:"column:tool_calls"`
	ToolCallID string  `gorm:"column:tool_call_id"`
	ToolName   string  `gorm:"column:tool_name"`
	Tokens     int     `gorm:"column:tokens"`
	AtNs       int64   `gorm:"column:at_ns"`
}

func (messageRow) TableName() string { return "chat_messages" }

// messageCols is what reads of chat_messages select (never content_tsv).
const messageCols = "id, chat, role, content, tool_calls, tool_call_id, tool_name, tokens, at_ns"

func (r messageRow) message() Message {
	m := Message{
		ID: r.ID, Chat: r.Chat, Role: r.Role, Content: r.Content,
		ToolCallID: r.ToolCallID, ToolName: r.ToolName, Tokens: r.Tokens,
		At: time.Unix(0, r.AtNs).UTC(),
	}
	m.ToolCalls = rawCalls(r.ToolCalls)
	return m
}

func messages(rows []messageRow) []Message {
	out := make([]Message, len(rows))
	for i, r := range rows {
		out[i] = r.message()
	}
	return out
}

// checkChat refuses a chat id that could not be stored as itself on both
// backends. Ids are keys: unlike content they are never repaired, because
// a repaired id could name another chat.
func checkChat(chat string) error {
	if err := checkKey(chat); err != nil {
		return fmt.Errorf("chat id: %w", err)
	}
	return nil
}

func checkKey(k string) error {
	switch {
	case k == "":
		return fmt.Errorf("empty: %w", ErrInvalid)
	case !utf8.ValidString(k) || strings.IndexByte(k, 0) >= 0:
		return fmt.Errorf("%q is not UTF-8 text without NUL: %w", k, ErrInvalid)
	}
	return nil
}

// cleanText makes s storable as itself on both backends: invalid UTF-8 and
// NUL (which PostgreSQL text cannot hold) become U+FFFD. Content is repaired
// rather than refused because much of it (tool results, on-chain token
// names) is not the agent's to fix, and failing to record a turn would lose
// the conversation.
func cleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// cleanToolCalls validates tool-call JSON and maps the empty forms (null,
// [], nothing) to nil, so "calls no tool" has one representation and
// Recent's grouping can trust tool_calls IS NOT NULL.
func cleanToolCalls(raw json.RawMessage) (*string, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" || string(t) == "[]" {
		return nil, nil
	}
	if !json.Valid(t) {
		return nil, fmt.Errorf("tool calls are not valid JSON: %w", ErrInvalid)
	}
	s := cleanText(string(t))
	return &s, nil
}

func rawCalls(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	return json.RawMessage(*s)
}

// Append stores msgs at the end of chat, in order, in one transaction: all
// of them or none. It fills in each message's ID, Chat, At (when zero) and
// Tokens (when ≤ 0) in the caller's slice.
//
// Content, ToolCallID and ToolName are stored as valid UTF-8 without NUL
// (see cleanText); ToolCalls must be valid JSON or empty.
func (c *Chats) Append(ctx context.Context, chat string, msgs ...Message) error {
	if err := checkChat(chat); err != nil {
		return fmt.Errorf("memory: append: %w", err)
	}
	if len(msgs) == 0 {
		return nil
	}
	now := time.Now().UTC()
	rows := make([]messageRow, len(msgs))
	for i, m := range msgs {
		switch m.Role {
		case RoleSystem, RoleUser, RoleAssistant, RoleTool:
		default:
			return fmt.Errorf("memory: append to %s: message %d: role %q is not system, user, assistant or tool: %w", chat, i, m.Role, ErrInvalid)
		}
		calls, err := cleanToolCalls(m.ToolCalls)
		if err != nil {
			return fmt.Errorf("memory: append to %s: message %d: %w", chat, i, err)
		}
		at := m.At
		if at.IsZero() {
			at = now
		}
		content := cleanText(m.Content)
		tokens := m.Tokens
		if tokens <= 0 {
			tokens = EstimateTokens(Message{Content: content, ToolCalls: rawCalls(calls)})
		}
		rows[i] = messageRow{
			Chat: chat, Role: m.Role, Content: content, ToolCalls: calls,
			ToolCallID: cleanText(m.ToolCallID), ToolName: cleanText(m.ToolName),
			Tokens: tokens, AtNs: at.UnixNano(),
		}
	}
	err := c.s.write(ctx, func(tx *gorm.DB) error {
		// 200 rows × 8 columns stays far below both backends' limits on bound
		// parameters.
		if err := tx.CreateInBatches(rows, 200).Error; err != nil {
			return err
		}
		return tx.Exec(`INSERT INTO chat_sessions (chat, messages, first_at_ns, last_at_ns) VALUES (?, ?, ?, ?)
			ON CONFLICT (chat) DO UPDATE SET messages = chat_sessions.messages + excluded.messages,
				last_at_ns = excluded.last_at_ns`,
			chat, len(rows), rows[0].AtNs, rows[len(rows)-1].AtNs).Error
	})
	if err != nil {
		return fmt.Errorf("memory: append %d messages to %s: %w", len(msgs), chat, err)
	}
	for i, r := range rows {
		msgs[i].ID, msgs[i].Chat, msgs[i].Tokens = r.ID, chat, r.Tokens
		msgs[i].At = time.Unix(0, r.AtNs).UTC()
	}
	return nil
}

// recentPage is how many message heads Recent reads per round trip.
const recentPage = 256

// Recent returns the newest messages of chat whose Tokens sum to at most
// budget, oldest first: the window an agent replays to its model.
//
// The window is a contiguous tail of the conversation, except that it never
// holds half a tool call: an assistant message with ToolCalls and the tool
// results that follow it are one group, taken whole or not at all, because
// a model API refuses a tool result without its call (and a call without
// results). When the group that would cross the budget is dropped the window
// ends there, older messages are not used to fill the gap. Tool results with
// no calling assistant message right before them (orphans, e.g. a user turn
// in between) are left out for the same reason.
//
// It reads only ids, roles and token counts until it knows the window, then
// the window's contents, so long messages outside the budget cost nothing.
func (c *Chats) Recent(ctx context.Context, chat string, budget int) ([]Message, error) {
	if err := checkChat(chat); err != nil {
		return nil, fmt.Errorf("memory: recent: %w", err)
	}
	if budget <= 0 {
		return nil, nil
	}
	type head struct {
		ID     int64 `gorm:"column:id"`
		Role   string
		Tokens int
		Calls  bool
	}
	var (
		keep    = map[int64]bool{}
		newest  int64
		oldest  int64
		used    int
		pending []head // tool results seen, waiting for their assistant message
		cursor  int64  = math.MaxInt64
	)
	db := c.s.read(ctx)
scan:
	for {
		var page []head
		err := db.Raw(`SELECT id, role, tokens, tool_calls IS NOT NULL AS calls FROM chat_messages
			WHERE chat = ? AND id < ? ORDER BY id DESC LIMIT ?`, chat, cursor, recentPage).Scan(&page).Error
		if err != nil {
			return nil, fmt.Errorf("memory: recent messages of %s: %w", chat, err)
		}
		for _, h := range page {
			if newest == 0 {
				newest = h.ID
			}
			cursor = h.ID
			if h.Role == RoleTool {
				pending = append(pending, h)
				continue
			}
			group := []head{h}
			if h.Role == RoleAssistant && h.Calls {
				group = append(group, pending...)
			}
			pending = pending[:0] // taken with their call, or orphans
			cost := 0
			for _, g := range group {
				cost += g.Tokens
			}
			if used+cost > budget {
				break scan
			}
			used += cost
			for _, g := range group {
				keep[g.ID] = true
			}
			oldest = h.ID
		}
		if len(page) < recentPage {
			break
		}
	}
	if len(keep) == 0 {
		return nil, nil
	}
	var rows []messageRow
	err := db.Raw(`SELECT `+messageCols+` FROM chat_messages WHERE chat = ? AND id BETWEEN ? AND ? ORDER BY id`,
		chat, oldest, newest).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("memory: recent messages of %s: %w", chat, err)
	}
	out := make([]Message, 0, len(keep))
	for _, r := range rows {
		if keep[r.ID] {
			out = append(out, r.message())
		}
	}
	return out, nil
}

// Count returns the number of messages stored for chat.
func (c *Chats) Count(ctx context.Context, chat string) (int, error) {
	if err := checkChat(chat); err != nil {
		return 0, fmt.Errorf("memory: count: %w", err)
	}
	var n int64
	if err := c.s.read(ctx).Raw("SELECT COUNT(*) FROM chat_messages WHERE chat = ?", chat).Scan(&n).Error; err != nil {
		return 0, fmt.Errorf("memory: count messages of %s: %w", chat, err)
	}
	return int(n), nil
}

// byIDs loads the messages of chat with the given ids, in the order of ids.
func (c *Chats) byIDs(ctx context.Context, chat string, ids []int64) ([]Message, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []messageRow
	if err := c.s.read(ctx).Raw(`SELECT `+messageCols+` FROM chat_messages WHERE chat = ? AND id IN ?`, chat, ids).
		Scan(&rows).Error; err != nil {
		return nil, err
	}
	at := make(map[int64]int, len(ids))
	for i, id := range ids {
		at[id] = i
	}
	out := make([]Message, 0, len(rows))
	slot := make([]*messageRow, len(ids))
	for i := range rows {
		slot[at[rows[i].ID]] = &rows[i]
	}
	for _, r := range slot {
		if r != nil {
			out = append(out, r.message())
		}
	}
	return out, nil
}
