package memory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// BotUpdate is one update a chat bot received, kept until it is handled.
type BotUpdate struct {
	ID       int64  // the platform's update id: the order within a chat
	Chat     int64  // the chat it belongs to (its order is kept per chat)
	Payload  []byte // the update as the platform sent it
	Attempts int    // handlings begun, this one included (see Begin)
}

// Update states: an update is new until handled, then done, or failed
// when its handling was begun too often without finishing (a crash loop).
const (
	UpdateNew    = "new"
	UpdateDone   = "done"
	UpdateFailed = "failed"
)

// Put stores u for bot unless it is stored already (a platform redelivers
// an update it is not sure was received), and moves the bot's offset past
// it in the same transaction. fresh reports whether u is new here.
//
// Stored before the platform is told it arrived, an update survives a
// crash; stored once, it is handled once however often it is delivered.
func (b *BotState) Put(ctx context.Context, bot string, u BotUpdate) (fresh bool, err error) {
	if err := checkBot(bot); err != nil {
		return false, fmt.Errorf("memory: bot update: %w", err)
	}
	now := time.Now().UnixNano()
	err = b.s.write(ctx, func(tx *gorm.DB) error {
		res := tx.Exec(`INSERT INTO bot_updates (bot, update_id, chat, payload, received_at_ns) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (bot, update_id) DO NOTHING`, bot, u.ID, u.Chat, string(u.Payload), now)
		if res.Error != nil {
			return res.Error
		}
		fresh = res.RowsAffected == 1
		return tx.Exec(`INSERT INTO bot_state (bot, update_offset, updated_at_ns) VALUES (?, ?, ?)
			ON CONFLICT (bot) DO UPDATE SET update_offset = excluded.update_offset, updated_at_ns = excluded.updated_at_ns
			WHERE bot_state.update_offset < excluded.update_offset`, bot, u.ID+1, now).Error
	})
	if err != nil {
		return false, fmt.Errorf("memory: storing update %d of bot %s: %w", u.ID, bot, err)
	}
	return fresh, nil
}

// Claim makes holder the one handling chat's updates for ttl, unless
// another holder's lease is still running; a holder renews its own lease
// by claiming again. It reports whether holder has the chat.
func (b *BotState) Claim(ctx context.Context, bot string, chat int64, holder string, ttl time.Duration) (bool, error) {
	if holder == "" {
		return false, errors.New("memory: claiming a chat: empty holder")
	}
	now := time.Now().UnixNano()
	var got bool
	err := b.s.write(ctx, func(tx *gorm.DB) error {
		if err := tx.Exec(`INSERT INTO bot_leases (bot, chat) VALUES (?, ?) ON CONFLICT (bot, chat) DO NOTHING`, bot, chat).Error; err != nil {
			return err
		}
		res := tx.Exec(`UPDATE bot_leases SET holder = ?, until_ns = ? WHERE bot = ? AND chat = ?
			AND (holder = ? OR holder = '' OR until_ns < ?)`, holder, now+ttl.Nanoseconds(), bot, chat, holder, now)
		got = res.RowsAffected == 1
		return res.Error
	})
	if err != nil {
		return false, fmt.Errorf("memory: claiming chat %d of bot %s: %w", chat, bot, err)
	}
	return got, nil
}

// Release gives up holder's lease on chat (nothing when another holds it).
func (b *BotState) Release(ctx context.Context, bot string, chat int64, holder string) error {
	err := b.s.db.WithContext(ctx).Exec(`UPDATE bot_leases SET holder = '', until_ns = 0 WHERE bot = ? AND chat = ? AND holder = ?`,
		bot, chat, holder).Error
	if err != nil {
		return fmt.Errorf("memory: releasing chat %d of bot %s: %w", chat, bot, err)
	}
	return nil
}

// Next returns chat's earliest update not yet handled; ok is false when
// there is none.
func (b *BotState) Next(ctx context.Context, bot string, chat int64) (u BotUpdate, ok bool, err error) {
	var rows []struct {
		UpdateID int64
		Payload  string
		Attempts int
	}
	err = b.s.read(ctx).Raw(`SELECT update_id, payload, attempts FROM bot_updates
		WHERE bot = ? AND chat = ? AND state = 'new' ORDER BY update_id LIMIT 1`, bot, chat).Scan(&rows).Error
	if err != nil {
		return u, false, fmt.Errorf("memory: next update of chat %d: %w", chat, err)
	}
	if len(rows) == 0 {
		return u, false, nil
	}
	r := rows[0]
	return BotUpdate{ID: r.UpdateID, Chat: chat, Payload: []byte(r.Payload), Attempts: r.Attempts}, true, nil
}

// Begin records that update id's handling starts and returns how many
// handlings have begun, this one included: more than one means an earlier
// one was cut short (a crash, a stop) and may have done part of its work.
// It is counted before the work, so a handling that crashes the process
// every time is given up after a few tries rather than retried forever.
func (b *BotState) Begin(ctx context.Context, bot string, id int64) (int, error) {
	var attempts []int
	err := b.s.write(ctx, func(tx *gorm.DB) error {
		if err := tx.Exec(`UPDATE bot_updates SET attempts = attempts + 1 WHERE bot = ? AND update_id = ? AND state = 'new'`,
			bot, id).Error; err != nil {
			return err
		}
		return tx.Raw(`SELECT attempts FROM bot_updates WHERE bot = ? AND update_id = ?`, bot, id).Scan(&attempts).Error
	})
	if err != nil {
		return 0, fmt.Errorf("memory: beginning update %d of bot %s: %w", id, bot, err)
	}
	if len(attempts) == 0 {
		return 0, fmt.Errorf("memory: beginning update %d of bot %s: no such update", id, bot)
	}
	return attempts[0], nil
}

// Finish marks update id handled (UpdateDone) or given up (UpdateFailed).
func (b *BotState) Finish(ctx context.Context, bot string, id int64, state string) error {
	if state != UpdateDone && state != UpdateFailed {
		return fmt.Errorf("memory: finishing update %d: state %q is neither %q nor %q", id, state, UpdateDone, UpdateFailed)
	}
	err := b.s.db.WithContext(ctx).Exec(`UPDATE bot_updates SET state = ?, done_at_ns = ? WHERE bot = ? AND update_id = ?`,
		state, time.Now().UnixNano(), bot, id).Error
	if err != nil {
		return fmt.Errorf("memory: finishing update %d of bot %s: %w", id, bot, err)
	}
	return nil
}

// Waiting lists the chats with updates not yet handled whose lease is free
// or has run out: a replica that stopped mid-chat leaves them to the
// others.
func (b *BotState) Waiting(ctx context.Context, bot string) ([]int64, error) {
	var chats []int64
	err := b.s.read(ctx).Raw(`SELECT DISTINCT u.chat FROM bot_updates u
		LEFT JOIN bot_leases l ON l.bot = u.bot AND l.chat = u.chat
		WHERE u.bot = ? AND u.state = 'new' AND (l.holder IS NULL OR l.holder = '' OR l.until_ns < ?)`,
		bot, time.Now().UnixNano()).Scan(&chats).Error
	if err != nil {
		return nil, fmt.Errorf("memory: chats waiting for bot %s: %w", bot, err)
	}
	return chats, nil
}

// Prune forgets bot's updates handled before t, and questions that expired
// before t (answered or not): they are kept that long only to recognize a
// late redelivery or a late press.
func (b *BotState) Prune(ctx context.Context, bot string, t time.Time) error {
	err := b.s.write(ctx, func(tx *gorm.DB) error {
		if err := tx.Exec(`DELETE FROM bot_updates WHERE bot = ? AND state <> 'new' AND done_at_ns < ?`, bot, t.UnixNano()).Error; err != nil {
			return err
		}
		return tx.Exec(`DELETE FROM bot_approvals WHERE bot = ? AND expires_at_ns < ?`, bot, t.UnixNano()).Error
	})
	if err != nil {
		return fmt.Errorf("memory: pruning bot %s: %w", bot, err)
	}
	return nil
}

// BotApproval is an Approve / Reject question a bot put to its owners.
type BotApproval struct {
	ID       string
	Bot      string
	State    string // "" while open; then "approved", "rejected" or "expired"
	By       string // who settled it
	Question string // the text shown, for the edit that closes it
	Shown    string // where it was shown (the bot's own JSON)
	Expires  time.Time
}

// PutApproval stores a new open question.
func (b *BotState) PutApproval(ctx context.Context, a BotApproval) error {
	if a.ID == "" || a.State != "" {
		return fmt.Errorf("memory: storing approval %q: want a new, open approval", a.ID)
	}
	if err := checkBot(a.Bot); err != nil {
		return fmt.Errorf("memory: storing approval: %w", err)
	}
	shown := a.Shown
	if shown == "" {
		shown = "[]"
	}
	err := b.s.db.WithContext(ctx).Exec(`INSERT INTO bot_approvals (id, bot, question, shown, expires_at_ns, created_at_ns)
		VALUES (?, ?, ?, ?, ?, ?)`, a.ID, a.Bot, a.Question, shown, a.Expires.UnixNano(), time.Now().UnixNano()).Error
	if err != nil {
		return fmt.Errorf("memory: storing approval %s: %w", a.ID, err)
	}
	return nil
}

// SetShown records where question id was shown.
func (b *BotState) SetShown(ctx context.Context, id, shown string) error {
	if err := b.s.db.WithContext(ctx).Exec(`UPDATE bot_approvals SET shown = ? WHERE id = ?`, shown, id).Error; err != nil {
		return fmt.Errorf("memory: approval %s: %w", id, err)
	}
	return nil
}

// Approval returns question id; ok is false when there is none.
func (b *BotState) Approval(ctx context.Context, id string) (a BotApproval, ok bool, err error) {
	var rows []struct {
		ID, Bot, State, SettledBy, Question, Shown string
		ExpiresAtNs                                int64
	}
	err = b.s.read(ctx).Raw(`SELECT id, bot, state, settled_by, question, shown, expires_at_ns FROM bot_approvals WHERE id = ?`, id).
		Scan(&rows).Error
	if err != nil {
		return a, false, fmt.Errorf("memory: approval %s: %w", id, err)
	}
	if len(rows) == 0 {
		return a, false, nil
	}
	r := rows[0]
	return BotApproval{ID: r.ID, Bot: r.Bot, State: r.State, By: r.SettledBy, Question: r.Question, Shown: r.Shown,
		Expires: time.Unix(0, r.ExpiresAtNs)}, true, nil
}

// Settle closes question id with state once: it reports whether this call
// closed it. An answer ("approved", "rejected") counts only before the
// question expires; "expired" only after. Every replica settles through
// here, so a button pressed twice, or on two replicas at once, acts once.
func (b *BotState) Settle(ctx context.Context, id, state, by string) (bool, error) {
	now := time.Now().UnixNano()
	var res *gorm.DB
	switch state {
	case "approved", "rejected":
		res = b.s.db.WithContext(ctx).Exec(`UPDATE bot_approvals SET state = ?, settled_by = ?, settled_at_ns = ?
			WHERE id = ? AND state = '' AND expires_at_ns > ?`, state, by, now, id, now)
	case "expired":
		res = b.s.db.WithContext(ctx).Exec(`UPDATE bot_approvals SET state = ?, settled_at_ns = ? WHERE id = ? AND state = ''`,
			state, now, id)
	default:
		return false, fmt.Errorf("memory: settling approval %s: unknown state %q", id, state)
	}
	if res.Error != nil {
		return false, fmt.Errorf("memory: settling approval %s: %w", id, res.Error)
	}
	return res.RowsAffected == 1, nil
}
