package main

import (
	"context"
	"fmt"
	"net"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/metrics"
)

// metricsFlag adds --metrics to a long-running command.
func metricsFlag(cmd *cobra.Command, addr *string) {
	cmd.Flags().StringVar(addr, "metrics", "", "serve /metrics (Prometheus), /healthz and /readyz on this address, e.g. 127.0.0.1:9464")
}

// openWithMetrics is g.open for a long-running command: with addr set it
// listens there first (a taken port is bad usage, found before anything
// starts), has the runtime report to the collectors, and serves them until
// ctx ends.
func (g *globals) openWithMetrics(ctx context.Context, addr string, edit func(*mandate.Config)) (*mandate.Runtime, error) {
	if addr == "" {
		return g.open(ctx, edit)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usageErr("--metrics %s: %v", addr, err)
	}
	m := metrics.New()
	rt, err := g.open(ctx, func(c *mandate.Config) {
		if edit != nil {
			edit(c)
		}
		c.Metrics = m
	})
	if err != nil {
		l.Close()
		return nil, err
	}
	fmt.Fprintf(g.stderr, "mandate: metrics at http://%s/metrics (health: /healthz, /readyz)\n", l.Addr())
	go func() {
		if err := m.Serve(ctx, l, rt.Ready); err != nil {
			fmt.Fprintf(g.stderr, "mandate: the metrics server stopped: %v\n", err)
		}
	}()
	return rt, nil
}
