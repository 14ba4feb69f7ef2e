package telegram

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	tg "github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
)

// Webhook configures receiving updates by webhook. Replicas behind a load
// balancer share one URL and one database (PostgreSQL): any replica may
// receive any update; the database keeps each handled once and a chat's
// in order (see inbox), and a button pressed on one replica answers the
// question another asked.
type Webhook struct {
	// URL is where the Bot API posts updates: public, HTTPS in production.
	URL string
	// Listen is the address Run serves the webhook on (e.g. ":8443"); its
	// path is URL's. Empty: Run does not serve, and the program mounts
	// Bot.Handler in its own server.
	Listen string
	// Secret is the secret_token the Bot API sends back with each update
	// (1-256 of A-Z a-z 0-9 _ -). Empty: derived from the bot token, so
	// every replica given the same token agrees on it without another
	// setting, and the token cannot be recovered from it.
	Secret string
	// MaxConnections is how many deliveries the Bot API makes at once
	// (1-100; 0: 40, its default).
	MaxConnections int
}

// maxUpdateBytes bounds a webhook request: an update is a few kilobytes.
const maxUpdateBytes = 1 << 20

// Check reports what is wrong with w, in one line; New checks it too.
func (w Webhook) Check() error {
	if w.URL == "" {
		if w.Listen != "" {
			return errors.New("telegram: a webhook address to listen on was given without its public URL; set both")
		}
		return nil
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("telegram: webhook URL %q is not an http(s) URL; give the public https://host/path the Bot API should post to", w.URL)
	}
	if w.Secret != "" && !validSecret(w.Secret) {
		return errors.New("telegram: the webhook secret must be 1 to 256 of A-Z, a-z, 0-9, _ and -")
	}
	if w.MaxConnections < 0 || w.MaxConnections > 100 {
		return fmt.Errorf("telegram: webhook max connections %d is outside 1-100", w.MaxConnections)
	}
	return nil
}

func validSecret(s string) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// secret is the webhook's secret token.
func (b *Bot) secret() string {
	if b.cfg.Webhook.Secret != "" {
		return b.cfg.Webhook.Secret
	}
	m := hmac.New(sha256.New, []byte(b.cfg.Token))
	m.Write([]byte("mandate telegram webhook secret"))
	return hex.EncodeToString(m.Sum(nil))
}

// track takes one polled update in. The poll cannot refuse an update, but
// it confirms one only when it asks for the next batch, after this
// returns: so a store that fails is retried, the bot stalling while its
// database is away, rather than let the update be confirmed unstored. One
// a stop interrupts is asked for again at the restart.
func (b *Bot) track(ctx context.Context, u *models.Update) {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		err := b.take(ctx, u)
		if err == nil || ctx.Err() != nil {
			return
		}
		b.log.Error("telegram: could not store an update; retrying before polling on", "update", u.ID, "retry_in", wait, "error", err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// take stores a message or an edit and kicks its chat; a button press is
// handled at once, beside the chat's queue, since a turn may be waiting
// for it (the database makes a press act once whichever replica gets it).
func (b *Bot) take(ctx context.Context, u *models.Update) error {
	run := b.running()
	if run == nil {
		return errors.New("telegram: the bot is not running")
	}
	var m *models.Message
	switch {
	case u.CallbackQuery != nil:
		q := u.CallbackQuery
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.safely(run, 0, func() { b.ap.press(run, b, q) })
		}()
		return nil
	case u.Message != nil:
		m = u.Message
	case u.EditedMessage != nil:
		m = u.EditedMessage
	default:
		return nil
	}
	if !b.paced(run, m) {
		return nil
	}
	fresh, err := b.inbox.put(ctx, m.Chat.ID, u)
	if err != nil {
		return err
	}
	if fresh {
		b.inbox.kick(run, m.Chat.ID)
	}
	return nil
}

// Handler is the webhook endpoint: it checks the secret token, stores the
// update and only then answers 200, so an update it could not store is
// delivered again (503). Run serves it when Webhook.Listen is set; a
// program with its own server mounts it instead, while Run runs.
func (b *Bot) Handler() http.Handler {
	secret := []byte(b.secret())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST updates here", http.StatusMethodNotAllowed)
			return
		}
		got := []byte(r.Header.Get("X-Telegram-Bot-Api-Secret-Token"))
		if subtle.ConstantTimeCompare(got, secret) != 1 {
			http.Error(w, "wrong or missing secret token", http.StatusUnauthorized)
			return
		}
		var u models.Update
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxUpdateBytes)).Decode(&u); err != nil {
			http.Error(w, "the body is not a Telegram update", http.StatusBadRequest)
			return
		}
		if err := b.take(r.Context(), &u); err != nil {
			b.log.Warn("telegram: could not store a webhook update; the Bot API will deliver it again", "update", u.ID, "error", err.Error())
			http.Error(w, "not stored; deliver again", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

// serveWebhook registers the webhook and, when Webhook.Listen is set,
// serves Handler there until ctx ends. The webhook is left registered at
// a stop: other replicas may still be serving it, and the Bot API keeps
// the updates until one answers.
func (b *Bot) serveWebhook(ctx context.Context) error {
	wh := b.cfg.Webhook
	_, err := b.api.SetWebhook(ctx, &tg.SetWebhookParams{
		URL: wh.URL, SecretToken: b.secret(), MaxConnections: wh.MaxConnections,
		AllowedUpdates: []string{"message", "edited_message", "callback_query"},
	})
	if err != nil {
		return b.apiErr(fmt.Errorf("setting the webhook: %w", err))
	}
	if wh.Listen == "" {
		<-ctx.Done()
		return nil
	}
	u, _ := url.Parse(wh.URL) // checked in New
	path := u.Path
	if path == "" {
		path = "/"
	}
	mux := http.NewServeMux()
	mux.Handle(path, b.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
	ln, err := net.Listen("tcp", wh.Listen)
	if err != nil {
		return fmt.Errorf("telegram: listening for the webhook on %s: %w", wh.Listen, err)
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("telegram: serving the webhook: %w", err)
	}
	return nil
}
