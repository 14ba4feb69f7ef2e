package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/llm/offline"
	"github.com/mandatehq/mandate/policies"
)

func newChatCmd(g *globals) *cobra.Command {
	var chat string
	cmd := &cobra.Command{
		Use:   "chat",
		Short: "Talk to the agent in the terminal (reads lines from stdin when it is not a terminal)",
		Long: `Runs the agent: each line you type goes to the model, which calls the wallet
tools; everything that moves value passes your policy first. With no LLM backend
configured (MANDATE_LLM_BASE_URL or MANDATE_LLM_BACKENDS) the offline intent model
answers the core commands ("balance", "send 10 USDC to 0x…", "help").
The conversation is kept in MANDATE_DB and continues after a restart.
--json prints every event as one JSON object a line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			g.keepDevnetDB = true
			a, err := g.open(ctx, needs{wallet: true, policy: true})
			if err != nil {
				return err
			}
			defer a.Close()
			model, name, err := a.model()
			if err != nil {
				return err
			}
			in := newLines(cmd.InOrStdin())
			ap := chatApprover{lines: in, out: g.stderr, tty: isTerminal(cmd.InOrStdin())}
			opts := []agent.Option{agent.WithMemory(a.store.Chats()), agent.WithApprover(ap)}
			if r, routed := model.(*llm.Router); routed {
				opts = append(opts, agent.WithSummarizer(agent.ModelSummary(model)))
				if m := r.EmbeddingModel(); m != "" {
					opts = append(opts, agent.WithEmbedder(r, m))
				}
			}
			a.onOrder = g.orderPrinter()
			ag := agent.New(model, a.tools(ap), opts...)
			// Standing orders placed in this chat (or earlier) execute
			// while it runs; each execution passes the policy.
			watchCtx, stopWatch := context.WithCancel(ctx)
			watchDone := make(chan struct{})
			go func() { _ = a.book.Run(watchCtx); close(watchDone) }()
			defer func() {
				// Let a run in progress finish (the watcher stops between
				// runs, never inside one) before the wallet closes.
				stopWatch()
				<-watchDone
			}()
			sess := ag.Session(chat)
			tty := isTerminal(cmd.InOrStdin()) && !g.json
			if tty {
				fmt.Fprintf(g.stdout, "Mandate on chain %s, wallet %s, model %s. Type help, or Ctrl-D to leave.\n", a.client.Chain(), a.wallet.Address().Hex(), name)
			}
			for {
				if tty {
					fmt.Fprint(g.stdout, "you> ")
				}
				line, err := in.next()
				if errors.Is(err, errLineTooLong) {
					if g.json {
						writeJSON(g.stdout, map[string]any{"kind": "error", "error": err.Error()})
					} else {
						fmt.Fprintf(g.stdout, "! %v\n", err)
					}
					continue
				}
				if err != nil {
					if errors.Is(err, io.EOF) {
						return nil
					}
					return err
				}
				line = strings.TrimSpace(line)
				if line == "" {
					continue
				}
				if line == "/quit" || line == "/exit" {
					return nil
				}
				g.turn(ctx, sess, line)
				if ctx.Err() != nil {
					return nil
				}
			}
		},
	}
	cmd.Flags().StringVar(&chat, "chat", "cli:default", "conversation id; each keeps its own history")
	return cmd
}

// turn runs one message and renders its events.
func (g *globals) turn(ctx context.Context, sess *agent.Session, line string) {
	started := false
	denied := map[string]bool{} // calls whose denial was shown with its reasons
	for ev, err := range sess.Send(ctx, line) {
		if err != nil {
			if g.json {
				writeJSON(g.stdout, map[string]any{"kind": "error", "error": oneLine(err.Error())})
			} else {
				fmt.Fprintf(g.stdout, "\n! %s\n", oneLine(err.Error()))
			}
			return
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
}

// model is the configured LLM: a router over the backends from the
// environment with the offline intent model last, or the offline model
// alone when none is configured.
func (a *app) model() (llms.Model, string, error) {
	backends, err := llm.FromEnv()
	if err != nil {
		return nil, "", usageErr("%v", err)
	}
	if len(backends) == 0 {
		return offline.New(), "offline (no backend configured)", nil
	}
	names := make([]string, len(backends))
	for i, b := range backends {
		names[i] = b.Name
	}
	// The offline model is the last resort: when every backend is down,
	// the core commands still work.
	routes := append(llm.RouteAll(backends), llm.Named{Name: "offline", Model: offline.New(), Tools: true})
	return llm.NewRouter(routes, llm.WithRouterLogger(slog.Default())), strings.Join(names, ", ") + ", then offline", nil
}

// lines reads stdin a line at a time for both the chat and the approver,
// so neither swallows input meant for the other.
type lines struct {
	mu sync.Mutex
	r  *bufio.Reader
}

func newLines(r io.Reader) *lines { return &lines{r: bufio.NewReaderSize(r, 64<<10)} }

// maxLine bounds one chat message: a pasted megabyte is a mistake, and
// the model's context would not hold it anyway.
const maxLine = 64 << 10

// errLineTooLong is a message over maxLine; the rest of it was skipped.
var errLineTooLong = fmt.Errorf("message too long (over %d KiB); send a shorter one", maxLine>>10)

func (l *lines) next() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
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

// chatApprover asks on the terminal between chat lines; with no terminal it
// declines, so piped input can never approve what the policy wanted a
// person to see.
type chatApprover struct {
	lines *lines
	out   io.Writer
	tty   bool
}

func (c chatApprover) Approve(ctx context.Context, in policies.Intent, why []string) (bool, error) {
	if !c.tty {
		return false, nil
	}
	raw, err := policies.Marshal(in)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(c.out, "\nThe policy asks you to confirm this %s:\n  %s\n  because: %s\nApprove? [y/N] ", in.Kind(), raw, strings.Join(why, "; "))
	ans, err := c.lines.next()
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	ans = strings.ToLower(strings.TrimSpace(ans))
	return ans == "y" || ans == "yes", nil
}
