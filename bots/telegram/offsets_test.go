package telegram_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/bots/telegram"
	"github.com/mandatehq/mandate/bots/telegram/tgtest"
)

// runUntilStopped runs a bot keeping its offset in rt's store; the
// returned func stops it and waits for Run and its long poll to end.
func runUntilStopped(t *testing.T, rt *mandate.Runtime, srv *tgtest.Server) (stop func()) {
	t.Helper()
	b, err := telegram.New(rt, telegram.Config{Token: srv.Token(), APIURL: srv.URL(), Owners: []int64{owner.ID}})
	if err != nil {
		t.Fatalf("telegram.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- b.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("Run did not return after its context ended")
		}
		srv.WaitFor(t, "the stopped bot's long poll to end", func() bool { return srv.Polling() == 0 })
	}
	t.Cleanup(stop)
	return stop
}

// answers counts the bot's messages in chat containing want.
func answers(srv *tgtest.Server, chat int64, want string) int {
	n := 0
	for _, m := range srv.Sent(chat) {
		if strings.Contains(m.Text, want) {
			n++
		}
	}
	return n
}

func TestTelegramOffsetSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	rt := devnet(t, nil)
	srv := tgtest.New(t)
	id, _, _ := strings.Cut(srv.Token(), ":")
	offsets := rt.Store().BotState()

	stop := runUntilStopped(t, rt, srv)
	mark := write(srv, ownerDM, owner, "/balance")
	waitText(t, srv, ownerDM.ID, mark, "USDC", "ETH")
	var first int64
	srv.WaitFor(t, "the handled update's offset to be stored", func() bool {
		first, _ = offsets.Offset(ctx, id)
		return first > 0
	})
	stop()

	// Sent while the bot is down: the restarted bot answers it, once, and
	// not the /balance before it.
	write(srv, ownerDM, owner, "/policy")
	stop = runUntilStopped(t, rt, srv)
	waitText(t, srv, ownerDM.ID, mark, "The policy in force")
	var second int64
	srv.WaitFor(t, "the offset to move past the update sent while down", func() bool {
		second, _ = offsets.Offset(ctx, id)
		return second > first
	})
	stop()
	if n := answers(srv, ownerDM.ID, "The policy in force"); n != 1 {
		t.Fatalf("the update sent while the bot was down was answered %d times, want once: %s", n, texts(srv.Sent(ownerDM.ID)))
	}
	if n := answers(srv, ownerDM.ID, "USDC"); n != 2 { // the /balance answer and the policy's token list
		t.Fatalf("%d messages name USDC, want 2 (/balance answered once, /policy once): %s", n, texts(srv.Sent(ownerDM.ID)))
	}

	// The stored offset is where polling resumes: an update below it is
	// confirmed without being answered.
	// Update ids run on by one, so /help is update `second`; a replica
	// that handled it stored second+1.
	write(srv, ownerDM, owner, "/help")
	if err := offsets.SetOffset(ctx, id, second+1); err != nil {
		t.Fatal(err)
	}
	stop = runUntilStopped(t, rt, srv)
	// A chat's messages are answered in order, so once this one is, the
	// /help before it would have been too.
	mark = write(srv, ownerDM, owner, "/policy")
	waitText(t, srv, ownerDM.ID, mark, "The policy in force")
	stop()
	if sent := srv.Sent(ownerDM.ID); len(sent) != 3 {
		t.Fatalf("the bot answered an update below its stored offset (want /balance, /policy, /policy answered): %s", texts(sent))
	}
	if got, err := offsets.Offset(ctx, id); err != nil || got != second+2 {
		t.Fatalf("stored offset = %d, %v; want %d", got, err, second+2)
	}
	if r := srv.Stats().Redeliveries; r != 0 {
		t.Fatalf("%d updates were delivered again", r)
	}
}
