package approval

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/memory/memtest"
)

// place is where a test "chat" showed a question.
type place struct {
	Chat string `json:"chat"`
}

// ends records what a book's closed callback was given.
type ends struct {
	mu  sync.Mutex
	got []memory.BotApproval
	at  [][]place
}

func (e *ends) closed(_ context.Context, q memory.BotApproval, where []place) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got, e.at = append(e.got, q), append(e.at, where)
}

func (e *ends) list() ([]memory.BotApproval, [][]place) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]memory.BotApproval(nil), e.got...), append([][]place(nil), e.at...)
}

// process is one process's book over the database at dsn.
func process(t *testing.T, dsn string) (*Book[place], *ends) {
	t.Helper()
	st, err := memory.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { st.Close() })
	e := &ends{}
	return NewBook(st.BotState(), "bot-1", nil, e.closed), e
}

// asked runs Ask in the background and returns the question's id once shown, and the
// channel Ask's answer arrives on.
type result struct {
	ok  bool
	err error
}

func asked(t *testing.T, ctx context.Context, b *Book[place], timeout time.Duration, where ...place) (string, chan result) {
	t.Helper()
	ids, res := make(chan string, 1), make(chan result, 1)
	go func() {
		ok, err := b.Ask(ctx, "Send 7 USDC?", timeout, func(_ context.Context, id string) []place {
			ids <- id
			return where
		})
		res <- result{ok, err}
	}()
	select {
	case id := <-ids:
		waitShown(t, b, id)
		return id, res
	case r := <-res:
		t.Fatalf("Ask returned %v, %v before showing the question", r.ok, r.err)
	case <-time.After(30 * time.Second):
		t.Fatal("Ask did not show the question")
	}
	return "", nil
}

// waitShown waits until where question id was shown is recorded.
func waitShown(t *testing.T, b *Book[place], id string) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		q, ok, err := b.st.Approval(context.Background(), id)
		if err == nil && ok && q.Shown != "[]" {
			return
		}
	}
	t.Fatal("where the question was shown was not recorded")
}

func await(t *testing.T, res chan result) result {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("Ask did not return")
	}
	return result{}
}

func TestQuestions(t *testing.T) {
	for _, st := range memtest.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			a, aEnds := process(t, st.DSN)
			b, _ := process(t, st.DSN) // a second process, or the first after a restart
			ctx := context.Background()

			t.Run("a press on another process settles it once", func(t *testing.T) {
				id, res := asked(t, ctx, a, time.Minute, place{"dm-1"}, place{"dm-2"})
				if got, q := b.Press(ctx, Button(id, true), false, "@stranger"); q != nil || got != "Only an owner can approve or reject this." {
					t.Fatalf("a stranger's press: %q, settled %v", got, q != nil)
				}
				answers := make(chan string, 4)
				settled := make(chan *memory.BotApproval, 4)
				var wg sync.WaitGroup
				for _, p := range []*Book[place]{a, b, a, b} { // a double press, reaching both processes
					wg.Add(1)
					go func() {
						defer wg.Done()
						got, q := p.Press(ctx, Button(id, true), true, "@owner")
						answers <- got
						settled <- q
					}()
				}
				wg.Wait()
				close(answers)
				close(settled)
				var all []string
				for s := range answers {
					all = append(all, s)
				}
				n := 0
				for q := range settled {
					if q != nil {
						n++
						if q.State != Approved || q.By != "@owner" || len(a.Where(*q)) != 2 {
							t.Fatalf("the settling press returned %+v", q)
						}
					}
				}
				joined := strings.Join(all, "|")
				if n != 1 || strings.Count(joined, "Approved.") != 1 || strings.Count(joined, "Already approved.") != 3 {
					t.Fatalf("four presses settled %d times, answered %q; want one Approved. and three Already approved.", n, all)
				}
				if r := await(t, res); !r.ok || r.err != nil {
					t.Fatalf("Ask after an owner approved: %v, %v", r.ok, r.err)
				}
				if got, _ := b.Press(ctx, Button(id, false), true, "@owner"); got != "Already approved." {
					t.Fatalf("a Reject after the Approve: %q", got)
				}
			})

			t.Run("expiry declines, and a late press says so", func(t *testing.T) {
				before, _ := aEnds.list()
				id, res := asked(t, ctx, a, 300*time.Millisecond, place{"dm-1"})
				if r := await(t, res); r.ok || r.err != nil {
					t.Fatalf("Ask that expired: %v, %v; want false and no error", r.ok, r.err)
				}
				got, at := aEnds.list()
				if len(got) != len(before)+1 || got[len(got)-1].State != Expired || len(at[len(at)-1]) != 1 || at[len(at)-1][0].Chat != "dm-1" {
					t.Fatalf("the expired question was shown as %+v at %v; want it closed where it was shown", got, at)
				}
				if line := Ending(got[len(got)-1], strings.ToUpper); line != "Expired: nothing was done." {
					t.Fatalf("Ending %q", line)
				}
				if got, q := b.Press(ctx, Button(id, true), true, "@owner"); q != nil || got != "This request has expired; nothing was done." {
					t.Fatalf("a press after expiry: %q (settled %v)", got, q != nil)
				}
			})

			t.Run("a cancelled ask closes its question", func(t *testing.T) {
				cctx, cancel := context.WithCancel(ctx)
				id, res := asked(t, cctx, a, time.Minute, place{"dm-1"})
				cancel()
				if r := await(t, res); r.ok || !errors.Is(r.err, context.Canceled) {
					t.Fatalf("Ask cancelled: %v, %v", r.ok, r.err)
				}
				if got, _ := b.Press(ctx, Button(id, true), true, "@owner"); got != "This request has expired; nothing was done." {
					t.Fatalf("a press on a cancelled question: %q", got)
				}
			})

			t.Run("shown nowhere", func(t *testing.T) {
				ok, err := a.Ask(ctx, "q", time.Minute, func(context.Context, string) []place { return nil })
				if ok || err == nil {
					t.Fatalf("a question shown nowhere: %v, %v; want an error", ok, err)
				}
			})

			t.Run("buttons that are not ours", func(t *testing.T) {
				for _, data := range []string{"", "ap:", "ap:x", "ap:x:maybe", "other:x:y"} {
					if got, _ := a.Press(ctx, data, true, "@owner"); got != "This button does nothing." {
						t.Errorf("data %q answered %q", data, got)
					}
				}
				other := NewBook[place](a.st, "bot-2", nil, func(context.Context, memory.BotApproval, []place) {})
				id, res := asked(t, ctx, a, time.Minute, place{"dm-1"})
				if got, q := other.Press(ctx, Button(id, true), true, "@owner"); q != nil || !strings.Contains(got, "expired") {
					t.Fatalf("another bot's press: %q (settled %v)", got, q != nil)
				}
				if got, q := a.Press(ctx, Button(id, false), true, "@owner"); q == nil || got != "Rejected." || Ending(*q, strings.ToUpper) != "Rejected by @OWNER." {
					t.Fatalf("the owner's Reject: %q, %+v", got, q)
				}
				if r := await(t, res); r.ok || r.err != nil {
					t.Fatalf("Ask rejected: %v, %v", r.ok, r.err)
				}
			})
		})
	}
}

func TestSeat(t *testing.T) {
	type bot struct{ name string }
	var s Seat[bot]
	first, second := &bot{"first"}, &bot{"second"}
	if s.Bot() != nil {
		t.Fatal("an empty seat holds a bot")
	}
	s.Take(first)
	s.Take(second) // a bot started before the first stopped
	s.Leave(first)
	if s.Bot() != second {
		t.Fatalf("the first bot's stop emptied the second's seat: %v", s.Bot())
	}
	s.Leave(second)
	if s.Bot() != nil {
		t.Fatal("the seat is held after its bot left")
	}
}
