package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mandatehq/mandate/bots/discord/dctest"
)

// buildDiscordBinary builds the command, to run it as a process as users do.
func buildDiscordBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "mandate")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// discordEnv is the environment without MANDATE_* and Discord settings, plus extra.
func discordEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "MANDATE_") && k != "MANDATE_ARTIFACTS" || k == "DISCORD_BOT_TOKEN" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

func TestDiscordCommand(t *testing.T) {
	bin := buildDiscordBinary(t)

	t.Run("no token", func(t *testing.T) {
		cmd := exec.Command(bin, "discord", "--devnet")
		cmd.Env, cmd.Dir = discordEnv(), t.TempDir()
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(errb.String(), "DISCORD_BOT_TOKEN") || strings.Count(errb.String(), "\n") != 1 {
			t.Fatalf("exit %v, stderr %q; want exit 2 and one line naming DISCORD_BOT_TOKEN", err, errb.String())
		}
	})

	t.Run("a bad owner id", func(t *testing.T) {
		cmd := exec.Command(bin, "discord", "--devnet", "--owners", "alice")
		cmd.Env, cmd.Dir = discordEnv("DISCORD_BOT_TOKEN=x"), t.TempDir()
		var errb bytes.Buffer
		cmd.Stderr = &errb
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitUsage || !strings.Contains(errb.String(), "not a Discord id") {
			t.Fatalf("exit %v, stderr %q; want exit 2 saying alice is not a Discord id", err, errb.String())
		}
	})

	t.Run("answers /balance on the devnet, stops on a revoked token", func(t *testing.T) {
		srv := dctest.New(t)
		owner := dctest.User{ID: "3000000000000000001", Username: "owner"}
		cmd := exec.Command(bin, "discord", "--devnet")
		cmd.Env = discordEnv("DISCORD_BOT_TOKEN="+srv.Token(), "MANDATE_DISCORD_API="+srv.URL(), "MANDATE_DISCORD_OWNERS="+owner.ID)
		cmd.Dir = t.TempDir()
		var errb syncBuffer
		cmd.Stderr, cmd.Stdout = &errb, &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGINT)
			<-done
			if t.Failed() {
				t.Logf("mandate discord said:\n%s", errb.String())
			}
		})
		ch := dctest.Channel{ID: "5000000000000000001", GuildID: "4000000000000000001"}
		srv.RunCommand(ch, owner, "balance", nil)
		srv.WaitFor(t, "a balance in the channel", func() bool {
			for _, m := range srv.Sent(ch.ID) {
				if strings.Contains(m.Text(), "USDC") && strings.Contains(m.Text(), "ETH") {
					return true
				}
			}
			return false
		})
		srv.Revoke()
		select {
		case err := <-done:
			var ee *exec.ExitError
			out := errb.String()
			if !errors.As(err, &ee) || ee.ExitCode() != exitFailed || !strings.Contains(out, "DISCORD_BOT_TOKEN") || !strings.Contains(out, "reset") {
				t.Fatalf("after a revoked token: %v, output %q; want exit 1 saying the token was refused", err, out)
			}
			done <- err // for the cleanup
		case <-time.After(2 * time.Minute):
			t.Fatal("mandate discord kept running after its token was revoked")
		}
	})
	t.Run("the README's five steps", func(t *testing.T) {
		policy, err := filepath.Abs(filepath.Join("..", "..", "examples", "telegram", "policy.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		cleanEnv(t)
		srv := dctest.New(t, dctest.WithWaitTimeout(2*time.Minute))
		me := dctest.User{ID: "3000000000000000001", Username: "owner"}
		t.Setenv("DISCORD_BOT_TOKEN", srv.Token())
		t.Setenv("MANDATE_DISCORD_API", srv.URL())
		t.Setenv("MANDATE_DISCORD_OWNERS", me.ID)
		t.Setenv("MANDATE_POLICY", policy)
		ctx, cancel := context.WithCancel(context.Background())
		var out, errb bytes.Buffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"discord", "--devnet"}, strings.NewReader(""), &out, &errb)
		}()
		defer func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("mandate discord exited %d: %s", code, errb.String())
			}
		}()
		ch := dctest.Channel{ID: "5000000000000000002", GuildID: "4000000000000000001"}
		find := func(what string, ok func(dctest.Message) bool) dctest.Message {
			var found dctest.Message
			srv.WaitFor(t, what, func() bool {
				for _, m := range srv.Sent(ch.ID) {
					if ok(m) {
						found = m
						return true
					}
				}
				return false
			})
			return found
		}
		srv.WaitFor(t, "the bot on the gateway", func() bool { return srv.Connected() > 0 })
		srv.RunCommand(ch, me, "balance", nil)
		find("a balance", func(m dctest.Message) bool { return strings.Contains(m.Text(), "USDC") })
		srv.RunCommand(ch, me, "swap", map[string]string{"amount": "0.1", "from": "ETH", "to": "USDC"})
		q := find("the approval question", func(m dctest.Message) bool {
			return strings.Contains(m.Text(), "The policy asks an owner to confirm") && len(m.Buttons) == 2
		})
		if q.Buttons[0].Label != "Approve" {
			t.Fatalf("the question's first button is %q, want Approve", q.Buttons[0].Label)
		}
		srv.PressButton(ch, me, q.ID, q.Buttons[0].CustomID)
		find("the swap done after the approval", func(m dctest.Message) bool {
			return strings.Contains(m.Text(), "Swapped 0.1 ETH for") && strings.Contains(m.Text(), "mined")
		})
		srv.RunCommand(ch, me, "chart", map[string]string{"token": "ETH"})
		find("a chart", func(m dctest.Message) bool { return len(m.Files) > 0 && strings.Contains(m.Text(), "ETH") })
	})
}
