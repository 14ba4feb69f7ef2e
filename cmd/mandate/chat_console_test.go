package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// TestChatConsoleRedraw: what arrives while the prompt waits goes above a
// fresh prompt (the prompt's line erased on a terminal, ended elsewhere);
// what arrives during a turn is written as it is.
func TestChatConsoleRedraw(t *testing.T) {
	for _, tc := range []struct {
		name  string
		erase bool
		want  string
	}{
		{"terminal", true, "you> \r\x1b[K[order #1 filled] swapped\nyou> \r\x1b[Ksent 0xab; waiting\nyou> "},
		{"not a terminal", false, "you> \n[order #1 filled] swapped\nyou> \nsent 0xab; waiting\nyou> "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var screen bytes.Buffer
			c := &console{stdout: &screen, stderr: &screen, drawn: true}
			out, errOut := consoleWriter{c, &screen}, consoleWriter{c, &screen}
			c.showPrompt(&screen, promptText)
			c.erase = tc.erase // as if the screen were a terminal, or not
			fmt.Fprint(errOut, "\n[order #1 filled] swapped\n")
			fmt.Fprint(errOut, "sent 0xab; waiting") // no line break of its own
			if screen.String() != tc.want {
				t.Fatalf("screen\n%q\nwant\n%q", screen.String(), tc.want)
			}
			// A turn's output, with no prompt waiting, is left as it is.
			screen.Reset()
			c.mu.Lock()
			c.showing = false
			c.mu.Unlock()
			fmt.Fprint(out, "mandate> hi")
			fmt.Fprint(errOut, "\n[order #2 filled] x\n")
			if want := "mandate> hi\n[order #2 filled] x\n"; screen.String() != want {
				t.Fatalf("during a turn: %q, want %q", screen.String(), want)
			}
		})
	}
}

// TestChatConsoleInterrupts: a Ctrl-C cancels the wait in progress; one
// that comes when nothing waits, or after the work it would have cut was
// over, cancels the next wait instead, and each counts once.
func TestChatConsoleInterrupts(t *testing.T) {
	c := &console{in: newLines(strings.NewReader("hello\n")), got: make(chan lineRead), quit: make(chan struct{})}
	defer close(c.quit)

	// Nothing waits: the Ctrl-C is for the next wait, which it ends at once.
	c.interrupt()
	ctx, done := c.interruptible(context.Background())
	if _, err := c.readLine(ctx); !errors.Is(err, errInterrupted) {
		t.Fatalf("a Ctrl-C between waits was lost: %v", err)
	}
	done(true)

	// A Ctrl-C during work that ends without seeing it goes to the next wait.
	work, done := c.interruptible(context.Background())
	c.interrupt()
	if !errors.Is(context.Cause(work), errInterrupted) {
		t.Fatalf("the Ctrl-C did not cancel the work: %v", context.Cause(work))
	}
	done(false)
	next, done := c.interruptible(context.Background())
	if !errors.Is(context.Cause(next), errInterrupted) {
		t.Fatalf("the unseen Ctrl-C was not kept for the next wait")
	}
	done(true)

	// Seen, it is spent.
	after, done := c.interruptible(context.Background())
	if after.Err() != nil {
		t.Fatalf("a spent Ctrl-C cancelled another wait")
	}
	done(false)

	// The line a Ctrl-C may have raced is still there; the end of input is
	// the end, for every reader.
	if line, err := c.readLine(context.Background()); err != nil || line != "hello\n" {
		t.Fatalf("read %q, %v; want the line", line, err)
	}
	for range 2 {
		if _, err := c.readLine(context.Background()); !errors.Is(err, io.EOF) {
			t.Fatalf("after the end of input: %v, want io.EOF", err)
		}
	}
}
