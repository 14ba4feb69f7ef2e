package mandate

import (
	"context"
	"fmt"

	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
)

// loadPolicy reads the configured policy: PolicySource, the Policy file,
// or on the devnet this process started its built-in one. A devnet reached
// over RPC, like any chain, needs the owner's policy.
func (rt *Runtime) loadPolicy(context.Context) error {
	var (
		src []byte
		err error
	)
	switch {
	case len(rt.cfg.PolicySource) > 0:
		src = rt.cfg.PolicySource
	case rt.cfg.Policy != "":
		p, err := policies.Load(rt.cfg.Policy)
		if err != nil {
			return configErr("policy", err)
		}
		rt.policy = p
		return nil
	case rt.dev != nil:
		if src, err = rt.dep.Policy(); err != nil {
			return fmt.Errorf("mandate: the devnet's policy: %w", err)
		}
	case rt.sol.dev != nil:
		if src, err = rt.sol.dev.Deployment().Policy(); err != nil {
			return fmt.Errorf("mandate: the Solana devnet's policy: %w", err)
		}
	default:
		return nil // reading needs no policy; the gate refuses all that moves value
	}
	p, err := policies.Parse(src)
	if err != nil {
		return configErr("policy", err)
	}
	rt.policy = p
	return nil
}

// openGate makes the policy engine over the store's ledger, priced by the
// runtime's price source; without a policy, a gate that allows nothing.
func (rt *Runtime) openGate(context.Context) error {
	if rt.policy == nil {
		rt.gate = tools.DenyAll{}
		return nil
	}
	rt.engine = policies.NewEngine(rt.policy, rt.store.Ledger(), rt.engineOptions()...)
	rt.gate = rt.engine
	return nil
}
