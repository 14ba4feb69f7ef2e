package telegram_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	_ "github.com/glebarez/go-sqlite" // to take a table away under the bot
	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate/bots/telegram"
	"github.com/mandatehq/mandate/bots/telegram/tgtest"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
)

// An update whose handling a crash cut short is looked at again on
// restart: a command (its value-moving calls keyed by the message) runs
// again, free text (which the model might turn into another action) does
// not and its sender is told, and one that never finished is given up.
func TestInterruptedUpdates(t *testing.T) {
	ctx := context.Background()
	rt := devnet(t, nil)
	srv := tgtest.New(t)
	bot, _, _ := strings.Cut(srv.Token(), ":")
	st := rt.Store().BotState()
	to := common.HexToAddress("0x00000000000000000000000000000000000c7a51")
	stored := func(id int64, text string, begun int) {
		u := models.Update{ID: id, Message: &models.Message{ID: int(id), Text: text,
			Chat: models.Chat{ID: ownerDM.ID, Type: models.ChatTypePrivate}, From: &models.User{ID: owner.ID, Username: owner.Username}}}
		payload, _ := json.Marshal(u)
		if _, err := st.Put(ctx, bot, memory.BotUpdate{ID: id, Chat: ownerDM.ID, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		for range begun {
			if _, err := st.Begin(ctx, bot, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The chat exists at the server (its update comes after the stored
	// ones, whose ids are lower).
	srv.SendText(ownerDM, owner, "/c79")
	stored(101, "send 0.5 USDC to "+to.Hex(), 1)
	stored(102, "/c77", 1)
	stored(103, "/c78", 3)

	runBot(t, rt, srv, telegram.Config{})
	sent := srv.WaitSent(t, ownerDM.ID, 4)
	want := []string{"The bot stopped while it was handling your message", "Unknown command /c77.", "Handling your message failed several times", "Unknown command /c79."}
	for i, w := range want {
		if !strings.HasPrefix(sent[i].Text, w) {
			t.Fatalf("answer %d is %q, want it to start %q; all: %s", i, sent[i].Text, w, texts(sent))
		}
	}
	if bal := usdcOf(t, rt, to); bal.Sign() != 0 {
		t.Fatalf("interrupted free text was run again: the recipient holds %s", bal)
	}
	srv.WaitFor(t, "every stored update finished", func() bool {
		_, more, err := st.Next(ctx, bot, ownerDM.ID)
		return err == nil && !more
	})
	if len(srv.Sent(ownerDM.ID)) != 4 {
		t.Fatalf("the bot answered %s; want each update once", texts(srv.Sent(ownerDM.ID)))
	}
}

// The webhook endpoint stores an update only from the Bot API (its secret
// token), and answers 2xx only once it is stored.
func TestWebhookEndpoint(t *testing.T) {
	rt := devnet(t, nil)
	srv := tgtest.New(t)
	var h atomic.Value
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := h.Load().(http.Handler); ok {
			f.ServeHTTP(w, r)
			return
		}
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	t.Cleanup(hook.Close)
	const secret = "s3cret_for-tests"
	b, err := telegram.New(rt, telegram.Config{Token: srv.Token(), APIURL: srv.URL(), Owners: []int64{owner.ID},
		Webhook: telegram.Webhook{URL: hook.URL + "/tg", Secret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	h.Store(b.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	mark := write(srv, ownerDM, owner, "/c01")
	waitText(t, srv, ownerDM.ID, mark, "Unknown command /c01.")

	post := func(secret, body string) int {
		req, _ := http.NewRequest(http.MethodPost, hook.URL+"/tg", strings.NewReader(body))
		if secret != "" {
			req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	forged := `{"update_id":999,"message":{"message_id":9,"date":1,"chat":{"id":1001,"type":"private"},"from":{"id":1001,"is_bot":false,"first_name":"O"},"text":"/c02"}}`
	for _, c := range []struct {
		secret, body string
		want         int
	}{
		{"", forged, http.StatusUnauthorized},
		{"wrong", forged, http.StatusUnauthorized},
		{secret, "not json", http.StatusBadRequest},
		{secret, `{"update_id":1,"message":{"text":"` + strings.Repeat("x", 2<<20) + `"}}`, http.StatusBadRequest},
	} {
		if got := post(c.secret, c.body); got != c.want {
			t.Fatalf("POST with secret %q and a %d-byte body: %d, want %d", c.secret, len(c.body), got, c.want)
		}
	}
	if got := post(secret, forged); got != http.StatusOK {
		t.Fatalf("a well-formed update with the secret: %d, want 200", got)
	}
	waitText(t, srv, ownerDM.ID, mark, "Unknown command /c02.")
	if post(secret, forged) != http.StatusOK {
		t.Fatal("a redelivered update was refused; want 200 (it is stored already)")
	}
	mark = write(srv, ownerDM, owner, "/c03")
	waitText(t, srv, ownerDM.ID, mark, "Unknown command /c03.")
	if n := answers(srv, ownerDM.ID, "/c02"); n != 1 {
		t.Fatalf("the update delivered twice was answered %d times, want once", n)
	}
}

// A question from outside any chat (a standing order that triggered) goes
// to every owner's private chat; the first owner's press answers it, and
// the other owner's keyboard closes too.
func TestOrderApprovalAsksOwnersPrivately(t *testing.T) {
	ap := telegram.NewApprover()
	rt := devnet(t, ap)
	srv := tgtest.New(t)
	second := tgtest.User{ID: 1003, Username: "coowner"}
	secondDM := tgtest.Chat{ID: second.ID, Type: "private"}
	runBot(t, rt, srv, telegram.Config{Approver: ap, Owners: []int64{owner.ID, second.ID}})
	for _, dm := range []struct {
		chat tgtest.Chat
		user tgtest.User
	}{{ownerDM, owner}, {secondDM, second}} {
		mark := write(srv, dm.chat, dm.user, "/c01")
		waitText(t, srv, dm.chat.ID, mark, "Unknown command /c01.")
	}
	marks := []int{len(srv.Sent(ownerDM.ID)), len(srv.Sent(secondDM.ID))}
	in := policies.Transfer{To: "0x00000000000000000000000000000000000b0b02", Amount: big.NewInt(7_000_000),
		Token: policies.Token{Symbol: "USDC", Address: devnetUSDC.Hex(), Decimals: 6}}
	type verdict struct {
		ok  bool
		err error
	}
	res := make(chan verdict, 1)
	go func() {
		ok, err := ap.Approve(context.Background(), in, []string{"standing order #4 triggered"})
		res <- verdict{ok, err}
	}()
	waitText(t, srv, secondDM.ID, marks[1], "The policy asks an owner to confirm", "Send 7 USDC to")
	q := waitText(t, srv, ownerDM.ID, marks[0], "The policy asks an owner to confirm", "standing order #4")
	waitAnswer(t, srv, press(srv, ownerDM, owner, q.ID, q.Markup.InlineKeyboard[0][0].CallbackData), "Approved")
	if v := <-res; !v.ok || v.err != nil {
		t.Fatalf("Approve = %v, %v; want approved by the owner's press", v.ok, v.err)
	}
	waitText(t, srv, secondDM.ID, marks[1], "Approved by @owner")
}

// While the database refuses to store an update, polling stalls on it
// rather than confirming it unstored: once the database is back, the
// update is answered, once.
func TestPollingStallsWhileTheDatabaseIsAway(t *testing.T) {
	rt := devnet(t, nil)
	srv := tgtest.New(t)
	logs := &syncLog{}
	runBot(t, rt, srv, telegram.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	mark := write(srv, ownerDM, owner, "/c01")
	waitText(t, srv, ownerDM.ID, mark, "Unknown command /c01.")

	db, err := sql.Open("sqlite", strings.TrimPrefix(rt.DSN(), "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`ALTER TABLE bot_updates RENAME TO bot_updates_away`); err != nil {
		t.Fatal(err)
	}
	mark = write(srv, ownerDM, owner, "/c02")
	srv.WaitFor(t, "two failed attempts to store the update", func() bool {
		return strings.Count(logs.String(), "could not store an update") >= 2
	})
	if srv.Pending() == 0 {
		t.Fatal("the update the bot could not store was confirmed to the Bot API (nothing pending there); it would be lost")
	}
	if _, err := db.Exec(`ALTER TABLE bot_updates_away RENAME TO bot_updates`); err != nil {
		t.Fatal(err)
	}
	waitText(t, srv, ownerDM.ID, mark, "Unknown command /c02.")
	mark = write(srv, ownerDM, owner, "/c03")
	waitText(t, srv, ownerDM.ID, mark, "Unknown command /c03.")
	if n := answers(srv, ownerDM.ID, "/c02"); n != 1 {
		t.Fatalf("the update sent while the database was away was answered %d times, want once", n)
	}
}

// syncLog is a log sink a test reads while the bot writes.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
