package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate/mcp"
)

// EnvMCPToken is the bearer token `mandate mcp --listen` requires of HTTP
// clients.
const EnvMCPToken = "MANDATE_MCP_TOKEN"

func newMCPCmd(g *globals) *cobra.Command {
	var (
		listen     string
		rps        float64
		burst      int
		maxBody    int64
		sessionTTL time.Duration
		metrics    string
	)
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve the wallet's tools to MCP clients (stdio, or Streamable HTTP with --listen), each call through the policy",
		Long: `Serves every tool as an MCP server, through the same policy gate as the agent:
a refusal is a tool error with its reasons, and what the policy wants a person to
confirm is asked through the client (MCP elicitation) or refused where it cannot ask.
Resources: mandate://policy, mandate://portfolio, mandate://decisions.

By default it speaks MCP on stdin/stdout, for a client that starts it:
  {"mcpServers": {"mandate": {"command": "mandate", "args": ["mcp", "--devnet"]}}}
With --listen ADDR it serves Streamable HTTP at http://ADDR/mcp to clients that send
"Authorization: Bearer $` + EnvMCPToken + `".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			token := os.Getenv(EnvMCPToken)
			if listen != "" && len(token) < mcp.MinTokenLen {
				return usageErr("--listen needs a bearer token: set %s to a long random string (at least %d characters), e.g. $(openssl rand -hex 32)", EnvMCPToken, mcp.MinTokenLen)
			}
			// No approver here: each call asks its own client's user.
			rt, err := g.openWithMetrics(ctx, metrics, nil)
			if err != nil {
				return err
			}
			defer rt.Close()
			srv := mcp.New(rt, mcp.WithLogger(slog.Default()))
			if listen == "" {
				err := srv.Run(ctx, &sdk.StdioTransport{})
				if ctx.Err() != nil || errors.Is(err, context.Canceled) {
					return nil
				}
				return err
			}
			return g.serveMCP(ctx, srv, listen, token, mcp.WithRateLimit(rps, burst), mcp.WithMaxBody(maxBody), mcp.WithSessionTimeout(sessionTTL))
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "", "serve Streamable HTTP at http://ADDR/mcp instead of stdio, e.g. 127.0.0.1:8765 (needs "+EnvMCPToken+")")
	f.Float64Var(&rps, "rate", 20, "with --listen: requests per second each client (IP address) may make")
	f.IntVar(&burst, "burst", 40, "with --listen: requests a client may make at once above --rate")
	f.Int64Var(&maxBody, "max-body", 1<<20, "with --listen: largest request body in bytes")
	f.DurationVar(&sessionTTL, "session-timeout", 30*time.Minute, "with --listen: close a client's session after this long without a request")
	metricsFlag(cmd, &metrics)
	cmd.AddCommand(newMCPApproveCmd(g))
	return cmd
}

// newMCPApproveCmd is `mandate mcp approve SERVER__TOOL`: the owner accepts
// the description a configured MCP server now gives one of its tools,
// which the agent refuses to call while it differs from the one approved.
func newMCPApproveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "approve SERVER__TOOL",
		Short: "Approve the changed description of a tool of a configured MCP server (mcp_servers)",
		Long: `The tools of the MCP servers in mandate.yaml's mcp_servers are offered to the agent
as SERVER__TOOL, read-only, with the description the owner approved. A server that
changes a tool's description or schema afterwards has that tool refused until the owner
reads the new one (` + "`mandate tools list`" + `) and approves it here.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rt, err := g.open(cmd.Context(), nil)
			if err != nil {
				return err
			}
			defer rt.Close()
			kit := rt.RemoteTools()
			if kit == nil {
				return usageErr("no MCP servers are configured (mcp_servers in mandate.yaml)")
			}
			if err := kit.Approve(cmd.Context(), args[0]); err != nil {
				return asUsage(err)
			}
			return g.print(map[string]any{"ok": true, "approved": args[0]}, "approved the current description of %s", args[0])
		},
	}
}

// serveMCP serves srv over HTTP until ctx ends, then waits for the tool
// calls in progress before the runtime closes.
func (g *globals) serveMCP(ctx context.Context, srv *mcp.Server, listen, token string, opts ...mcp.HTTPOption) error {
	h, err := srv.Handler(token, opts...)
	if err != nil {
		return usageErr("%s: %v", EnvMCPToken, err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return usageErr("--listen %s: %v", listen, err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	fmt.Fprintf(g.stderr, "mandate: MCP server at http://%s%s (bearer token from %s)\n", ln.Addr(), mcp.Path, EnvMCPToken)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = hs.Shutdown(shutdown)
	srv.Wait()
	if err == nil || errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
