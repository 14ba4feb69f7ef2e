package main

import (
	"bytes"
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
}
