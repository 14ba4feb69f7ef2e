package mandate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate/agent"
	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/mcp/remote"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/dex"
)

// Runtime is an assembled agent with a wallet under a policy: what Open
// built from a Config. Its parts are there for front ends that render them
// (the chain, the wallet's address, the policy) or need them directly; the
// agent and the tools already carry everything.
type Runtime struct {
	cfg Config
	log *slog.Logger

	dev    *devnet.Devnet
	dep    *devnet.Deployment // the devnet's contracts, also for one reached over RPC
	client *evm.Client
	tokens *tokenlist.List
	prices *uniswap.PriceSource

	store *memory.Store // ledger, journal, orders, decisions
	dsn   string        // where store is
	chats *memory.Store // conversations: store, or a devnet run's own

	policy *policies.Policy
	engine *policies.Engine
	gate   tools.Gate

	signer evm.Signer
	wallet *evm.Wallet

	sol    solanaSide  // the Solana wallet and its tools, when configured
	remote *remote.Kit // the configured MCP servers' tools

	reg       *tools.Registry
	book      *dex.Book
	model     llms.Model
	modelName string
	agent     *agent.Agent

	watchMu   sync.Mutex
	watchStop context.CancelFunc
	watchDone chan struct{}

	closeOnce sync.Once
	closers   []func()
}

// Open assembles a runtime from cfg: the chain (an RPC node, or the
// in-process devnet), the database, the token list (the policy's tokens
// always among it), the price source, the policy engine (a gate that
// allows nothing when no policy is given), the signer (a raw key only on the
// devnet's chain), the wallet, which reconciles its journal with the chain
// before anything is sent, every tool kit, the model router and the agent.
// On error everything opened so far is closed again.
func Open(ctx context.Context, cfg Config) (_ *Runtime, err error) {
	rt := &Runtime{cfg: cfg, log: cfg.Logger}
	if rt.log == nil {
		rt.log = slog.Default()
	}
	defer func() {
		if err != nil {
			rt.Close()
		}
	}()
	steps := []func(context.Context) error{rt.openChain, rt.openSolanaChain, rt.openStore, rt.loadPolicy, rt.openTokens, rt.openGate, rt.openWallet, rt.openSolanaWallet, rt.openTools, rt.openAgent, rt.observe}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return rt, nil
}

// Close stops the order watcher (after a run in progress) and releases the
// wallet, the database, the RPC client and the devnet. It is safe to call
// more than once.
func (rt *Runtime) Close() error {
	rt.closeOnce.Do(func() {
		rt.StopOrders()
		for i := len(rt.closers) - 1; i >= 0; i-- {
			rt.closers[i]()
		}
	})
	return nil
}

// Agent is the agent over the runtime's tools, model and memory.
func (rt *Runtime) Agent() *agent.Agent { return rt.agent }

// Tools is the registry of every tool the runtime offers, each through the
// policy gate.
func (rt *Runtime) Tools() *tools.Registry { return rt.reg }

// Wallet is the signing wallet.
func (rt *Runtime) Wallet() *evm.Wallet { return rt.wallet }

// Signer is the wallet's signer, for a co-signer that signs Safe
// transactions with it (only through evm.SignSafeTx, with an Approval).
func (rt *Runtime) Signer() evm.Signer { return rt.signer }

// Client is the chain's RPC client.
func (rt *Runtime) Client() *evm.Client { return rt.client }

// Store is the database of the ledger, the journal, the orders and the
// decisions.
func (rt *Runtime) Store() *memory.Store { return rt.store }

// Gate is the policy gate: the engine, or one that allows nothing.
func (rt *Runtime) Gate() tools.Gate { return rt.gate }

// Engine is the policy engine, nil when no policy is configured.
func (rt *Runtime) Engine() *policies.Engine { return rt.engine }

// Policy is the policy in force, nil when none is configured.
func (rt *Runtime) Policy() *policies.Policy { return rt.policy }

// Tokens is the token list the tools resolve symbols with.
func (rt *Runtime) Tokens() *tokenlist.List { return rt.tokens }

// Prices is the USD price source (V3 TWAPs), nil where the chain has none.
func (rt *Runtime) Prices() *uniswap.PriceSource { return rt.prices }

// Devnet is the in-process devnet, nil unless Config.Devnet.
func (rt *Runtime) Devnet() *devnet.Devnet { return rt.dev }

// Deployment is the devnet's deployment (also of a devnet reached over
// RPC), nil on other chains.
func (rt *Runtime) Deployment() *devnet.Deployment { return rt.dep }

// Model is the model the agent runs, and its name for people.
func (rt *Runtime) Model() (llms.Model, string) { return rt.model, rt.modelName }

// Orders is the standing-order book.
func (rt *Runtime) Orders() *dex.Book { return rt.book }

// StartOrders runs the standing-order watcher in the background until
// StopOrders or Close; each run reports to Config.OnOrder. Starting it
// twice is a no-op, and so is starting it without an EVM wallet (standing
// orders are Uniswap swaps).
func (rt *Runtime) StartOrders() {
	rt.watchMu.Lock()
	defer rt.watchMu.Unlock()
	if rt.watchStop != nil || rt.wallet == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	rt.watchStop, rt.watchDone = cancel, done
	go func() {
		defer close(done)
		if err := rt.book.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			rt.log.Warn("the standing-order watcher stopped", "error", err.Error())
		}
	}()
}

// StopOrders stops the watcher and waits for a run in progress to finish:
// the watcher stops between runs, never inside one.
func (rt *Runtime) StopOrders() {
	rt.watchMu.Lock()
	stop, done := rt.watchStop, rt.watchDone
	rt.watchStop, rt.watchDone = nil, nil
	rt.watchMu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// notify tells the person running the runtime something they should know.
func (rt *Runtime) notify(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	if rt.cfg.Notify != nil {
		rt.cfg.Notify(msg)
		return
	}
	rt.log.Info(msg)
}
