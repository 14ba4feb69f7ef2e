package mandate

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/mcp/remote"
	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/analytics"
	"github.com/mandatehq/mandate/tools/dex"
	"github.com/mandatehq/mandate/tools/multisig"
	soltools "github.com/mandatehq/mandate/tools/solana"
	"github.com/mandatehq/mandate/tools/wallet"
)

// Catalog is every tool a runtime offers, with no chain, wallet or
// database behind it: enough to list names, descriptions, schemas and
// traits. Calling one fails with tools.ErrNoWallet or tools.ErrNoChain.
func Catalog() *tools.Registry {
	rt := &Runtime{gate: tools.DenyAll{}, tokens: tokenlist.Default(), log: slog.Default()}
	walletTools := wallet.Tools(nil, rt.gate)
	dexTools := dex.Tools(nil, rt.gate)
	book := dex.NewBook(nil, nil, dexTools)
	ms, _ := rt.multisigTools()
	return tools.NewRegistry(walletTools, dexTools, book.Tools(), rt.analyticsTools(), ms, soltools.New(nil, rt.gate, nil))
}

// openTools builds every tool kit over the wallet and the gate: wallet,
// DEX, standing orders, analytics and the Safe tools, the Solana tools,
// and the tools of the configured MCP servers.
func (rt *Runtime) openTools(ctx context.Context) error {
	remoteTools, err := rt.openRemote(ctx)
	if err != nil {
		return err
	}
	approver, progress := rt.cfg.Approver, rt.cfg.Progress
	walletTools := wallet.Tools(rt.wallet, rt.gate, wallet.WithTokenList(rt.tokens), wallet.WithApprover(approver), wallet.WithProgress(progress))
	dexTools := dex.Tools(rt.wallet, rt.gate, rt.dexOptions()...)
	rt.book = dex.NewBook(rt.store.Orders(), rt.wallet, dexTools, rt.bookOptions()...)
	ms, err := rt.multisigTools()
	if err != nil {
		return err
	}
	if rt.client == nil {
		// Solana only: EVM tools would only ever answer "no chain", and
		// offering them would send the model's "balance" to the wrong one.
		rt.reg = tools.NewRegistry(rt.sol.tools, remoteTools)
		return nil
	}
	rt.reg = tools.NewRegistry(walletTools, dexTools, rt.book.Tools(), rt.analyticsTools(), ms, rt.sol.tools, remoteTools)
	return nil
}

// openRemote connects to the configured MCP servers. Their tools'
// approved descriptions are kept in MCPPinsFile, so an approval outlives
// the process and a changed description is refused until the owner
// approves it (`mandate mcp approve`).
func (rt *Runtime) openRemote(ctx context.Context) ([]tools.Tool, error) {
	if len(rt.cfg.MCPServers) == 0 {
		return nil, nil
	}
	path, err := MCPPinsFile()
	if err != nil {
		return nil, err
	}
	kit, err := remote.Open(ctx, rt.cfg.MCPServers, remote.NewFilePins(path))
	if err != nil {
		return nil, configErr("mcp_servers", err)
	}
	rt.closers = append(rt.closers, func() { _ = kit.Close() })
	rt.remote = kit
	return kit.Tools(), nil
}

// MCPPinsFile is where the approved descriptions of the MCP servers'
// tools are kept.
func MCPPinsFile() (string, error) {
	base, err := os.UserConfigDir()
	if err != nil {
		return "", configErrf("mcp_servers", "no home directory to keep the approved tool descriptions in (%v)", err)
	}
	return filepath.Join(base, "mandate", "mcp-pins.json"), nil
}

// RemoteTools is the connection to the configured MCP servers, nil when
// none is configured: `mandate mcp approve` approves a changed tool there.
func (rt *Runtime) RemoteTools() *remote.Kit { return rt.remote }

func (rt *Runtime) dexOptions() []dex.Option {
	opts := []dex.Option{dex.WithTokenList(rt.tokens), dex.WithApprover(rt.cfg.Approver), dex.WithProgress(rt.cfg.Progress)}
	if f, r, ok := rt.uniswap(); ok {
		opts = append(opts, dex.WithUniswap(f, r))
	}
	if rt.policy != nil {
		opts = append(opts, dex.WithBounds(rt.policy))
	}
	return opts
}

func (rt *Runtime) bookOptions() []dex.BookOption {
	opts := []dex.BookOption{dex.BookTokenList(rt.tokens), dex.BookLogger(rt.log)}
	if rt.prices != nil {
		// Triggers are checked against the TWAP the policy judges swaps
		// by, not only the executable quote.
		opts = append(opts, dex.BookTWAP(rt.prices))
	}
	if rt.dev != nil {
		// The in-process devnet mines a block only when a transaction
		// arrives, so a trigger could wait for a second block forever; on
		// a real chain blocks keep coming and the default of two holds.
		opts = append(opts, dex.BookConfirmBlocks(1))
	}
	if on := rt.cfg.OnOrder; on != nil {
		opts = append(opts, dex.OnExecute(func(o orders.Order, err error) { on(o, err) }))
	}
	return opts
}

func (rt *Runtime) analyticsTools() []tools.Tool {
	opts := []analytics.Option{analytics.WithTokenList(rt.tokens), analytics.WithProgress(rt.cfg.Progress)}
	if f, r, ok := rt.uniswap(); ok {
		opts = append(opts, analytics.WithFactories(f), analytics.WithRouter(r))
	}
	if rt.dep != nil {
		opts = append(opts, analytics.WithContracts(rt.dep.Contracts))
	}
	if rt.prices != nil {
		opts = append(opts, analytics.WithPriceSource(rt.prices))
	}
	var me common.Address
	if rt.wallet != nil {
		me = rt.wallet.Address()
	}
	return analytics.Tools(rt.client, me, opts...)
}

func (rt *Runtime) multisigTools() ([]tools.Tool, error) {
	opts := []multisig.Option{multisig.WithTokenList(rt.tokens), multisig.WithApprover(rt.cfg.Approver)}
	if rt.cfg.SafeService != "" {
		svc, err := safe.NewService(rt.cfg.SafeService)
		if err != nil {
			return nil, configErr("safe_service", err)
		}
		opts = append(opts, multisig.WithService(svc))
	}
	if rt.dep != nil {
		opts = append(opts, multisig.WithBatches(rt.dep.Contracts[devnet.MultiSendCallOnly]))
	}
	var signer evm.Signer
	if rt.wallet != nil {
		signer = rt.signer
	}
	return multisig.Tools(rt.wallet, rt.gate, signer, opts...), nil
}
