package telegram

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// OffsetStore keeps the bot's getUpdates offset across restarts
// (memory.Store.BotState()). SetOffset must only move an offset forward,
// so two replicas never move it back into updates already answered.
type OffsetStore interface {
	Offset(ctx context.Context, bot string) (int64, error)
	SetOffset(ctx context.Context, bot string, offset int64) error
}

// botID is the numeric id before the token's colon: the key the offset is
// stored under, so the token itself is never written anywhere.
func botID(token string) (string, error) {
	id, _, ok := strings.Cut(token, ":")
	if _, err := strconv.ParseUint(id, 10, 64); !ok || err != nil {
		return "", errors.New("telegram: the bot token is not shaped like BotFather's (<id>:<secret>); copy it again from @BotFather")
	}
	return id, nil
}

// offsets stores the offset after updates are handled. The stored offset
// is the lowest update not yet handled (or one past the highest seen), so
// an update handled out of order (chats run concurrently) never moves it
// past an earlier one still in flight. Delivery is therefore at least once
// for the in-flight window: an update whose handling a stop interrupted, and
// any later one already handled, are asked for again on restart, as long as
// the Bot API still holds them (the client confirms a poll's updates when
// it asks for the next). Handling is not made idempotent beyond that; the
// window is the handful of updates in flight at a stop, and value-moving
// requests carry their own idempotency keys.
type offsets struct {
	store OffsetStore
	bot   string
	log   *slog.Logger

	mu      sync.Mutex
	pending map[int64]bool // begun and not handled
	next    int64          // one past the highest update begun
}

// begin records update id as in flight, in the order polled.
func (o *offsets) begin(id int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pending[id] = true
	o.next = max(o.next, id+1)
}

// handled stores the new lowest unhandled update. Two of these may write
// out of order; the store keeps the higher offset, so that costs nothing.
func (o *offsets) handled(ctx context.Context, id int64) {
	o.mu.Lock()
	delete(o.pending, id)
	safe := o.next
	for p := range o.pending {
		safe = min(safe, p)
	}
	o.mu.Unlock()
	// The write outlives a stop: the update was handled either way.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := o.store.SetOffset(wctx, o.bot, safe); err != nil {
		o.log.Warn("telegram: storing the update offset failed; a restart may answer recent updates again", "error", err.Error())
	}
}

// resume makes polling start at the stored offset: the client asks for
// updates from one past its last seen id, so it is given the offset less
// one.
func (b *Bot) resume(ctx context.Context) error {
	if b.cfg.Offsets == nil {
		return nil
	}
	off, err := b.cfg.Offsets.Offset(ctx, b.id)
	if err != nil {
		return fmt.Errorf("telegram: reading the stored update offset: %w", err)
	}
	b.seen = &offsets{store: b.cfg.Offsets, bot: b.id, log: b.log, pending: map[int64]bool{}, next: off}
	if off <= 0 {
		return nil
	}
	api, err := tg.New(b.cfg.Token, append(slices.Clip(b.opts), tg.WithInitialOffset(off-1))...)
	if err != nil {
		return fmt.Errorf("telegram: %w", err)
	}
	b.api = api
	return nil
}

// track receives every update: it records it as in flight, hands it to
// handle, and stores the offset once the update and the work it queued are
// done. Button presses run beside the poll (a turn may be waiting for one).
func (b *Bot) track(ctx context.Context, api *tg.Bot, u *models.Update) {
	if b.seen != nil {
		b.seen.begin(u.ID)
	}
	t := &ticket{o: b.seen, id: u.ID, refs: 1}
	ctx = context.WithValue(ctx, ticketKey{}, t)
	if u.CallbackQuery != nil {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.handle(ctx, api, u)
			t.release(ctx, true)
		}()
		return
	}
	b.handle(ctx, api, u)
	t.release(ctx, true)
}

// ticket is one update's handling: it is handled once every piece of work
// queued for it has run; a piece a stop skipped leaves it unhandled, so it
// stays at or above the stored offset.
type ticket struct {
	o  *offsets
	id int64

	mu        sync.Mutex
	refs      int
	abandoned bool
}

type ticketKey struct{}

// ticketOf is the ticket of the update ctx was made for (nil: none, e.g.
// work queued from outside an update).
func ticketOf(ctx context.Context) *ticket {
	t, _ := ctx.Value(ticketKey{}).(*ticket)
	return t
}

// wrap makes f part of t's update: t is handled only after f ran; f skipped
// because the bot is stopping leaves t unhandled. A panic in f is caught
// by f's own safely, so it still counts as handled (it was answered).
func (t *ticket) wrap(f func(context.Context)) func(context.Context) {
	if t == nil {
		return f
	}
	t.mu.Lock()
	t.refs++
	t.mu.Unlock()
	return func(ctx context.Context) {
		if ctx.Err() != nil {
			t.release(ctx, false) // asked for again on restart
			return
		}
		defer t.release(ctx, true)
		f(ctx)
	}
}

func (t *ticket) release(ctx context.Context, handled bool) {
	t.mu.Lock()
	t.refs--
	if !handled {
		t.abandoned = true
	}
	done := t.refs == 0 && !t.abandoned
	t.mu.Unlock()
	if done && t.o != nil {
		t.o.handled(ctx, t.id)
	}
}
