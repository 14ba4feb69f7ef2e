package mandate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	sol "github.com/gagliardetto/solana-go"

	"github.com/mandatehq/mandate/chains/solana"
	soldevnet "github.com/mandatehq/mandate/chains/solana/devnet"
	"github.com/mandatehq/mandate/chains/solana/jupiter"
	"github.com/mandatehq/mandate/tools"
	soltools "github.com/mandatehq/mandate/tools/solana"
)

// solanaSide is a runtime's Solana part: the local runtime it started or
// the RPC it reaches, the mints a Mandate devnet made, and the wallet.
type solanaSide struct {
	dev    *soldevnet.Devnet
	rpc    string
	mints  map[string]sol.PublicKey // a Mandate devnet's mints by symbol; nil elsewhere
	tools  []tools.Tool             // the sol_ tools; none when Solana is not configured
	wallet *solana.Wallet
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

// openSolanaWallet opens the Solana wallet over the journal (it reconciles
// what a previous process left open) and makes the sol_ tools.
func (rt *Runtime) openSolanaWallet(ctx context.Context) error {
	if rt.sol.rpc == "" {
		return nil
	}
	c, err := solana.NewClient(rt.sol.rpc)
	if err != nil {
		return configErr("solana.rpc_url", err)
	}
	s, err := rt.solanaSigner(ctx)
	if err != nil {
		return err
	}
	var opts []solana.WalletOption
	if rt.sol.mints != nil {
		opts = append(opts, solana.WithCluster("solana-local"))
	}
	if rt.cfg.Logger != nil {
		opts = append(opts, solana.WithLogger(rt.cfg.Logger))
	}
	rctx, cancel := context.WithTimeout(ctx, resumeLimit)
	defer cancel()
	w, err := solana.NewWallet(rctx, c, s, rt.store.Journal(), opts...)
	if err != nil {
		return fmt.Errorf("mandate: the Solana wallet: %w", err)
	}
	rt.sol.wallet = w
	topts := []soltools.Option{soltools.WithMints(rt.sol.mints)}
	if u := rt.cfg.Solana.JupiterURL; u != "" {
		jopts := []jupiter.ClientOption{jupiter.WithBaseURL(u)}
		if k := rt.cfg.Solana.JupiterKey; k != "" {
			jopts = append(jopts, jupiter.WithAPIKey(k))
		}
		topts = append(topts, soltools.WithJupiter(jupiter.NewClient(jopts...)))
	}
	if rt.cfg.Progress != nil {
		topts = append(topts, soltools.WithProgress(rt.cfg.Progress))
	}
	rt.sol.tools = soltools.New(w, rt.gate, rt.cfg.Approver, topts...)
	return nil
}

// solanaSigner picks the Solana key: the raw MANDATE_SOLANA_KEY (only on a
// Mandate devnet: elsewhere a key belongs in the encrypted keystore), the
// in-process devnet's first funded account, or the Solana keystore's one
// account.
func (rt *Runtime) solanaSigner(ctx context.Context) (solana.Signer, error) {
	switch {
	case rt.cfg.Solana.Key != "":
		if rt.sol.mints == nil {
			return nil, configErrf("solana.key", "a raw key is for tests and the Solana devnet only, and %s is not one: import the key into the keystore", rt.sol.rpc)
		}
		kp, err := solana.KeypairFromBase58(rt.cfg.Solana.Key)
		if err != nil {
			return nil, configErr("solana.key", err)
		}
		return solana.NewKeySigner(kp), nil
	case rt.sol.dev != nil:
		kp, err := solana.KeypairFromBase58(rt.sol.dev.Accounts()[0].SecretKey.String())
		if err != nil {
			return nil, err
		}
		return solana.NewKeySigner(kp), nil
	}
	ks, err := OpenSolanaKeystore(rt.cfg)
	if err != nil {
		return nil, err
	}
	keys, err := ks.List()
	if err != nil {
		return nil, configErr("keystore", err)
	}
	switch len(keys) {
	case 0:
		return nil, fmt.Errorf("%w: the Solana keystore %s is empty (mandate wallet import --solana, or MANDATE_SOLANA_KEY on the devnet)", ErrNoKey, ks.Dir())
	case 1:
	default:
		return nil, configErrf("keystore", "the Solana keystore %s holds %d keys; keep the one this wallet uses", ks.Dir(), len(keys))
	}
	pass := rt.cfg.Passphrase
	if pass == "" {
		if rt.cfg.PassphraseFunc == nil {
			return nil, fmt.Errorf("%w (Solana account %s)", ErrPassphrase, keys[0])
		}
		if pass, err = rt.cfg.PassphraseFunc(ctx, keys[0].String()); err != nil {
			return nil, err
		}
	}
	return ks.Signer(keys[0], pass)
}

// OpenSolanaKeystore opens the Solana keys' directory: "solana" inside the
// configured keystore, or inside the user's default one.
func OpenSolanaKeystore(cfg Config) (*solana.Keystore, error) {
	dir := cfg.Keystore
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return nil, configErrf("keystore", "no home directory for the default keystore (%v); configure one", err)
		}
		dir = filepath.Join(base, "mandate", "keystore")
	}
	ks, err := solana.OpenKeystore(filepath.Join(dir, "solana"))
	if err != nil {
		return nil, configErr("keystore", err)
	}
	return ks, nil
}

// SolanaWallet is the Solana wallet, nil when Solana is not configured.
func (rt *Runtime) SolanaWallet() *solana.Wallet { return rt.sol.wallet }

// Where says which chains and wallets the runtime acts on, for a front
// end's greeting: "chain 1337, wallet 0x…", "solana-local, wallet …", or
// both.
func (rt *Runtime) Where() string {
	var parts []string
	if rt.client != nil && rt.wallet != nil {
		parts = append(parts, fmt.Sprintf("chain %s, wallet %s", rt.client.Chain(), rt.wallet.Address().Hex()))
	}
	if rt.sol.wallet != nil {
		parts = append(parts, fmt.Sprintf("%s, wallet %s", rt.sol.wallet.Cluster(), rt.sol.wallet.Address()))
	}
	if len(parts) == 0 {
		return "no wallet"
	}
	return strings.Join(parts, "; ")
}
