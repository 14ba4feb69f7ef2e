package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/go-telegram/bot/models"
)

// Polling is written here rather than left to the client library, because
// the library confirms updates before they are handled: its poller hands
// each batch to a channel and at once asks for the next one (which tells
// the Bot API to forget the batch), so an update in the channel at a crash
// is lost. Here the next getUpdates is asked only once every update of the
// batch is stored (see inbox), and a store that fails stalls the poll
// instead of letting its update be confirmed unstored.

// pollTimeout is how long one getUpdates waits for an update (the Bot API
// holds the request open up to this).
const pollTimeout = 25 * time.Second

// defaultAPI is the Bot API's base URL unless Config.APIURL says otherwise.
const defaultAPI = "https://api.telegram.org"

// poll long-polls from the stored offset until ctx ends, or the token is
// refused (ErrUnauthorized), or a webhook is set (errWebhookSet).
func (b *Bot) poll(ctx context.Context) error {
	off, err := b.inbox.resumeOffset(ctx)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: pollTimeout + 15*time.Second}
	var backoff time.Duration
	for ctx.Err() == nil {
		ups, err := b.getUpdates(ctx, client, off)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrUnauthorized), errors.Is(err, errWebhookSet):
			return err
		case err != nil:
			var wait retryAfter
			if errors.As(err, &wait) {
				backoff = time.Duration(wait)
			} else {
				backoff = min(max(2*backoff, 100*time.Millisecond), 5*time.Second)
			}
			b.log.Warn("telegram: getUpdates failed; polling again shortly", "retry_in", backoff, "error", err.Error())
			sleep(ctx, backoff)
			continue
		}
		backoff = 0
		for _, u := range ups {
			b.track(ctx, u)
			if ctx.Err() != nil {
				return nil // u may be unstored: not confirmed, asked for again at the restart
			}
			off = u.ID + 1
		}
	}
	return nil
}

// errWebhookSet is getUpdates refused because a webhook is registered.
var errWebhookSet = errors.New("telegram: a webhook is set for this bot, so it cannot long-poll; run with --webhook (as the other deployment does), or remove the webhook (deleteWebhook) to poll")

// retryAfter is a 429's wait.
type retryAfter time.Duration

func (r retryAfter) Error() string {
	return fmt.Sprintf("too many requests: retry after %s", time.Duration(r))
}

// getUpdates asks for the updates from off on, confirming those before it.
func (b *Bot) getUpdates(ctx context.Context, client *http.Client, off int64) ([]*models.Update, error) {
	body, _ := json.Marshal(map[string]any{
		"offset": off, "timeout": int(pollTimeout / time.Second),
		"allowed_updates": []string{"message", "edited_message", "callback_query"},
	})
	base := strings.TrimRight(b.cfg.APIURL, "/")
	if base == "" {
		base = defaultAPI
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/bot"+b.cfg.Token+"/getUpdates", strings.NewReader(string(body)))
	if err != nil {
		return nil, fmt.Errorf("telegram: the Bot API URL is not usable: %w", redact(err, b.cfg.Token))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, redact(err, b.cfg.Token) // the URL holds the token
	}
	defer resp.Body.Close()
	var out struct {
		OK          bool             `json:"ok"`
		Result      []*models.Update `json:"result"`
		ErrorCode   int              `json:"error_code"`
		Description string           `json:"description"`
		Parameters  struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("reading getUpdates: %w", err)
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("getUpdates answered %d with something that is not the Bot API's JSON", resp.StatusCode)
	}
	switch {
	case out.OK:
		return out.Result, nil
	case resp.StatusCode == http.StatusUnauthorized || out.ErrorCode == http.StatusUnauthorized:
		return nil, ErrUnauthorized
	case out.ErrorCode == http.StatusConflict && strings.Contains(strings.ToLower(out.Description), "webhook"):
		return nil, errWebhookSet
	case out.ErrorCode == http.StatusTooManyRequests && out.Parameters.RetryAfter > 0:
		return nil, retryAfter(time.Duration(out.Parameters.RetryAfter) * time.Second)
	}
	return nil, fmt.Errorf("getUpdates: %d %s", out.ErrorCode, out.Description)
}

// redact keeps the token out of an error that quotes the request's URL.
func redact(err error, token string) error {
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), token, "<token>"))
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
