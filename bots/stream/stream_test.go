package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/bots/access"
)

// chat keeps what an answer sent and edited, as a chat would show it.
type chat struct {
	msgs   []string
	edits  int
	failOn int // fail the nth send or edit (1-based); 0: never
	calls  int
	failed []error
}

func (c *chat) fail() error {
	c.calls++
	if c.calls == c.failOn {
		return errors.New("the API is down")
	}
	return nil
}

func (c *chat) Send(_ context.Context, text string) (string, error) {
	if err := c.fail(); err != nil {
		return "", err
	}
	c.msgs = append(c.msgs, text)
	return fmt.Sprint(len(c.msgs) - 1), nil
}

func (c *chat) Edit(_ context.Context, id, text string) error {
	if err := c.fail(); err != nil {
		return err
	}
	var i int
	fmt.Sscan(id, &i)
	c.msgs[i] = text
	c.edits++
	return nil
}

func (c *chat) Failed(err error) { c.failed = append(c.failed, err) }

// cut splits a body into messages of n bytes.
func cut(n int) func(string) []string {
	return func(s string) []string {
		var out []string
		for len(s) > n {
			out, s = append(out, s[:n]), s[n:]
		}
		return append(out, s)
	}
}

func TestEditsAreThrottled(t *testing.T) {
	c := &chat{}
	a := &Answer{To: c, Every: time.Hour, Parts: cut(1000)}
	ctx := context.Background()
	for _, w := range []string{"The ", "price ", "is ", "1834 ", "USD."} {
		a.Event(agent.Event{Kind: agent.EventText, Text: w})
		a.Flush(ctx, false)
	}
	if len(c.msgs) != 1 || c.edits != 0 || c.msgs[0] != "The" {
		t.Fatalf("while streaming within the interval: %q and %d edits; want the first words sent once, no edit", c.msgs, c.edits)
	}
	a.Event(agent.Event{Kind: agent.EventDecision, Tool: "dex_swap", Decision: "ask", Reasons: []string{"above 100 USD"}})
	if a.Event(agent.Event{Kind: agent.EventToolResult, Tool: "dex_swap"}) != true {
		t.Fatal("a tool's answer: Event reported no tool answered")
	}
	a.Flush(ctx, true)
	want := "The price is 1834 USD.\nPolicy on dex_swap: ask (above 100 USD)"
	if len(c.msgs) != 1 || c.edits != 1 || c.msgs[0] != want {
		t.Fatalf("at the end: %q and %d edits; want one message edited once to %q", c.msgs, c.edits, want)
	}
}

func TestEditsWhenTheIntervalPassed(t *testing.T) {
	c := &chat{}
	a := &Answer{To: c, Every: 0, Parts: cut(1000)}
	for _, w := range []string{"a", "b", "c"} {
		a.Text(w)
		a.Flush(context.Background(), false)
	}
	if c.edits != 2 || c.msgs[0] != "abc" {
		t.Fatalf("%q after %d edits; want every piece shown (2 edits)", c.msgs, c.edits)
	}
}

func TestLongAnswerSentInPartsAtTheEnd(t *testing.T) {
	c := &chat{}
	a := &Answer{To: c, Every: time.Hour, Parts: cut(10)}
	a.Text(strings.Repeat("x", 25))
	a.Flush(context.Background(), false)
	if len(c.msgs) != 1 {
		t.Fatalf("while streaming: %d messages, want the first part only", len(c.msgs))
	}
	a.Event(agent.Event{Kind: agent.EventToolResult, Tool: "token_price", Err: "no\nroute"})
	a.Flush(context.Background(), true)
	if got := strings.Join(c.msgs, "|"); got != "xxxxxxxxxx|xxxxxxxxxx|xxxxx\ntoke|n_price fa|iled: no; |route" {
		t.Fatalf("messages %q", got)
	}
}

func TestNoAnswerAndFailures(t *testing.T) {
	c := &chat{}
	a := &Answer{To: c, Every: time.Hour, Parts: cut(20)}
	a.Flush(context.Background(), false)
	a.Flush(context.Background(), true)
	if len(c.msgs) != 1 || c.msgs[0] != "(no answer)" {
		t.Fatalf("an empty answer: %q, want (no answer)", c.msgs)
	}
	c = &chat{failOn: 1}
	a = &Answer{To: c, Every: time.Hour, Parts: cut(10)}
	a.Text(strings.Repeat("y", 15))
	a.Flush(context.Background(), true)
	if len(c.msgs) != 0 || len(c.failed) != 1 {
		t.Fatalf("a failed first send: %q sent, %d failures heard; want nothing more sent and the failure heard", c.msgs, len(c.failed))
	}
}

func TestTurn(t *testing.T) {
	events := func(yield func(agent.Event, error) bool) {
		if !yield(agent.Event{Kind: agent.EventText, Text: "I cannot swap for you."}, nil) {
			return
		}
		if yield(agent.Event{}, errors.New("model\nunreachable")) {
			t.Error("the turn went on after an error")
		}
	}
	c := &chat{}
	a := &Answer{To: c, Every: time.Hour, Parts: cut(1000)}
	a.Turn(context.Background(), events, true)
	a.Flush(context.Background(), true)
	want := "I cannot swap for you.\nFailed: model; unreachable\n" + access.OwnersOnly
	if len(c.msgs) != 1 || c.msgs[0] != want {
		t.Fatalf("a guest's failed turn: %q, want %q", c.msgs, want)
	}
	owner := func(yield func(agent.Event, error) bool) {
		yield(agent.Event{Kind: agent.EventToolResult, Tool: "wallet_balance"}, nil)
	}
	c = &chat{}
	a = &Answer{To: c, Every: time.Hour, Parts: cut(1000)}
	a.Turn(context.Background(), owner, true)
	a.Flush(context.Background(), true)
	if len(c.msgs) != 1 || c.msgs[0] != "(no answer)" {
		t.Fatalf("a guest whose tool answered: %q, want no owners-only line", c.msgs)
	}
}
