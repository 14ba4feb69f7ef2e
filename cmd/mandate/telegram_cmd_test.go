package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/bots/telegram/tgtest"
)

func TestTelegramCommand(t *testing.T) {
	t.Run("no token", func(t *testing.T) {
		cleanEnv(t)
		t.Setenv("TELEGRAM_BOT_TOKEN", "")
		code, _, stderr := cli(t, "", "telegram", "--devnet")
		if code != exitUsage || !strings.Contains(stderr, "TELEGRAM_BOT_TOKEN") || strings.Count(stderr, "\n") != 1 {
			t.Fatalf("exit %d, stderr %q; want exit 2 and one line naming TELEGRAM_BOT_TOKEN", code, stderr)
		}
	})

	t.Run("answers on the devnet, stops on a revoked token", func(t *testing.T) {
		cleanEnv(t)
		srv := tgtest.New(t)
		t.Setenv("TELEGRAM_BOT_TOKEN", srv.Token())
		t.Setenv("MANDATE_TELEGRAM_API", srv.URL())
		t.Setenv("MANDATE_TELEGRAM_OWNERS", "1001")
		var out, errb bytes.Buffer
		done := make(chan int, 1)
		go func() {
			done <- run(context.Background(), []string{"telegram", "--devnet"}, strings.NewReader(""), &out, &errb)
		}()
		dm := tgtest.Chat{ID: 1001, Type: "private"}
		srv.SendText(dm, tgtest.User{ID: 1001, Username: "owner"}, "/balance")
		srv.WaitFor(t, "a balance in the owner's chat", func() bool {
			for _, m := range srv.Sent(dm.ID) {
				if strings.Contains(m.Text, "USDC") {
					return true
				}
			}
			return false
		})
		srv.Revoke()
		select {
		case code := <-done:
			if code != exitFailed || !strings.Contains(errb.String(), "TELEGRAM_BOT_TOKEN") || !strings.Contains(errb.String(), "revoked") {
				t.Fatalf("after a revoked token: exit %d, stderr %q; want exit 1 saying the token was refused", code, errb.String())
			}
		case <-time.After(60 * time.Second):
			t.Fatal("mandate telegram kept running after its token was revoked")
		}
	})

	t.Run("the README's five steps", func(t *testing.T) {
		policy, err := filepath.Abs(filepath.Join("..", "..", "examples", "telegram", "policy.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		cleanEnv(t)
		srv := tgtest.New(t, tgtest.WithWaitTimeout(2*time.Minute))
		t.Setenv("TELEGRAM_BOT_TOKEN", srv.Token())
		t.Setenv("MANDATE_TELEGRAM_API", srv.URL())
		t.Setenv("MANDATE_TELEGRAM_OWNERS", "1001")
		t.Setenv("MANDATE_POLICY", policy)
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb bytes.Buffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"telegram", "--devnet"}, strings.NewReader(""), &out, &errb)
		}()
		defer func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("mandate telegram exited %d: %s", code, errb.String())
			}
		}()
		dm := tgtest.Chat{ID: 1001, Type: "private"}
		me := tgtest.User{ID: 1001, Username: "owner"}
		find := func(what string, ok func(tgtest.Message) bool) tgtest.Message {
			var found tgtest.Message
			srv.WaitFor(t, what, func() bool {
				for _, m := range srv.Sent(dm.ID) {
					if ok(m) {
						found = m
						return true
					}
				}
				return false
			})
			return found
		}
		has := func(s string) func(tgtest.Message) bool {
			return func(m tgtest.Message) bool { return strings.Contains(m.Text, s) }
		}
		srv.SendText(dm, me, "/balance")
		find("a balance", has("USDC"))
		srv.SendText(dm, me, "/swap 0.1 ETH USDC")
		q := find("the approval question", func(m tgtest.Message) bool {
			return strings.Contains(m.Text, "The policy asks an owner to confirm") && m.Markup != nil && len(m.Markup.InlineKeyboard) == 1
		})
		srv.PressButton(dm, me, q.ID, q.Markup.InlineKeyboard[0][0].CallbackData)
		find("the swap done after the approval", func(m tgtest.Message) bool {
			return strings.Contains(m.Text, "Swapped 0.1 ETH for") && strings.Contains(m.Text, "mined")
		})
		srv.SendText(dm, me, "/chart ETH")
		find("a chart", func(m tgtest.Message) bool { return m.Kind == "photo" && len(m.Photo) > 0 })
	})
}
