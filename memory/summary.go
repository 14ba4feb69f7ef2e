package memory

import (
	"context"
	"fmt"
	"time"
)

// Summary returns chat's rolling summary and the ID of the last message it
// covers; ("", 0) when there is none yet. The agent replays the summary and
// then the messages after upTo (Recent), and writes a new summary with
// SetSummary when those grow past its budget. Making the summary (asking a
// model) is the agent's job; this only keeps it.
func (c *Chats) Summary(ctx context.Context, chat string) (text string, upTo int64, err error) {
	if err := checkChat(chat); err != nil {
		return "", 0, fmt.Errorf("memory: summary: %w", err)
	}
	var rows []struct {
		Summary string
		UpTo    int64
	}
	if err := c.s.read(ctx).Raw("SELECT summary, up_to FROM chat_summaries WHERE chat = ?", chat).Scan(&rows).Error; err != nil {
		return "", 0, fmt.Errorf("memory: summary of %s: %w", chat, err)
	}
	if len(rows) == 0 {
		return "", 0, nil
	}
	return rows[0].Summary, rows[0].UpTo, nil
}

// SetSummary replaces chat's summary with text, covering the messages up to
// and including the ID upTo.
//
// It refuses (ErrInvalid) a summary that covers less than the stored one:
// two replicas may summarise the same chat at once, and the one that
// started earlier must not overwrite the newer summary when it finishes
// late. An equal upTo replaces the text (a rewrite of the same history).
func (c *Chats) SetSummary(ctx context.Context, chat, text string, upTo int64) error {
	if err := checkChat(chat); err != nil {
		return fmt.Errorf("memory: set summary: %w", err)
	}
	if upTo < 0 {
		return fmt.Errorf("memory: set summary of %s: up to message %d: %w", chat, upTo, ErrInvalid)
	}
	res := c.s.db.WithContext(ctx).Exec(`INSERT INTO chat_summaries (chat, summary, up_to, updated_at_ns) VALUES (?, ?, ?, ?)
		ON CONFLICT (chat) DO UPDATE SET summary = excluded.summary, up_to = excluded.up_to, updated_at_ns = excluded.updated_at_ns
		WHERE chat_summaries.up_to <= excluded.up_to`,
		chat, cleanText(text), upTo, time.Now().UnixNano())
	if res.Error != nil {
		return fmt.Errorf("memory: set summary of %s: %w", chat, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("memory: set summary of %s up to message %d: the stored summary covers more: %w", chat, upTo, ErrInvalid)
	}
	return nil
}
