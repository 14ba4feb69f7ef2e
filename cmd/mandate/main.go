// Command mandate runs Mandate's agents, bots, co-signer and tools.
//
// Exit status: 0 on success, 1 on a denial or a failed action, 2 on bad
// usage or bad input. With --json, stdout carries exactly one JSON object
// (or JSON lines for streams); logs and progress go to stderr.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// Exit statuses, part of the CLI's public contract.
const (
	exitOK     = 0
	exitFailed = 1 // a denial or a failed action
	exitUsage  = 2 // bad usage or bad input
)

// globals are the persistent flags every command shares.
type globals struct {
	configPath string
	json       bool
	devnet     bool
	solana     bool
	verbose    bool
	logFormat  string
	stdout     io.Writer
	stderr     io.Writer
	// dsn is the database the command opened, and db names it for a
	// message when it fails (a path, or a URL without its password).
	dsn, db string
	// key is the idempotency key the CLI made for this call, which a
	// failure's message repeats: the call to retry with it.
	key string
}

func main() {
	ctx, stop := processContext() // SIGTERM, and SIGINT unless the chat claims it
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it with their own streams.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	err = g.explain(advise(err))
	code := exitCode(err)
	var ee *exitErr
	if errors.As(err, &ee) && ee.quiet {
		return code
	}
	if g.json {
		writeJSONError(stdout, err, g.key)
	} else {
		printErr(stderr, err)
	}
	return code
}

// printErr prints a failed command's error in one line; a denial with
// several reasons gives each its own line instead, once.
func printErr(w io.Writer, err error) {
	msg := strings.TrimPrefix(oneLine(err.Error()), "mandate: ") // a library error's own prefix
	var d *policies.Denied
	if !errors.As(err, &d) || len(d.Reasons) < 2 || !strings.Contains(msg, d.Error()) {
		fmt.Fprintln(w, "mandate: "+msg)
		return
	}
	fmt.Fprintln(w, "mandate: "+strings.Replace(msg, d.Error(), "denied by the policy:", 1))
	for _, r := range d.Reasons {
		fmt.Fprintln(w, "  - "+oneLine(r.String()))
	}
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "mandate",
		Short:         "AI agents that hold wallets and trade, under a policy you write",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			level := slog.LevelWarn
			if g.verbose {
				level = slog.LevelDebug
			}
			opts := &slog.HandlerOptions{Level: level}
			switch g.logFormat {
			case "text":
				slog.SetDefault(slog.New(slog.NewTextHandler(g.stderr, opts)))
			case "json":
				slog.SetDefault(slog.New(slog.NewJSONHandler(g.stderr, opts)))
			default:
				return usageErr("--log-format must be text or json; got %q", g.logFormat)
			}
			return nil
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErr("%v", err) })
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", "", "config file (default ./mandate.yaml if present)")
	pf.BoolVar(&g.json, "json", false, "print one JSON object (JSON lines for streams) on stdout")
	pf.BoolVar(&g.devnet, "devnet", false, "start a local chain with real contracts in-process and use it")
	pf.BoolVar(&g.solana, "solana", false, "with --devnet: start the local Solana runtime instead and use the Solana tools")
	pf.StringVar(&g.logFormat, "log-format", "text", "logs on stderr as text or json (one object a line)")
	pf.BoolVarP(&g.verbose, "verbose", "v", false, "debug logs on stderr")
	root.AddCommand(
		newDevnetCmd(g),
		newWalletCmd(g),
		newToolsCmd(g),
		newPolicyCmd(g),
		newDemoCmd(g),
		newChatCmd(g),
		newLLMCmd(g),
		newOrdersCmd(g),
		newCosignerCmd(g),
		newTelegramCmd(g),
		newDiscordCmd(g),
		newMCPCmd(g),
		newAuditCmd(g),
		newDBCmd(g),
	)
	return root
}

// exitErr carries an exit status with an error.
type exitErr struct {
	code  int
	err   error
	quiet bool // the command already said why; print nothing more
}

func (e *exitErr) Error() string { return e.err.Error() }
func (e *exitErr) Unwrap() error { return e.err }

// usageErr is bad usage or bad input: exit status 2.
func usageErr(format string, a ...any) error {
	return &exitErr{code: exitUsage, err: fmt.Errorf(format, a...)}
}

// asUsage marks err as bad input (exit 2), keeping it for errors.As.
func asUsage(err error) error {
	if err == nil {
		return nil
	}
	return &exitErr{code: exitUsage, err: err}
}

func exitCode(err error) int {
	// A database that is locked, read-only, full, damaged or down is not
	// bad input, however a layer wrapped it.
	if memory.Fault(err) != nil {
		return exitFailed
	}
	var ee *exitErr
	if errors.As(err, &ee) {
		return ee.code
	}
	var ae *tools.ArgError
	if errors.As(err, &ae) || errors.Is(err, tools.ErrUnknownTool) {
		return exitUsage
	}
	if strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "accepts ") ||
		strings.HasPrefix(err.Error(), "requires ") {
		return exitUsage
	}
	return exitFailed
}

// oneLine keeps an error to one line: a user sees what was wrong, not a dump.
func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\r", " ")
	return strings.ReplaceAll(s, "\n", "; ")
}

// writeJSONError prints err as the command's one JSON object, with the
// idempotency key the CLI made for the call, if any, to retry it with.
func writeJSONError(w io.Writer, err error, key string) {
	obj := map[string]any{"ok": false, "error": oneLine(err.Error())}
	if f := jsonFault(err); f != "" {
		obj["fault"] = f
	}
	if key != "" {
		obj["idempotency_key"] = key
	}
	var d *policies.Denied
	if errors.As(err, &d) {
		obj["decision"] = "deny"
		reasons := make([]string, len(d.Reasons))
		for i, r := range d.Reasons {
			reasons[i] = r.String()
		}
		obj["reasons"] = reasons
	}
	writeJSON(w, obj)
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f any) bool {
	if w, ok := f.(interface{ Unwrap() io.Writer }); ok { // the chat's console
		return isTerminal(w.Unwrap())
	}
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress returns where long steps report: stderr on a terminal, nowhere
// under --json or when stderr is not a terminal.
func (g *globals) progress() io.Writer {
	if g.json || !isTerminal(g.stderr) {
		return nil
	}
	return g.stderr
}
