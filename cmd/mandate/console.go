package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/policies"
)

// promptText is the chat's prompt.
const promptText = "you> "

// errInterrupted is the cause of a context that Ctrl-C (SIGINT) cancelled:
// a turn in progress, or the wait for a line at the prompt.
var errInterrupted = errors.New("interrupted")

// console is the chat's terminal. Everything the chat prints goes through
// one lock that knows whether a prompt is waiting for a line, so output
// that arrives meanwhile (a standing order's run, a watcher's notice, a
// log line) is written above a fresh prompt instead of into it. Input is
// read a line at a time by one goroutine, for the chat and its approver
// alike, so a Ctrl-C can stop a wait without losing the line behind it.
type console struct {
	stdout, stderr io.Writer // the streams themselves, not their wrappers
	drawn          bool      // the chat draws its prompt: stdin is a terminal, no --json
	ask            bool      // the approver may ask: stdin is a terminal

	mu       sync.Mutex
	showing  bool      // a prompt is on screen, waiting for a line
	prompt   string    // that prompt
	promptOn io.Writer // and where it is drawn
	erase    bool      // that is a terminal, where the prompt's line can be erased

	in      *lines
	start   sync.Once
	got     chan lineRead // one per line; closed at the end of input
	lastErr error         // why got was closed
	quit    chan struct{} // closed when the chat ends: nobody reads any more

	cancelMu sync.Mutex
	cancel   context.CancelCauseFunc // what the next Ctrl-C cancels
	pending  int                     // Ctrl-Cs that came between two waits, for the next
}

type lineRead struct {
	line string
	err  error
}

// newConsole puts the console between the chat and its streams: from here
// on, g.stdout, g.stderr and the default logger write through it. Call it
// before anything captures them.
func (g *globals) newConsole(cmd *cobra.Command) *console {
	stdin := cmd.InOrStdin()
	c := &console{
		stdout: g.stdout,
		stderr: g.stderr,
		ask:    terminal(stdin),
		in:     newLines(stdin),
		got:    make(chan lineRead),
		quit:   make(chan struct{}),
	}
	c.drawn = c.ask && !g.json
	g.stdout = consoleWriter{c, c.stdout}
	g.stderr = consoleWriter{c, c.stderr}
	level := slog.LevelWarn
	if g.verbose {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level})))
	return c
}

// terminal reports whether f is a terminal (a character device such as
// /dev/null is not).
func terminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}

// consoleWriter is one of the chat's streams, written through its console.
type consoleWriter struct {
	c *console
	w io.Writer
}

func (cw consoleWriter) Write(p []byte) (int, error) { return cw.c.write(cw.w, p) }

// Unwrap is the stream itself, for whoever asks whether it is a terminal.
func (cw consoleWriter) Unwrap() io.Writer { return cw.w }

// write writes p to w. While a prompt waits, p goes on the prompt's line
// (erased on a terminal, else ended) and the prompt is drawn again below
// it; a line break p starts with is the one that made room for it.
func (c *console) write(w io.Writer, p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.showing {
		return w.Write(p)
	}
	c.clearPromptLine()
	body := p
	if len(body) > 0 && body[0] == '\n' {
		body = body[1:]
	}
	if _, err := w.Write(body); err != nil {
		return 0, err
	}
	if len(body) == 0 || body[len(body)-1] != '\n' {
		if _, err := io.WriteString(w, "\n"); err != nil {
			return 0, err
		}
	}
	_, err := io.WriteString(c.promptOn, c.prompt)
	return len(p), err
}

// clearPromptLine makes room over the prompt's line: erased where it can
// be, else ended. The caller holds c.mu.
func (c *console) clearPromptLine() {
	if c.erase {
		io.WriteString(c.promptOn, "\r\x1b[K")
	} else {
		io.WriteString(c.promptOn, "\n")
	}
}

// showPrompt draws prompt on w (a stream itself, not a wrapper), to wait
// for a line.
func (c *console) showPrompt(w io.Writer, prompt string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.showing {
		return
	}
	io.WriteString(w, prompt)
	c.showing, c.prompt, c.promptOn, c.erase = true, prompt, w, terminal(w)
}

// readLine returns the next line of input, or why there is none: the end
// of input (io.EOF), errLineTooLong, or ctx's cause when it ends first
// (errInterrupted for a Ctrl-C). A prompt that got no line has its line
// ended, after the ^C or the Ctrl-D the terminal showed.
func (c *console) readLine(ctx context.Context) (string, error) {
	c.start.Do(func() { go c.readAll() })
	var r lineRead
	// A wait already cancelled (a Ctrl-C that came before it) ends at
	// once and leaves a line that is ready for the next read: a select
	// with both ready would pick one at random.
	if ctx.Err() != nil {
		r.err = context.Cause(ctx)
	} else {
		r = c.receive(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.showing && r.err != nil && !errors.Is(r.err, errLineTooLong) {
		io.WriteString(c.promptOn, "\n")
	}
	c.showing = false // a line ends with the Enter that moved the cursor
	return r.line, r.err
}

// receive waits for the next line from readAll, or for ctx to end.
func (c *console) receive(ctx context.Context) (r lineRead) {
	select {
	case got, ok := <-c.got:
		r = got
		if !ok {
			r.err = c.lastErr
		}
	case <-ctx.Done():
		r.err = context.Cause(ctx)
	}
	return r
}

// readAll hands each line of input to readLine. It starts on the first
// read, so a passphrase asked for before the chat starts is not taken.
func (c *console) readAll() {
	for {
		line, err := c.in.next()
		if err != nil && !errors.Is(err, errLineTooLong) {
			c.lastErr = err
			close(c.got)
			return
		}
		select {
		case c.got <- lineRead{line, err}:
		case <-c.quit:
			return
		}
	}
}

// interruptible returns a context that the next Ctrl-C cancels, with
// errInterrupted as its cause, until done is called. done says whether
// the caller acted on that Ctrl-C; one it did not see (it came after the
// work was over) is kept for the next wait.
func (c *console) interruptible(ctx context.Context) (_ context.Context, done func(seen bool)) {
	ictx, cancel := context.WithCancelCause(ctx)
	c.cancelMu.Lock()
	c.cancel = cancel
	if c.pending > 0 {
		c.pending--
		cancel(errInterrupted)
	}
	c.cancelMu.Unlock()
	return ictx, func(seen bool) {
		c.cancelMu.Lock()
		defer c.cancelMu.Unlock()
		c.cancel = nil
		if !seen && errors.Is(context.Cause(ictx), errInterrupted) {
			c.pending++
		}
		cancel(nil)
	}
}

// interrupt is a Ctrl-C: it cancels what is waiting or running now, or
// the next wait.
func (c *console) interrupt() {
	c.cancelMu.Lock()
	defer c.cancelMu.Unlock()
	if c.cancel == nil {
		c.pending++
		return
	}
	c.cancel(errInterrupted)
	c.cancel = nil // a second Ctrl-C is for the next wait
}

// converse runs the chat until the person leaves: end of input (Ctrl-D),
// /quit, or a second Ctrl-C in a row at the prompt. A Ctrl-C during a turn
// cancels that turn only.
func (g *globals) converse(ctx context.Context, c *console, sess *agent.Session) error {
	defer claimInterrupts(c.interrupt)()
	defer close(c.quit)
	again := false // the last thing at the prompt was a Ctrl-C
	for {
		if c.drawn {
			c.showPrompt(c.stdout, promptText)
		}
		wait, done := c.interruptible(ctx)
		line, err := c.readLine(wait)
		done(errors.Is(err, errInterrupted))
		switch {
		case errors.Is(err, errInterrupted):
			if again {
				return nil
			}
			again = true
			continue
		case errors.Is(err, errLineTooLong):
			again = false
			g.chatError(err)
			continue
		case errors.Is(err, io.EOF) || ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		}
		again = false
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if line == "/quit" || line == "/exit" {
			return nil
		}
		turn, done := c.interruptible(ctx)
		done(g.turn(turn, sess, line))
		if ctx.Err() != nil {
			return nil
		}
	}
}

// chatError prints a problem that ends nothing: the chat goes on.
func (g *globals) chatError(err error) {
	if g.json {
		writeJSON(g.stdout, map[string]any{"kind": "error", "error": oneLine(err.Error())})
	} else {
		fmt.Fprintf(g.stdout, "! %s\n", oneLine(err.Error()))
	}
}

// turn runs one message and renders its events. It reports whether a
// Ctrl-C cut the turn short.
func (g *globals) turn(ctx context.Context, sess *agent.Session, line string) (interrupted bool) {
	started := false
	denied := map[string]bool{} // calls whose denial was shown with its reasons
	for ev, err := range sess.Send(ctx, line) {
		if err != nil {
			if interrupted = errors.Is(context.Cause(ctx), errInterrupted); interrupted {
				err = errors.New("interrupted: the rest of this turn was cancelled; anything already sent stays sent")
			}
			if !g.json {
				fmt.Fprintln(g.stdout)
			}
			g.chatError(err)
			return interrupted
		}
		if g.json {
			writeJSON(g.stdout, ev)
			continue
		}
		if !started {
			fmt.Fprint(g.stdout, "mandate> ")
			started = true
		}
		switch ev.Kind {
		case agent.EventText:
			fmt.Fprint(g.stdout, ev.Text)
		case agent.EventToolCall:
			fmt.Fprintf(g.stdout, "\n  -> %s %s\n", ev.Tool, ev.Args)
		case agent.EventDecision:
			if ev.Decision == "deny" {
				denied[ev.CallID] = true
				fmt.Fprintf(g.stdout, "  x denied by the policy:\n")
				for _, r := range ev.Reasons {
					fmt.Fprintf(g.stdout, "      - %s\n", r)
				}
				continue
			}
			if ev.Decision == "approve" {
				fmt.Fprintf(g.stdout, "  ok approved by the policy\n")
			} else {
				fmt.Fprintf(g.stdout, "  ? the policy says %s\n", ev.Decision)
			}
			for _, r := range ev.Reasons {
				fmt.Fprintf(g.stdout, "      - %s\n", r)
			}
		case agent.EventRefused:
			fmt.Fprintf(g.stdout, "\n  x refused: %s\n", ev.Text)
		case agent.EventTx:
			fmt.Fprintf(g.stdout, "  tx %s (%s)\n", ev.TxHash, ev.TxStatus)
		case agent.EventToolResult:
			if ev.Err != "" && !denied[ev.CallID] {
				fmt.Fprintf(g.stdout, "  ! %s\n", oneLine(ev.Err))
			}
		case agent.EventDone:
			fmt.Fprintln(g.stdout)
		}
	}
	return false
}

// approver is the chat's approver: it asks at the terminal, between the
// chat's lines.
func (c *console) approver() chatApprover { return chatApprover{c} }

// chatApprover asks on the terminal between chat lines; with no terminal it
// declines, so piped input can never approve what the policy wanted a
// person to see. A Ctrl-C while it asks cancels the turn, which declines.
type chatApprover struct{ c *console }

func (a chatApprover) Approve(ctx context.Context, in policies.Intent, why []string) (bool, error) {
	if !a.c.ask {
		return false, nil
	}
	raw, err := policies.Marshal(in)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(consoleWriter{a.c, a.c.stderr}, "\nThe policy asks you to confirm this %s:\n  %s\n  because: %s\n  exactly: %s\n",
		in.Kind(), describeIntent(in), strings.Join(why, "; "), raw)
	a.c.showPrompt(a.c.stderr, "Approve? [y/N] ")
	ans, err := a.c.readLine(ctx)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	ans = strings.ToLower(strings.TrimSpace(ans))
	return ans == "y" || ans == "yes", nil
}

// lines reads stdin a line at a time.
type lines struct {
	r *bufio.Reader
}

func newLines(r io.Reader) *lines { return &lines{r: bufio.NewReaderSize(r, 64<<10)} }

// maxLine bounds one chat message: a pasted megabyte is a mistake, and
// the model's context would not hold it anyway.
const maxLine = 64 << 10

// errLineTooLong is a message over maxLine; the rest of it was skipped.
var errLineTooLong = fmt.Errorf("message too long (over %d KiB); send a shorter one", maxLine>>10)

func (l *lines) next() (string, error) {
	var buf []byte
	for {
		chunk, err := l.r.ReadSlice('\n')
		if len(buf)+len(chunk) > maxLine {
			buf = nil
			for errors.Is(err, bufio.ErrBufferFull) { // skip to the end of the line
				_, err = l.r.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return "", err
			}
			return "", errLineTooLong
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return string(buf), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return string(buf), nil
		default:
			return "", err
		}
	}
}
