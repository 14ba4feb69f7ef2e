package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/mandatehq/mandate/llm/llmtest"
)

// TestChatInterrupts runs `mandate chat --devnet` as a person does: on a
// real pseudo-terminal, where Ctrl-C is a byte the terminal turns into
// SIGINT and the prompt is drawn, and with stdin a pipe, where a script
// sends SIGINT itself. The model is a scripted backend whose "wait for me"
// never answers, so a Ctrl-C lands inside a turn.
func TestChatInterrupts(t *testing.T) {
	bin := buildMandate(t)

	t.Run("terminal", func(t *testing.T) {
		srv, stalled := chatScriptServer(t)
		c := startOnPTY(t, bin, chatEnv(t, srv), "chat", "--devnet")
		c.waitPrompts(1)

		// Ctrl-C at the prompt throws the line away and draws a fresh prompt.
		c.send("some words\x03")
		c.waitPrompts(2)

		// Ctrl-C inside a turn cancels that turn only.
		c.send("wait for me\r")
		c.waitSignal(stalled, "the model to be asked")
		c.send("\x03")
		c.waitFor("the turn to be cancelled", func(out string) bool { return strings.Contains(out, "! interrupted") })
		c.waitPrompts(3)

		// The chat goes on, and the next turn sees the history.
		c.send("are you there\r")
		c.waitFor("the next answer", func(out string) bool { return strings.Count(out, "still here") == 1 })
		c.waitPrompts(4)
		if out := c.out.String(); strings.Contains(out, "load history") || strings.Contains(out, "context canceled") {
			t.Fatalf("the turn after a Ctrl-C failed:\n%q", out)
		}
		checkHistorySent(t, srv, "are you there", "wait for me")

		// A standing order that holds executes while the prompt waits, after
		// the next block (the transfer's): its report appears above a fresh
		// prompt, never inside one.
		c.send("place an order\r")
		c.waitPrompts(5)
		c.send("send a little\r")
		c.waitPrompts(6)
		c.waitFor("the order's report and a prompt after it", func(out string) bool {
			i := strings.Index(out, "[order #1 ")
			return i >= 0 && strings.Contains(out[i:], "\n"+promptText)
		})
		out := c.out.String()
		i := strings.Index(out, "[order #1 ")
		if !strings.HasPrefix(out[i:], "[order #1 filled]") {
			t.Fatalf("the order did not fill:\n%q", out[i:])
		}
		if line := out[strings.LastIndex(out[:i], "\n")+1 : i]; line != "" && !strings.HasSuffix(line, "\r\x1b[K") {
			t.Fatalf("the order's report shares its line with %q, which was not erased:\n%q", line, out)
		}

		// A second Ctrl-C in a row at the prompt leaves, on a line of its own.
		n := strings.Count(out, promptText)
		c.send("\x03")
		c.waitPrompts(n + 1)
		c.send("\x03")
		if code := c.wait(); code != 0 {
			t.Fatalf("two Ctrl-C: exit %d\n%q", code, c.out.String())
		}
		if out := c.out.String(); !strings.HasPrefix(out[strings.LastIndex(out, promptText):], promptText+"^C\r\n") {
			t.Fatalf("the chat did not end on a line of its own:\n%q", out[max(0, len(out)-200):])
		}
	})

	t.Run("terminal approval", func(t *testing.T) {
		srv, _ := chatScriptServer(t)
		policy := filepath.Join(t.TempDir(), "policy.yaml")
		writeFile(t, policy, `version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "0xDb4290A910C4c6d156a6349F0f8D0C95b63Ba9f4", decimals: 6}
limits:
  per_tx: {USDC: "1000"}
ask: {above_usd: 100}
`)
		c := startOnPTY(t, bin, append(chatEnv(t, srv), "MANDATE_POLICY="+policy), "chat", "--devnet")
		c.waitPrompts(1)
		// The policy wants a person to confirm: the question waits at the
		// terminal, and "y" sends.
		c.send("send a lot\r")
		c.waitFor("the approval question", func(out string) bool { return strings.HasSuffix(out, "Approve? [y/N] ") })
		c.send("y\r")
		c.waitFor("the transfer", func(out string) bool { return strings.Contains(out, "(mined)") })
		c.waitPrompts(2)
		// A Ctrl-C at the question cancels the turn; nothing is sent.
		c.send("send a lot\r")
		c.waitFor("the second question", func(out string) bool {
			return strings.Count(out, "Approve? [y/N] ") == 2 && strings.HasSuffix(out, "Approve? [y/N] ")
		})
		c.send("\x03")
		c.waitFor("the turn to be cancelled", func(out string) bool { return strings.Contains(out, "! interrupted") })
		c.waitPrompts(3)
		if n := strings.Count(c.out.String(), "(mined)"); n != 1 {
			t.Fatalf("%d transfers mined, want 1:\n%q", n, c.out.String())
		}
		c.send("\x04")
		if code := c.wait(); code != 0 {
			t.Fatalf("Ctrl-D: exit %d\n%q", code, c.out.String())
		}
	})

	t.Run("terminal ctrl-d", func(t *testing.T) {
		srv, _ := chatScriptServer(t)
		c := startOnPTY(t, bin, chatEnv(t, srv), "chat", "--devnet")
		c.waitPrompts(1)
		c.send("\x04")
		if code := c.wait(); code != 0 {
			t.Fatalf("Ctrl-D: exit %d\n%q", code, c.out.String())
		}
		if out := c.out.String(); !strings.HasPrefix(out[strings.LastIndex(out, promptText):], promptText+"\r\n") {
			t.Fatalf("Ctrl-D did not end the prompt's line:\n%q", out[max(0, len(out)-200):])
		}
	})

	t.Run("pipe", func(t *testing.T) {
		srv, stalled := chatScriptServer(t)
		cmd := exec.Command(bin, "--json", "chat", "--devnet")
		cmd.Env = chatEnv(t, srv)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stdout, stderr syncBuffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		p := &chatProc{t: t, out: &stdout, errOut: &stderr}
		answers := func(n int) func(string) bool {
			return func(out string) bool { return strings.Count(out, `"kind":"done"`) >= n }
		}
		io.WriteString(stdin, "are you there\n")
		p.waitFor("the first answer", answers(1))

		// SIGINT inside a turn cancels that turn only.
		io.WriteString(stdin, "wait for me\n")
		p.waitSignal(stalled, "the model to be asked")
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		p.waitFor("the turn to be cancelled", func(out string) bool { return strings.Contains(out, `"error":"interrupted`) })
		io.WriteString(stdin, "are you there\n")
		p.waitFor("an answer after the cancelled turn", answers(2))
		checkHistorySent(t, srv, "are you there", "wait for me")

		// SIGTERM still ends the chat at once. (Two SIGINTs in a row would
		// too, but sent back to back the kernel may merge them into one;
		// the terminal test presses Ctrl-C twice with the prompt between.)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		p.cmd = cmd
		if code := p.wait(); code != 0 {
			t.Fatalf("SIGTERM: exit %d\n%s", code, stderr.String())
		}
		for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
			if !json.Valid([]byte(line)) {
				t.Fatalf("--json printed a line that is not JSON: %q", line)
			}
		}
		if strings.Contains(stdout.String(), "load history") {
			t.Fatalf("the turn after SIGINT failed:\n%s", stdout.String())
		}
	})
}

// chatScriptServer is a model that answers "still here", never answers
// "wait for me" (saying on stalled that it was asked), places a standing
// order that holds at once for "place an order" and sends 1 USDC for "send
// a little", 200 for "send a lot".
func chatScriptServer(t *testing.T) (*llmtest.Server, chan struct{}) {
	stalled := make(chan struct{}, 1)
	srv := llmtest.NewServer(t, llmtest.WithHandler(func(req llmtest.Request) llmtest.Reply {
		last := req.LastMessage()
		switch {
		case last.Role == "tool":
			return llmtest.Reply{Text: "done"}
		case strings.Contains(last.Content, "wait for me"):
			select {
			case stalled <- struct{}{}:
			default:
			}
			return llmtest.Reply{Stall: true}
		case strings.Contains(last.Content, "place an order"):
			return llmtest.Reply{ToolCalls: []llmtest.ToolCall{{Name: "order_place",
				Arguments: `{"kind":"limit","from":"USDC","to":"ETH","amount":"300","trigger":"ETH <= 4000"}`}}}
		case strings.Contains(last.Content, "send a lot"):
			return llmtest.Reply{ToolCalls: []llmtest.ToolCall{{Name: "wallet_transfer",
				Arguments: `{"to":"0x5f37D445AA287390a0795f71bF8633BC3241171C","token":"USDC","amount":"200"}`}}}
		case strings.Contains(last.Content, "send a little"):
			return llmtest.Reply{ToolCalls: []llmtest.ToolCall{{Name: "wallet_transfer",
				Arguments: `{"to":"0x5f37D445AA287390a0795f71bF8633BC3241171C","token":"USDC","amount":"1"}`}}}
		}
		return llmtest.Reply{Text: "still here"}
	}))
	return srv, stalled
}

// checkHistorySent checks that the model, asked about last, was sent the
// earlier message too: the history loaded after the cancelled turn.
func checkHistorySent(t *testing.T, srv *llmtest.Server, last, earlier string) {
	t.Helper()
	reqs := srv.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if !strings.Contains(reqs[i].LastMessage().Content, last) {
			continue
		}
		for _, m := range reqs[i].Messages {
			if strings.Contains(m.Content, earlier) {
				return
			}
		}
		t.Fatalf("the request for %q does not hold the earlier %q: %+v", last, earlier, reqs[i].Messages)
	}
	t.Fatalf("no request for %q", last)
}

// chatEnv is the environment of a chat on its own devnet database, with
// srv as its model.
func chatEnv(t *testing.T, srv *llmtest.Server) []string {
	home := t.TempDir()
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "TERM=xterm",
		"MANDATE_LLM_BASE_URL=" + srv.URL(), "MANDATE_LLM_MODEL=" + llmtest.DefaultModel}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "MANDATE_ARTIFACTS" || !strings.HasPrefix(k, "MANDATE_") && k != "HOME" && k != "XDG_CONFIG_HOME" && k != "TERM" {
			env = append(env, kv)
		}
	}
	return env
}

// buildMandate builds the command for tests that run it as a process.
func buildMandate(t *testing.T) string {
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

// chatWait bounds every wait for the chat; only a hung chat reaches it.
const chatWait = 2 * time.Minute

// chatProc is a running chat and what it printed.
type chatProc struct {
	t      *testing.T
	out    *syncBuffer
	errOut *syncBuffer // stderr, when it is not the terminal
	master *os.File    // the terminal's other end, when there is one
	cmd    *exec.Cmd
}

func (p *chatProc) waitFor(what string, ok func(out string) bool) {
	p.t.Helper()
	deadline := time.Now().Add(chatWait)
	for !ok(p.out.String()) {
		if time.Now().After(deadline) {
			errs := ""
			if p.errOut != nil {
				errs = p.errOut.String()
			}
			p.t.Fatalf("waited %s for %s; the chat printed:\n%q\n%s", chatWait, what, p.out.String(), errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitPrompts waits until the chat has drawn its prompt n times.
func (p *chatProc) waitPrompts(n int) {
	p.t.Helper()
	p.waitFor(fmt.Sprintf("prompt number %d", n), func(out string) bool {
		return strings.Count(out, promptText) >= n && strings.HasSuffix(out, promptText)
	})
}

func (p *chatProc) waitSignal(c <-chan struct{}, what string) {
	p.t.Helper()
	select {
	case <-c:
	case <-time.After(chatWait):
		p.t.Fatalf("waited %s for %s; the chat printed:\n%q", chatWait, what, p.out.String())
	}
}

// send types s on the terminal.
func (p *chatProc) send(s string) {
	p.t.Helper()
	if _, err := p.master.WriteString(s); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the chat to end and returns its exit status.
func (p *chatProc) wait() int {
	p.t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			p.t.Fatal(err)
		}
		return 0
	case <-time.After(chatWait):
		p.t.Fatalf("the chat did not end within %s:\n%q", chatWait, p.out.String())
		return -1
	}
}

// startOnPTY runs the command with a new pseudo-terminal as its
// controlling terminal and stdin, stdout and stderr, as a shell would.
func startOnPTY(t *testing.T, bin string, env []string, args ...string) *chatProc {
	t.Helper()
	master, slave := openPTY(t)
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close() // the child holds it; reads on master end when the child does
	t.Cleanup(func() { cmd.Process.Kill(); master.Close() })
	p := &chatProc{t: t, out: &syncBuffer{}, master: master, cmd: cmd}
	go io.Copy(p.out, master)
	return p
}

// openPTY opens a pseudo-terminal pair, with the standard library only.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("unlock the pseudo-terminal: %v", e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatalf("number the pseudo-terminal: %v", e)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return master, slave
}
