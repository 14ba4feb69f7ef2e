package memory

import (
	"context"
	"fmt"
	"time"
)

// Facts are what the agent was told to keep about a chat ("my main wallet
// is 0x…", "call me Sam"): named values it puts in front of the model on
// every turn, so they outlive summarisation, which may drop them.

// Remember sets the fact key of chat to value, replacing an earlier value.
// The key must be non-empty UTF-8 text without NUL; the value is stored like
// message content (see Chats.Append).
func (c *Chats) Remember(ctx context.Context, chat, key, value string) error {
	if err := checkChat(chat); err != nil {
		return fmt.Errorf("memory: remember: %w", err)
	}
	if err := checkKey(key); err != nil {
		return fmt.Errorf("memory: remember in %s: fact key: %w", chat, err)
	}
	err := c.s.db.WithContext(ctx).Exec(`INSERT INTO chat_facts (chat, name, value, updated_at_ns) VALUES (?, ?, ?, ?)
		ON CONFLICT (chat, name) DO UPDATE SET value = excluded.value, updated_at_ns = excluded.updated_at_ns`,
		chat, key, cleanText(value), time.Now().UnixNano()).Error
	if err != nil {
		return fmt.Errorf("memory: remember %q in %s: %w", key, chat, err)
	}
	return nil
}

// Facts returns every fact of chat (an empty map when there are none).
func (c *Chats) Facts(ctx context.Context, chat string) (map[string]string, error) {
	if err := checkChat(chat); err != nil {
		return nil, fmt.Errorf("memory: facts: %w", err)
	}
	var rows []struct{ Name, Value string }
	if err := c.s.read(ctx).Raw("SELECT name, value FROM chat_facts WHERE chat = ?", chat).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("memory: facts of %s: %w", chat, err)
	}
	out := make(map[string]string, len(rows))
	for _, r := range rows {
		out[r.Name] = r.Value
	}
	return out, nil
}

// Forget deletes the fact key of chat. Forgetting a fact that is not there
// is not an error: the outcome the caller asked for holds.
func (c *Chats) Forget(ctx context.Context, chat, key string) error {
	if err := checkChat(chat); err != nil {
		return fmt.Errorf("memory: forget: %w", err)
	}
	if err := c.s.db.WithContext(ctx).Exec("DELETE FROM chat_facts WHERE chat = ? AND name = ?", chat, key).Error; err != nil {
		return fmt.Errorf("memory: forget %q in %s: %w", key, chat, err)
	}
	return nil
}
