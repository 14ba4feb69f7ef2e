package telegram

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate/memory"
)

// The inbox is how a bot, or several replicas of it sharing one database,
// handles each update once and each chat's updates in order:
//
//   - An update is stored (memory.BotState.Put) before the platform is told
//     it arrived: before a webhook answers 2xx, before the next getUpdates
//     confirms it. A crash loses nothing; a redelivery is dropped by its id.
//   - A chat's updates are handled by whichever replica holds the chat's
//     lease, one at a time in update order. The lease is renewed while a
//     turn runs (an approval may wait minutes) and runs out when its holder
//     dies, so another replica takes the chat over.
//   - A handling is counted before it begins. One that was cut short (a
//     crash, a stop) is not simply run again: a command, whose value-moving
//     calls carry the message's idempotency key, is; free text, which the
//     model might turn into a different action the second time, is not, and
//     its sender is told. After maxAttempts an update is given up.
const (
	leaseTTL    = 30 * time.Second
	sweepEvery  = 2 * time.Second
	keepHandled = 48 * time.Hour // to recognize a late redelivery
	maxAttempts = 3
	stopGrace   = 5 * time.Second // for a handling in flight at a stop
)

// interrupted answers free text whose handling a crash or a stop cut short.
const interrupted = "The bot stopped while it was handling your message, so it did not finish. It was not run again, because it might have done part of it: check /history, then send it again if it is still wanted."

// gaveUp answers an update whose handling never finished in maxAttempts tries.
const gaveUp = "Handling your message failed several times, so the bot gave up on it. Check /history before sending it again."

// inbox runs the stored updates of the chats this replica holds.
type inbox struct {
	b      *Bot
	st     *memory.BotState
	bot    string // the token's numeric id
	holder string // this replica, in the leases
	log    *slog.Logger

	mu    sync.Mutex
	busy  map[int64]bool // chats a goroutine of ours is draining
	again map[int64]bool // chats kicked while being drained
	wg    sync.WaitGroup
}

func newInbox(b *Bot, st *memory.BotState) (*inbox, error) {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	host, _ := os.Hostname()
	holder := strings.Join([]string{host, strconv.Itoa(os.Getpid()), hex.EncodeToString(r[:])}, "/")
	return &inbox{b: b, st: st, bot: b.id, holder: holder, log: b.log, busy: map[int64]bool{}, again: map[int64]bool{}}, nil
}

// put stores an update of chat; fresh is false for one stored before.
func (in *inbox) put(ctx context.Context, chat int64, u *models.Update) (fresh bool, err error) {
	payload, err := json.Marshal(u)
	if err != nil {
		return false, fmt.Errorf("telegram: encoding update %d: %w", u.ID, err)
	}
	return in.st.Put(ctx, in.bot, memory.BotUpdate{ID: u.ID, Chat: chat, Payload: payload})
}

// kick makes sure a goroutine of ours looks at chat's stored updates.
func (in *inbox) kick(ctx context.Context, chat int64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.busy[chat] {
		in.again[chat] = true
		return
	}
	in.busy[chat] = true
	in.wg.Add(1)
	go in.drain(ctx, chat)
}

func (in *inbox) drain(ctx context.Context, chat int64) {
	defer in.wg.Done()
	for {
		in.run(ctx, chat)
		in.mu.Lock()
		if !in.again[chat] || ctx.Err() != nil {
			delete(in.busy, chat)
			delete(in.again, chat)
			in.mu.Unlock()
			return
		}
		delete(in.again, chat)
		in.mu.Unlock()
	}
}

// run handles chat's updates while this replica holds its lease. Having
// found none, it releases the lease and looks once more: an update stored
// by another replica between the look and the release was either seen then
// or is seen by that replica's own claim, which now succeeds.
func (in *inbox) run(ctx context.Context, chat int64) {
	for ctx.Err() == nil {
		ok, err := in.st.Claim(ctx, in.bot, chat, in.holder, leaseTTL)
		if err != nil {
			in.failed("claiming a chat", chat, err)
			return
		}
		if !ok {
			return // another replica is on it
		}
		finished := in.handleClaimed(ctx, chat)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := in.st.Release(rctx, in.bot, chat, in.holder); err != nil {
			in.failed("releasing a chat", chat, err)
		}
		cancel()
		if !finished {
			return
		}
		if _, more, err := in.st.Next(ctx, in.bot, chat); err != nil || !more {
			return
		}
	}
}

// handleClaimed handles chat's stored updates in order, renewing the lease
// meanwhile; it reports whether it ran out of updates (rather than being
// stopped or failing).
func (in *inbox) handleClaimed(ctx context.Context, chat int64) bool {
	renewCtx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	go in.renew(renewCtx, chat)
	for ctx.Err() == nil {
		u, ok, err := in.st.Next(ctx, in.bot, chat)
		if err != nil {
			in.failed("reading the next update", chat, err)
			return false
		}
		if !ok {
			return true
		}
		if !in.handleOne(ctx, u) {
			return false
		}
	}
	return false
}

// handleOne counts, handles and finishes one stored update; false: it was
// not finished (a stop, a database error) and stays stored.
func (in *inbox) handleOne(ctx context.Context, u memory.BotUpdate) bool {
	n, err := in.st.Begin(ctx, in.bot, u.ID)
	if err != nil {
		in.failed("beginning an update", u.Chat, err)
		return false
	}
	state := memory.UpdateDone
	var upd models.Update
	if err := json.Unmarshal(u.Payload, &upd); err != nil {
		in.log.Error("telegram: a stored update is unreadable; dropping it", "update", u.ID, "error", err.Error())
		state = memory.UpdateFailed
	} else if n > maxAttempts {
		in.b.say(ctx, u.Chat, gaveUp)
		state = memory.UpdateFailed
	} else {
		hctx, cancel := graceful(ctx, stopGrace)
		in.b.dispatch(hctx, &upd, n > 1)
		cut := hctx.Err() != nil
		cancel()
		if cut {
			return false // counted, and looked at again on restart
		}
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := in.st.Finish(fctx, in.bot, u.ID, state); err != nil {
		in.failed("finishing an update", u.Chat, err)
		return false
	}
	return true
}

// graceful is parent, but cancelled grace after parent is: a handling a
// stop catches mid-way most often finishes (and is recorded as handled)
// rather than being cut and looked at again on restart.
func graceful(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	stop := context.AfterFunc(parent, func() {
		t := time.AfterFunc(grace, cancel)
		context.AfterFunc(ctx, func() { t.Stop() })
	})
	return ctx, func() {
		stop()
		cancel()
	}
}

// renew keeps the lease on chat while a turn runs.
func (in *inbox) renew(ctx context.Context, chat int64) {
	t := time.NewTicker(leaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if ok, err := in.st.Claim(ctx, in.bot, chat, in.holder, leaseTTL); err != nil && ctx.Err() == nil {
				in.failed("renewing a chat's lease", chat, err)
			} else if !ok && ctx.Err() == nil {
				in.log.Warn("telegram: another replica took over a chat this one is still answering", "chat", chat)
			}
		}
	}
}

// sweep kicks the chats with stored updates nobody holds (at start, and
// those a stopped replica left), and forgets old handled updates.
func (in *inbox) sweep(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	var pruned time.Time
	for {
		chats, err := in.st.Waiting(ctx, in.bot)
		if err != nil && ctx.Err() == nil {
			in.failed("listing waiting chats", 0, err)
		}
		for _, c := range chats {
			in.kick(ctx, c)
		}
		if time.Since(pruned) > time.Hour {
			pruned = time.Now()
			if err := in.st.Prune(ctx, in.bot, pruned.Add(-keepHandled)); err != nil && ctx.Err() == nil {
				in.failed("forgetting old updates", 0, err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (in *inbox) wait() { in.wg.Wait() }

func (in *inbox) failed(what string, chat int64, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	in.log.Error("telegram: "+what+" failed; the update stays stored and is retried", "chat", chat, "error", err.Error())
}

// resumeOffset is where polling starts: the stored offset (one past the
// newest update stored), so a restart asks for nothing already stored.
func (in *inbox) resumeOffset(ctx context.Context) (int64, error) {
	off, err := in.st.Offset(ctx, in.bot)
	if err != nil {
		return 0, fmt.Errorf("telegram: reading the stored update offset: %w", err)
	}
	return off, nil
}

// botID is the numeric id before the token's colon: the key the bot's
// updates and offset are stored under, so the token itself is never
// written anywhere.
func botID(token string) (string, error) {
	id, _, ok := strings.Cut(token, ":")
	if _, err := strconv.ParseUint(id, 10, 64); !ok || err != nil {
		return "", errors.New("telegram: the bot token is not shaped like BotFather's (<id>:<secret>); copy it again from @BotFather")
	}
	return id, nil
}
