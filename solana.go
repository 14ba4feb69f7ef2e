package mandate

import (
	"context"
	"errors"
	"fmt"

	sol "github.com/gagliardetto/solana-go"

	soldevnet "github.com/mandatehq/mandate/chains/solana/devnet"
	"github.com/mandatehq/mandate/tools"
)

// solanaSide is a runtime's Solana part: the local runtime it started or
// the RPC it reaches, the mints a Mandate devnet made, and the wallet.
type solanaSide struct {
	dev   *soldevnet.Devnet
	rpc   string
	mints map[string]sol.PublicKey // a Mandate devnet's mints by symbol; nil elsewhere
	tools []tools.Tool             // the sol_ tools; none when Solana is not configured
}

// solanaConfigured reports whether the configuration asks for Solana.
func (rt *Runtime) solanaConfigured() bool {
	return rt.cfg.SolanaDevnet || rt.cfg.Solana.RPCURL != ""
}

// openSolanaChain starts the local Solana runtime or notes the configured
// RPC. A Mandate devnet reached over RPC says which mints it made, so its
// USDC needs no configuration; any other cluster does not answer that.
func (rt *Runtime) openSolanaChain(ctx context.Context) error {
	switch {
	case rt.cfg.SolanaDevnet:
		opts := []soldevnet.Option{}
		if rt.cfg.Progress != nil {
			opts = append(opts, soldevnet.WithProgress(rt.cfg.Progress))
		}
		d, err := soldevnet.Start(ctx, opts...)
		if err != nil {
			return fmt.Errorf("mandate: start the Solana devnet: %w", err)
		}
		rt.closers = append(rt.closers, func() { _ = d.Close() })
		rt.sol.dev, rt.sol.rpc, rt.sol.mints = d, d.RPC(), d.Mints()
	case rt.cfg.Solana.RPCURL != "":
		rt.sol.rpc = rt.cfg.Solana.RPCURL
		mints, err := soldevnet.FetchMints(ctx, rt.sol.rpc)
		switch {
		case err == nil:
			rt.sol.mints = mints
		case !errors.Is(err, soldevnet.ErrNotDevnet):
			return configErr("solana.rpc_url", err)
		}
	}
	return nil
}

// SolanaDevnet is the in-process Solana runtime, nil unless
// Config.SolanaDevnet.
func (rt *Runtime) SolanaDevnet() *soldevnet.Devnet { return rt.sol.dev }

// openSolanaWallet opens the Solana wallet over the journal.
func (rt *Runtime) openSolanaWallet(ctx context.Context) error {
	return nil
}
