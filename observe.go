package mandate

import (
	"context"
	"errors"
	"fmt"

	"github.com/mandatehq/mandate/metrics"
	"github.com/mandatehq/mandate/policies"
)

// observe connects the runtime's parts to Config.Metrics: the engine's
// decisions, the store's commits and nonce waits, every tool call, the
// journal's states and the model backends' health.
func (rt *Runtime) observe(context.Context) error {
	m := rt.cfg.Metrics
	if m == nil {
		return nil
	}
	rt.store.Observe(m)
	rt.reg.Observe(m.ToolCalled)
	m.WatchJournal(rt.store)
	if b, ok := rt.model.(metrics.Backends); ok {
		m.WatchLLM(b)
	}
	return nil
}

// engineOptions are the engine's options from the configuration.
func (rt *Runtime) engineOptions() []policies.Option {
	var opts []policies.Option
	if rt.prices != nil {
		opts = append(opts, policies.WithPrices(rt.prices))
	}
	if rt.cfg.Metrics != nil {
		opts = append(opts, policies.WithObserver(rt.cfg.Metrics))
	}
	return opts
}

// Ready reports whether the runtime can act: the database answers, and so
// do the chains it is on. A readiness probe (/readyz) calls it.
func (rt *Runtime) Ready(ctx context.Context) error {
	var errs []error
	if err := rt.store.Ping(ctx); err != nil {
		errs = append(errs, fmt.Errorf("database: %w", err))
	}
	if rt.client != nil {
		if _, err := rt.client.BlockNumber(ctx); err != nil {
			errs = append(errs, fmt.Errorf("EVM RPC: %w", err))
		}
	}
	if w := rt.sol.wallet; w != nil {
		if _, err := w.Client().BlockHeight(ctx); err != nil {
			errs = append(errs, fmt.Errorf("Solana RPC: %w", err))
		}
	}
	return errors.Join(errs...)
}
