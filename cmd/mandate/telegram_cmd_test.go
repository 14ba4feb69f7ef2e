package main

import (
	"bytes"
	"context"
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
}
