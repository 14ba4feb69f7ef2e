package tgtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/mandatehq/mandate/bots/telegram/tgtest"
)

var (
	alice   = tgtest.User{ID: 1001, Username: "alice", FirstName: "Alice"}
	bob     = tgtest.User{ID: 1002, Username: "bob", FirstName: "Bob"}
	dmAlice = tgtest.Chat{ID: 1001, Type: "private"}
	dmBob   = tgtest.Chat{ID: 1002, Type: "private"}
	group   = tgtest.Chat{ID: -100500, Type: "supergroup", Title: "Traders"}
)

// recorder collects the updates a real client hands to its handler.
type recorder struct {
	mu      sync.Mutex
	updates []*models.Update
}

func (r *recorder) handle(_ context.Context, _ *bot.Bot, u *models.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, u)
}

func (r *recorder) ids() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []int64
	for _, u := range r.updates {
		ids = append(ids, u.ID)
	}
	return ids
}

func (r *recorder) wait(t *testing.T, srv *tgtest.Server, n int) []*models.Update {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		got := append([]*models.Update(nil), r.updates...)
		r.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("bot received %d updates, want %d (stats %+v)", len(got), n, srv.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newBot(t *testing.T, srv *tgtest.Server, opts ...bot.Option) *bot.Bot {
	t.Helper()
	opts = append([]bot.Option{bot.WithServerURL(srv.URL()), bot.WithNotAsyncHandlers(),
		bot.WithErrorsHandler(func(err error) { t.Logf("client: %v", err) })}, opts...)
	b, err := bot.New(srv.Token(), opts...)
	if err != nil {
		t.Fatalf("bot.New: %v", err)
	}
	return b
}

// startPolling runs the client's long polling until the returned stop is called.
func startPolling(t *testing.T, b *bot.Bot) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.Start(ctx); close(done) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return sync.OnceFunc(stop)
}

// call is a raw Bot API call with a JSON body, for what the client library does not expose.
func call(t *testing.T, srv *tgtest.Server, method string, body any) (int, map[string]json.RawMessage) {
	t.Helper()
	st, out, err := rawCall(srv, method, body)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return st, out
}

// rawCall is call for goroutines, where a test may not stop.
func rawCall(srv *tgtest.Server, method string, body any) (int, map[string]json.RawMessage, error) {
	b, _ := json.Marshal(body)
	resp, err := http.Post(srv.URL()+"/bot"+srv.Token()+"/"+method, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, nil, fmt.Errorf("decode: %w", err)
	}
	return resp.StatusCode, out, nil
}

func updateIDs(t *testing.T, res json.RawMessage) []int64 {
	t.Helper()
	var ups []struct {
		UpdateID int64 `json:"update_id"`
	}
	if err := json.Unmarshal(res, &ups); err != nil {
		t.Fatalf("decode updates %s: %v", res, err)
	}
	var ids []int64
	for _, u := range ups {
		ids = append(ids, u.UpdateID)
	}
	return ids
}

func TestLongPollingDeliversEachUpdateOnceAcrossRestart(t *testing.T) {
	srv := tgtest.New(t)
	first := &recorder{}
	b1 := newBot(t, srv, bot.WithDefaultHandler(first.handle))
	stop1 := startPolling(t, b1)

	want := []int64{
		srv.SendText(dmAlice, alice, "/start"),
		srv.SendText(dmAlice, alice, "hello"),
		srv.SendText(group, bob, "/price@mandate_test_bot ETH"),
	}
	got := first.wait(t, srv, 3)
	// The client confirms by asking for offset = last+1 in its next long poll.
	srv.WaitFor(t, "3 confirmed updates", func() bool { return srv.Stats().UpdatesConfirmed == 3 })
	stop1()
	srv.WaitFor(t, "the stopped client's long poll to end", func() bool { return srv.Polling() == 0 })

	if got[0].Message.Text != "/start" || got[0].Message.Entities[0].Type != models.MessageEntityTypeBotCommand {
		t.Fatalf("first update = %+v, want /start with a bot_command entity", got[0].Message)
	}
	if got[2].Message.Chat.Type != models.ChatTypeSupergroup || got[2].Message.From.Username != "bob" {
		t.Fatalf("group update chat/from = %+v / %+v", got[2].Message.Chat, got[2].Message.From)
	}

	want = append(want, srv.SendText(dmBob, bob, "after restart"), srv.EditText(dmAlice, alice, int64(got[1].Message.ID), "hello again"))
	second := &recorder{}
	b2 := newBot(t, srv, bot.WithDefaultHandler(second.handle))
	startPolling(t, b2)
	later := second.wait(t, srv, 2)
	srv.WaitFor(t, "5 confirmed updates", func() bool { return srv.Stats().UpdatesConfirmed == 5 })

	all := append(first.ids(), second.ids()...)
	if len(all) != len(want) {
		t.Fatalf("updates received %v, want exactly %v", all, want)
	}
	for i := range want {
		if all[i] != want[i] {
			t.Fatalf("updates received %v, want exactly %v", all, want)
		}
	}
	if later[1].EditedMessage == nil || later[1].EditedMessage.Text != "hello again" || later[1].EditedMessage.EditDate == 0 {
		t.Fatalf("edited update = %+v", later[1])
	}
	if st := srv.Stats(); st.Redeliveries != 0 || st.UpdatesDelivered != 5 {
		t.Fatalf("stats %+v, want 5 deliveries and no redelivery", st)
	}
}

func TestGetUpdatesOffsetTimeoutAndConflict(t *testing.T) {
	srv := tgtest.New(t)
	id1 := srv.SendText(dmAlice, alice, "one")
	id2 := srv.SendText(dmAlice, alice, "two")

	// Without an offset nothing is confirmed: a crashed client sees the same updates again.
	for range 2 {
		_, out := call(t, srv, "getUpdates", map[string]any{"limit": 1})
		if ids := updateIDs(t, out["result"]); len(ids) != 1 || ids[0] != id1 {
			t.Fatalf("getUpdates limit 1 = %v, want [%d]", ids, id1)
		}
	}
	_, out := call(t, srv, "getUpdates", map[string]any{"offset": id1 + 1})
	if ids := updateIDs(t, out["result"]); len(ids) != 1 || ids[0] != id2 {
		t.Fatalf("getUpdates after offset = %v, want [%d]", ids, id2)
	}
	if st := srv.Stats(); st.Redeliveries != 1 || st.UpdatesConfirmed != 1 {
		t.Fatalf("stats %+v, want 1 redelivery and 1 confirmed", st)
	}

	// A long poll waits for the next update instead of answering empty.
	type answer struct {
		status int
		out    map[string]json.RawMessage
		err    error
	}
	polled := make(chan answer, 1)
	go func() {
		st, out, err := rawCall(srv, "getUpdates", map[string]any{"offset": id2 + 1, "timeout": 30})
		polled <- answer{st, out, err}
	}()
	srv.WaitFor(t, "the long poll to arrive", func() bool { return srv.Stats().Requests["getUpdates"] == 4 })
	id3 := srv.SendText(dmBob, bob, "three")
	if a := <-polled; a.err != nil || a.status != 200 {
		t.Fatalf("long poll: %d %v", a.status, a.err)
	} else if ids := updateIDs(t, a.out["result"]); len(ids) != 1 || ids[0] != id3 {
		t.Fatalf("long poll = %v, want [%d]", ids, id3)
	}

	// Two pollers: the newer one ends the waiting one with 409, as Telegram does.
	conflict := make(chan int, 1)
	go func() {
		st, _, _ := rawCall(srv, "getUpdates", map[string]any{"offset": id3 + 1, "timeout": 30})
		conflict <- st
	}()
	srv.WaitFor(t, "the first long poll to arrive", func() bool { return srv.Stats().Requests["getUpdates"] == 5 })
	if st, _ := call(t, srv, "getUpdates", map[string]any{"offset": id3 + 1}); st != 200 {
		t.Fatalf("second poller got %d", st)
	}
	if st := <-conflict; st != http.StatusConflict {
		t.Fatalf("superseded long poll got %d, want 409", st)
	}

	// A short poll with an expired timeout answers an empty list.
	_, out = call(t, srv, "getUpdates", map[string]any{"offset": id3 + 1, "timeout": 1})
	if ids := updateIDs(t, out["result"]); len(ids) != 0 {
		t.Fatalf("empty long poll = %v", ids)
	}
}

func TestAllowedUpdatesFiltersLaterUpdates(t *testing.T) {
	srv := tgtest.New(t)
	call(t, srv, "getUpdates", map[string]any{"allowed_updates": []string{"callback_query"}})
	srv.SendText(dmAlice, alice, "ignored")
	id := srv.PressButton(dmAlice, alice, 1, "approve:1")
	_, out := call(t, srv, "getUpdates", map[string]any{})
	if ids := updateIDs(t, out["result"]); len(ids) != 1 || ids[0] != id {
		t.Fatalf("getUpdates = %v, want only the callback query %d", ids, id)
	}
}

func TestRateLimitsAnswer429WithRetryAfter(t *testing.T) {
	srv := tgtest.New(t, tgtest.WithLimits(tgtest.Limits{
		Global: 4, GlobalWindow: time.Hour,
		PerChat: 1, PerChatWindow: time.Hour,
		PerGroup: 20, PerGroupWindow: time.Hour,
	}))
	for _, c := range []tgtest.Chat{dmAlice, dmBob, group} {
		srv.SendText(c, alice, "hi")
	}
	b := newBot(t, srv)
	ctx := context.Background()
	send := func(chat int64) error {
		_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: chat, Text: "answer"})
		return err
	}
	if err := send(dmAlice.ID); err != nil {
		t.Fatalf("first message: %v", err)
	}
	err := send(dmAlice.ID)
	var tooMany *bot.TooManyRequestsError
	if !errors.As(err, &tooMany) || tooMany.RetryAfter < 3590 || !strings.Contains(tooMany.Message, "retry after") {
		t.Fatalf("second message in a chat within the window: %v, want 429 with retry_after about an hour", err)
	}
	// Chat actions and callback answers are not messages.
	for range 3 {
		if _, err := b.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: dmAlice.ID, Action: models.ChatActionTyping}); err != nil {
			t.Fatalf("sendChatAction: %v", err)
		}
	}
	if err := send(dmBob.ID); err != nil {
		t.Fatalf("other chat: %v", err)
	}
	if err := send(group.ID); err != nil {
		t.Fatalf("group: %v", err)
	}
	srv.SendText(tgtest.Chat{ID: 77, Type: "private"}, alice, "hi")
	srv.SendText(tgtest.Chat{ID: 78, Type: "private"}, alice, "hi")
	if err := send(77); err != nil {
		t.Fatalf("fourth message overall: %v", err)
	}
	if err := send(78); !bot.IsTooManyRequestsError(err) {
		t.Fatalf("fifth message overall within the global window: %v, want 429", err)
	}
	if st := srv.Stats(); st.TooManyRequests != 2 || st.Requests["sendChatAction"] != 3 {
		t.Fatalf("stats %+v", st)
	}
	if n := len(srv.Sent(dmAlice.ID)); n != 1 {
		t.Fatalf("a refused message was recorded: %d messages", n)
	}
}

func TestGroupLimitAndRecoveryAfterWindow(t *testing.T) {
	srv := tgtest.New(t, tgtest.WithLimits(tgtest.Limits{PerGroup: 2, PerGroupWindow: 200 * time.Millisecond}))
	srv.SendText(group, alice, "hi")
	srv.SendText(dmAlice, alice, "hi")
	b := newBot(t, srv)
	ctx := context.Background()
	for i := range 2 {
		if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: group.ID, Text: "ok"}); err != nil {
			t.Fatalf("group message %d: %v", i, err)
		}
	}
	_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: group.ID, Text: "over"})
	var tooMany *bot.TooManyRequestsError
	if !errors.As(err, &tooMany) || tooMany.RetryAfter != 1 {
		t.Fatalf("third group message: %v, want 429 retry after 1", err)
	}
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: dmAlice.ID, Text: "private is not a group"}); err != nil {
		t.Fatalf("private chat: %v", err)
	}
	// Once the window slides past, the group may be written to again.
	for attempt := 0; ; attempt++ {
		_, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: group.ID, Text: "later"})
		if err == nil {
			break
		}
		if !bot.IsTooManyRequestsError(err) || attempt > 200 {
			t.Fatalf("after the window: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMarkdownV2AndLengthErrors(t *testing.T) {
	srv := tgtest.New(t, tgtest.WithLimits(tgtest.NoLimits()))
	srv.SendText(dmAlice, alice, "hi")
	b := newBot(t, srv)
	ctx := context.Background()
	send := func(text string) (*models.Message, error) {
		return b.SendMessage(ctx, &bot.SendMessageParams{ChatID: dmAlice.ID, Text: text, ParseMode: models.ParseModeMarkdown})
	}
	for _, bad := range []string{"Price: 1.5 ETH", "balance (ETH)", "*bold", "a_b", "[link](https://example.com", "use -x", "50% off!"} {
		_, err := send(bad)
		if !errors.Is(err, bot.ErrorBadRequest) || !strings.Contains(err.Error(), "can't parse entities") {
			t.Fatalf("%q: %v, want 400 can't parse entities", bad, err)
		}
	}
	name := "*_[ token"
	m, err := send("*Swap* " + bot.EscapeMarkdown(name) + " for 1\\.5 ETH [docs](https://example.com/a_b)")
	if err != nil {
		t.Fatalf("escaped markdown: %v", err)
	}
	if m.Text != "Swap *_[ token for 1.5 ETH docs" {
		t.Fatalf("visible text %q", m.Text)
	}
	sent := srv.Sent(dmAlice.ID)
	var types []string
	for _, e := range sent[0].Entities {
		types = append(types, string(e.Type))
	}
	if strings.Join(types, ",") != "bold,text_link" || sent[0].Entities[1].URL != "https://example.com/a_b" {
		t.Fatalf("entities %+v", sent[0].Entities)
	}

	long := strings.Repeat("a", 4097)
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: dmAlice.ID, Text: long}); err == nil || !strings.Contains(err.Error(), "message is too long") {
		t.Fatalf("4097 characters: %v", err)
	}
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: dmAlice.ID, Text: long[:4096]}); err != nil {
		t.Fatalf("4096 characters: %v", err)
	}
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: 999, Text: "x"}); err == nil || !strings.Contains(err.Error(), "chat not found") {
		t.Fatalf("unknown chat: %v", err)
	}

	// Editing to the same content is refused; the edit is recorded otherwise.
	edit := func(text string) error {
		_, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: dmAlice.ID, MessageID: m.ID, Text: text, ParseMode: models.ParseModeMarkdown})
		return err
	}
	if err := edit("thinking\\.\\.\\."); err != nil {
		t.Fatalf("edit: %v", err)
	}
	if err := edit("thinking\\.\\.\\."); err == nil || !strings.Contains(err.Error(), "message is not modified") {
		t.Fatalf("same edit: %v", err)
	}
	if err := edit("1.5"); err == nil || !strings.Contains(err.Error(), "can't parse entities") {
		t.Fatalf("bad markdown edit: %v", err)
	}
	got := srv.Sent(dmAlice.ID)
	if last := got[len(got)-1]; last.Kind != "edit" || last.Text != "thinking..." || last.ID != int64(m.ID) {
		t.Fatalf("last recorded %+v", last)
	}
}

func TestParseMarkdownV2Cases(t *testing.T) {
	srv := tgtest.New(t, tgtest.WithLimits(tgtest.NoLimits()))
	srv.SendText(dmAlice, alice, "hi")
	cases := []struct {
		in, text, err string
	}{
		{in: "*bold* _it_ __under__ ~gone~ ||secret||", text: "bold it under gone secret"},
		{in: "`code with * _ . !`", text: "code with * _ . !"},
		{in: "```go\nfmt.Println(\"a.b\")\n```", text: "fmt.Println(\"a.b\")\n"},
		{in: ">quoted line\n>second", text: "quoted line\nsecond"},
		{in: "\\*not bold\\* 1\\.0 \\(x\\) a\\-b c\\=d e\\|f \\{g\\} h\\#i \\+ \\! \\>", text: "*not bold* 1.0 (x) a-b c=d e|f {g} h#i + ! >"},
		{in: "*bold _nested_ bold*", text: "bold nested bold"},
		{in: "[a](tg://user?id=42)", text: "a"},
		{in: "1.5", err: "Character '.' is reserved"},
		{in: "x > y", err: "Character '>' is reserved"},
		{in: "*open", err: "Can't find end of Bold entity at byte offset 0"},
		{in: "ok _open", err: "Can't find end of Italic entity at byte offset 3"},
		{in: "`open", err: "Can't find end of Code entity"},
		{in: "a|b", err: "Character '|' is reserved"},
		{in: "[x](http://e.com", err: "Can't find end of a URL"},
	}
	for _, c := range cases {
		st, out := call(t, srv, "sendMessage", map[string]any{"chat_id": dmAlice.ID, "text": c.in, "parse_mode": "MarkdownV2"})
		if c.err != "" {
			var desc string
			_ = json.Unmarshal(out["description"], &desc)
			if st != 400 || !strings.Contains(desc, "can't parse entities: "+c.err) {
				t.Errorf("%q: %d %q, want 400 with %q", c.in, st, desc, c.err)
			}
			continue
		}
		var m struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(out["result"], &m)
		if st != 200 || m.Text != c.text {
			t.Errorf("%q: %d %s, want text %q", c.in, st, out["description"], c.text)
		}
	}
}

func TestRevokedTokenAnswers401(t *testing.T) {
	srv := tgtest.New(t)
	if _, err := bot.New("123456:wrong", bot.WithServerURL(srv.URL())); !errors.Is(err, bot.ErrorUnauthorized) {
		t.Fatalf("wrong token: %v, want ErrorUnauthorized", err)
	}
	srv.SendText(dmAlice, alice, "hi")
	b := newBot(t, srv)
	srv.Revoke()
	_, err := b.SendMessage(context.Background(), &bot.SendMessageParams{ChatID: dmAlice.ID, Text: "x"})
	if !errors.Is(err, bot.ErrorUnauthorized) {
		t.Fatalf("after revoke: %v, want ErrorUnauthorized", err)
	}
	if _, err := b.GetMe(context.Background()); !errors.Is(err, bot.ErrorUnauthorized) {
		t.Fatalf("getMe after revoke: %v", err)
	}
	if st := srv.Stats(); st.Unauthorized != 3 {
		t.Fatalf("stats %+v, want 3 unauthorized", st)
	}
}

func TestWebhookDeliveryWithSecretAndRetry(t *testing.T) {
	srv := tgtest.New(t)
	var mu sync.Mutex
	var secrets []string
	var got []int64
	fail := 1
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var u struct {
			UpdateID int64 `json:"update_id"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &u)
		mu.Lock()
		defer mu.Unlock()
		secrets = append(secrets, r.Header.Get("X-Telegram-Bot-Api-Secret-Token"))
		got = append(got, u.UpdateID)
		if fail > 0 {
			fail--
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(hook.Close)

	b := newBot(t, srv)
	ctx := context.Background()
	if _, err := b.SetWebhook(ctx, &bot.SetWebhookParams{URL: hook.URL, SecretToken: "s3cret-token_1"}); err != nil {
		t.Fatalf("setWebhook: %v", err)
	}
	if st, out := call(t, srv, "getUpdates", map[string]any{}); st != http.StatusConflict {
		t.Fatalf("getUpdates with a webhook: %d %s, want 409", st, out["description"])
	}
	id := srv.SendText(dmAlice, alice, "/balance")
	srv.WaitFor(t, "the update confirmed by the webhook", func() bool { return srv.Stats().UpdatesConfirmed == 1 })
	mu.Lock()
	if len(got) != 2 || got[0] != id || got[1] != id || secrets[0] != "s3cret-token_1" || secrets[1] != "s3cret-token_1" {
		t.Fatalf("webhook got %v with secrets %q, want %d twice (one failed attempt, one retry)", got, secrets, id)
	}
	mu.Unlock()
	info, err := b.GetWebhookInfo(ctx)
	if err != nil || info.URL != hook.URL || info.PendingUpdateCount != 0 || !strings.Contains(info.LastErrorMessage, "500") {
		t.Fatalf("getWebhookInfo %+v, %v", info, err)
	}
	if _, err := b.SetWebhook(ctx, &bot.SetWebhookParams{URL: hook.URL, SecretToken: "bad secret!"}); !errors.Is(err, bot.ErrorBadRequest) {
		t.Fatalf("bad secret accepted: %v", err)
	}
	if _, err := b.DeleteWebhook(ctx, &bot.DeleteWebhookParams{}); err != nil {
		t.Fatalf("deleteWebhook: %v", err)
	}
	if st, _ := call(t, srv, "getUpdates", map[string]any{}); st != 200 {
		t.Fatalf("getUpdates after deleteWebhook: %d", st)
	}
}

func TestWebhookWithRealClientHandler(t *testing.T) {
	srv := tgtest.New(t, tgtest.WithLimits(tgtest.NoLimits()))
	rec := &recorder{}
	b := newBot(t, srv, bot.WithWebhookSecretToken("right"), bot.WithDefaultHandler(rec.handle))
	hook := httptest.NewServer(b.WebhookHandler())
	t.Cleanup(hook.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { b.StartWebhook(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	if _, err := b.SetWebhook(ctx, &bot.SetWebhookParams{URL: hook.URL, SecretToken: "right"}); err != nil {
		t.Fatalf("setWebhook: %v", err)
	}
	id := srv.SendText(group, alice, "@mandate_test_bot what is my balance?")
	ups := rec.wait(t, srv, 1)
	if ups[0].ID != id || ups[0].Message.Entities[0].Type != models.MessageEntityTypeMention {
		t.Fatalf("update %+v", ups[0].Message)
	}
}

func TestButtonsAndCallbackAnswers(t *testing.T) {
	srv := tgtest.New(t, tgtest.WithLimits(tgtest.NoLimits()))
	rec := &recorder{}
	b := newBot(t, srv, bot.WithDefaultHandler(rec.handle))
	startPolling(t, b)
	srv.SendText(dmAlice, alice, "/swap 1 ETH")
	rec.wait(t, srv, 1)
	ctx := context.Background()
	kb := &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{
		{Text: "Approve", CallbackData: "ok:7"}, {Text: "Reject", CallbackData: "no:7"},
	}}}
	m, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: dmAlice.ID, Text: "Approve swap?", ReplyMarkup: kb})
	if err != nil {
		t.Fatalf("send keyboard: %v", err)
	}
	tooLong := &models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{{{Text: "x", CallbackData: strings.Repeat("d", 65)}}}}
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: dmAlice.ID, Text: "x", ReplyMarkup: tooLong}); err == nil || !strings.Contains(err.Error(), "BUTTON_DATA_INVALID") {
		t.Fatalf("65-byte callback data: %v", err)
	}
	srv.PressButton(dmAlice, alice, int64(m.ID), "ok:7")
	ups := rec.wait(t, srv, 2)
	q := ups[1].CallbackQuery
	if q == nil || q.Data != "ok:7" || q.From.ID != alice.ID || q.Message.Message == nil || q.Message.Message.ID != m.ID ||
		len(q.Message.Message.ReplyMarkup.InlineKeyboard[0]) != 2 {
		t.Fatalf("callback query %+v", q)
	}
	if _, err := b.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: q.ID, Text: "Approved"}); err != nil {
		t.Fatalf("answer: %v", err)
	}
	if _, err := b.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: q.ID}); err == nil {
		t.Fatal("second answer to one query accepted")
	}
	// Editing the text without a keyboard removes the buttons, as in Telegram.
	if _, err := b.EditMessageText(ctx, &bot.EditMessageTextParams{ChatID: dmAlice.ID, MessageID: m.ID, Text: "Approved by alice"}); err != nil {
		t.Fatalf("edit: %v", err)
	}
	sent := srv.WaitSent(t, dmAlice.ID, 2)
	if sent[0].Markup == nil || sent[0].Markup.InlineKeyboard[0][1].CallbackData != "no:7" || sent[1].Markup != nil {
		t.Fatalf("recorded %+v", sent)
	}
	if a := srv.Answers(); len(a) != 1 || a[0].Text != "Approved" {
		t.Fatalf("answers %+v", a)
	}
	if _, err := b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: dmAlice.ID, MessageID: m.ID}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := b.DeleteMessage(ctx, &bot.DeleteMessageParams{ChatID: dmAlice.ID, MessageID: m.ID}); err == nil {
		t.Fatal("deleting twice succeeded")
	}
}

func pngBytes(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.RGBA{R: 255, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestPhotoUploadRecordedAndStickerUpdate(t *testing.T) {
	srv := tgtest.New(t, tgtest.WithLimits(tgtest.NoLimits()))
	rec := &recorder{}
	b := newBot(t, srv, bot.WithDefaultHandler(rec.handle))
	startPolling(t, b)
	srv.SendSticker(dmAlice, alice, "🚀")
	srv.SendPhoto(dmAlice, alice, pngBytes(t), "my chart")
	ups := rec.wait(t, srv, 2)
	if ups[0].Message.Sticker == nil || ups[0].Message.Sticker.Emoji != "🚀" || ups[0].Message.Text != "" {
		t.Fatalf("sticker update %+v", ups[0].Message)
	}
	if p := ups[1].Message.Photo; len(p) != 1 || p[0].Width != 4 || p[0].Height != 3 || ups[1].Message.Caption != "my chart" {
		t.Fatalf("photo update %+v", ups[1].Message)
	}

	ctx := context.Background()
	img := pngBytes(t)
	m, err := b.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: dmAlice.ID, Caption: "ETH 24h",
		Photo: &models.InputFileUpload{Filename: "chart.png", Data: bytes.NewReader(img)}})
	if err != nil {
		t.Fatalf("sendPhoto: %v", err)
	}
	if len(m.Photo) != 1 || m.Photo[0].FileID == "" || m.Caption != "ETH 24h" {
		t.Fatalf("sendPhoto result %+v", m)
	}
	sent := srv.WaitSent(t, dmAlice.ID, 1)
	if sent[0].Kind != "photo" || !bytes.Equal(sent[0].Photo, img) || sent[0].Text != "ETH 24h" {
		t.Fatalf("recorded %+v", sent[0])
	}
	// Re-sending by file_id reuses the stored bytes.
	if _, err := b.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: dmAlice.ID, Photo: &models.InputFileString{Data: m.Photo[0].FileID}}); err != nil {
		t.Fatalf("sendPhoto by file_id: %v", err)
	}
	if _, err := b.SendPhoto(ctx, &bot.SendPhotoParams{ChatID: dmAlice.ID,
		Photo: &models.InputFileUpload{Filename: "chart.png", Data: strings.NewReader("not an image")}}); err == nil || !strings.Contains(err.Error(), "IMAGE_PROCESS_FAILED") {
		t.Fatalf("garbage photo: %v", err)
	}
	if got := srv.Sent(dmAlice.ID); len(got) != 2 || !bytes.Equal(got[1].Photo, img) {
		t.Fatalf("recorded %d photos", len(got))
	}
}

func TestFaultsAnd5xx(t *testing.T) {
	srv := tgtest.New(t, tgtest.WithLimits(tgtest.NoLimits()),
		tgtest.WithFaults(tgtest.Fault{Method: "sendMessage", Status: 502, Times: 1}, tgtest.Fault{Method: "sendChatAction", Garbage: true}))
	srv.SendText(dmAlice, alice, "hi")
	b := newBot(t, srv)
	ctx := context.Background()
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: dmAlice.ID, Text: "x"}); err == nil || !strings.Contains(err.Error(), "502") {
		t.Fatalf("faulted send: %v", err)
	}
	if _, err := b.SendMessage(ctx, &bot.SendMessageParams{ChatID: dmAlice.ID, Text: "x"}); err != nil {
		t.Fatalf("send after the fault: %v", err)
	}
	if _, err := b.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: dmAlice.ID, Action: models.ChatActionTyping}); err == nil || !strings.Contains(err.Error(), "decode") {
		t.Fatalf("garbage body: %v", err)
	}
	if st := srv.Stats(); st.Faults != 2 || len(srv.Sent(dmAlice.ID)) != 1 {
		t.Fatalf("stats %+v, sent %d", st, len(srv.Sent(dmAlice.ID)))
	}
}

func TestCommandsAndURLEncodedBodies(t *testing.T) {
	srv := tgtest.New(t)
	b := newBot(t, srv)
	ctx := context.Background()
	if _, err := b.SetMyCommands(ctx, &bot.SetMyCommandsParams{Commands: []models.BotCommand{{Command: "balance", Description: "Show balances"}}}); err != nil {
		t.Fatalf("setMyCommands: %v", err)
	}
	if _, err := b.SetMyCommands(ctx, &bot.SetMyCommandsParams{Commands: []models.BotCommand{{Command: "Bad-Cmd", Description: "x"}}}); err == nil {
		t.Fatal("invalid command accepted")
	}
	if got := srv.Commands(); len(got) != 1 || got[0] != "balance: Show balances" {
		t.Fatalf("commands %v", got)
	}
	srv.SendText(dmAlice, alice, "hi")
	resp, err := http.PostForm(srv.URL()+"/bot"+srv.Token()+"/sendMessage", url.Values{"chat_id": {"1001"}, "text": {"form body"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || srv.Sent(dmAlice.ID)[0].Text != "form body" {
		t.Fatalf("urlencoded sendMessage: %d", resp.StatusCode)
	}
}

func TestPrivacyModeDeliversOnlyAddressedGroupMessages(t *testing.T) {
	srv := tgtest.New(t, tgtest.WithPrivacyMode(), tgtest.WithLimits(tgtest.NoLimits()))
	call(t, srv, "getMe", nil)
	chatter := srv.SendText(group, bob, "gm everyone")
	other := srv.SendText(group, bob, "/price@other_bot ETH")
	cmd := srv.SendText(group, bob, "/price ETH")
	mention := srv.SendText(group, bob, "hey @Mandate_Test_Bot")
	dm := srv.SendText(dmBob, bob, "no mention needed here")
	if chatter != 0 || other != 0 || cmd == 0 || mention == 0 || dm == 0 {
		t.Fatalf("delivered ids: chatter %d, other bot %d, command %d, mention %d, dm %d", chatter, other, cmd, mention, dm)
	}
	_, out := call(t, srv, "sendMessage", map[string]any{"chat_id": group.ID, "text": "price is 3000"})
	var sent struct {
		MessageID int64 `json:"message_id"`
	}
	_ = json.Unmarshal(out["result"], &sent)
	if reply := srv.ReplyText(group, bob, sent.MessageID, "and BTC?"); reply == 0 {
		t.Fatal("a reply to the bot was not delivered")
	}
	if n := srv.Pending(); n != 4 {
		t.Fatalf("pending updates %d, want 4", n)
	}
}

func TestRevokeStopsALongPollingClient(t *testing.T) {
	srv := tgtest.New(t)
	errs := make(chan error, 16)
	b, err := bot.New(srv.Token(), bot.WithServerURL(srv.URL()), bot.WithErrorsHandler(func(err error) {
		select {
		case errs <- err:
		default:
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	startPolling(t, b)
	srv.WaitFor(t, "the client's long poll", func() bool { return srv.Polling() == 1 })
	srv.Revoke()
	select {
	case err := <-errs:
		if !errors.Is(err, bot.ErrorUnauthorized) {
			t.Fatalf("client error %v, want ErrorUnauthorized", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the polling client saw no error after the token was revoked")
	}
}
