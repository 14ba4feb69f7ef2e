package memory

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// BotState is what a chat bot keeps across restarts: the offset of the next
// update it asks its platform for (Telegram's getUpdates offset).
type BotState struct{ s *Store }

// BotState returns the store of the chat bots' state.
func (s *Store) BotState() *BotState { return &BotState{s: s} }

// Offset returns the stored offset of bot (0 when none is stored: the
// platform's own start).
func (b *BotState) Offset(ctx context.Context, bot string) (int64, error) {
	if err := checkBot(bot); err != nil {
		return 0, fmt.Errorf("memory: bot offset: %w", err)
	}
	var offsets []int64
	if err := b.s.read(ctx).Raw("SELECT update_offset FROM bot_state WHERE bot = ?", bot).Scan(&offsets).Error; err != nil {
		return 0, fmt.Errorf("memory: offset of bot %s: %w", bot, err)
	}
	if len(offsets) == 0 {
		return 0, nil
	}
	return offsets[0], nil
}

// SetOffset stores offset for bot unless a higher one is stored: the
// offset only moves forward, so a replica or a late write that handled an
// earlier update never moves it back into updates already answered.
func (b *BotState) SetOffset(ctx context.Context, bot string, offset int64) error {
	if err := checkBot(bot); err != nil {
		return fmt.Errorf("memory: set bot offset: %w", err)
	}
	if offset < 0 {
		return fmt.Errorf("memory: set offset of bot %s: negative offset %d", bot, offset)
	}
	err := b.s.db.WithContext(ctx).Exec(`INSERT INTO bot_state (bot, update_offset, updated_at_ns) VALUES (?, ?, ?)
		ON CONFLICT (bot) DO UPDATE SET update_offset = excluded.update_offset, updated_at_ns = excluded.updated_at_ns
		WHERE bot_state.update_offset < excluded.update_offset`,
		bot, offset, time.Now().UnixNano()).Error
	if err != nil {
		return fmt.Errorf("memory: set offset of bot %s: %w", bot, err)
	}
	return nil
}

// checkBot refuses an empty id and anything shaped like a whole token
// ("123:secret"): only the id before the colon is a key.
func checkBot(bot string) error {
	if bot == "" {
		return errors.New("empty bot id")
	}
	for _, c := range bot {
		if c == ':' {
			return errors.New("bot id contains ':' (pass the id before the token's colon, never the token)")
		}
	}
	return nil
}
