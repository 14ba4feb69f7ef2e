package mandate

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/policies"
)

// openChain starts the devnet or dials the RPC node, and checks the chain
// is the one configured.
func (rt *Runtime) openChain(ctx context.Context) error {
	switch {
	case rt.cfg.Devnet:
		opts := rt.cfg.DevnetOptions
		if rt.cfg.Progress != nil {
			opts = append([]devnet.Option{devnet.WithProgress(rt.cfg.Progress)}, opts...)
		}
		d, err := devnet.New(ctx, opts...)
		if err != nil {
			return fmt.Errorf("mandate: start the devnet: %w", err)
		}
		rt.dev, rt.dep = d, d.Deployment()
		rt.closers = append(rt.closers, func() { _ = d.Close() })
		c, err := evm.NewClient(ctx, d.RPC(), evm.WithLabel("devnet"))
		if err != nil {
			return err
		}
		rt.client = c
	case rt.cfg.RPCURL != "":
		c, err := evm.Dial(ctx, rt.cfg.RPCURL)
		if err != nil {
			return err
		}
		rt.client = c
		rt.closers = append(rt.closers, c.Close)
		// A Mandate devnet says what it deployed; any other node does not.
		// Only a chain with the devnet's id is asked, so a remote node
		// cannot pass itself off as one on a real chain.
		if c.ChainID().Int64() == devnet.ChainID {
			if dep, err := devnet.FetchDeployment(ctx, rt.cfg.RPCURL); err == nil {
				rt.dep = dep
			}
		}
	case rt.solanaConfigured():
		return nil // Solana only: no EVM chain, wallet or EVM tools
	default:
		return ErrNoChain
	}
	if rt.cfg.ChainID != 0 && rt.client.ChainID().Int64() != rt.cfg.ChainID {
		return configErrf("chain_id", "%d was configured, but the RPC node is on chain %s", rt.cfg.ChainID, rt.client.Chain())
	}
	return nil
}

// openTokens builds the token list the tools resolve symbols with: the
// policy's own tokens first (the owner's words mean what the gate checks),
// then the configured list, the devnet's, and the built-in one; and the
// USD price source over it.
func (rt *Runtime) openTokens(ctx context.Context) error {
	var lists []*tokenlist.List
	if rt.policy != nil {
		lists = append(lists, policyTokens(rt.policy.Tokens()))
	}
	if rt.cfg.TokenList != "" {
		l, err := tokenlist.Load(ctx, rt.cfg.TokenList)
		if err != nil {
			return configErr("tokenlist", err)
		}
		lists = append(lists, l)
	}
	if rt.dep != nil {
		l, err := rt.dep.TokenList()
		if err != nil {
			return fmt.Errorf("mandate: the devnet's token list: %w", err)
		}
		lists = append(lists, l)
	}
	rt.tokens = tokenlist.Merge(append(lists, tokenlist.Default())...)
	rt.prices = rt.priceSource()
	return nil
}

// policyTokens is the policy's tokens as a token list (EVM chains only).
func policyTokens(defs []policies.TokenDef) *tokenlist.List {
	l := &tokenlist.List{Name: "policy"}
	for _, d := range defs {
		id, err := strconv.ParseInt(d.Chain, 10, 64)
		if err != nil || !common.IsHexAddress(d.Address) {
			continue // another family's chain (solana-…)
		}
		l.Tokens = append(l.Tokens, tokenlist.Token{ChainID: id, Address: d.Address, Symbol: d.Symbol, Name: d.Symbol, Decimals: d.Decimals})
	}
	return l
}

// priceSource is the USD price source the policy's USD limits, its
// max_loss_bps and the analytics use: Uniswap V3 TWAPs against the token
// list's stablecoins on this chain, one source (and one per-block cache)
// for all. Nil where the chain has no known Uniswap deployment or no listed
// stablecoin. Every pool it prices through must hold the whole TWAP window
// of history, except on a Mandate devnet, whose pools hold devnet.OracleAge.
func (rt *Runtime) priceSource() *uniswap.PriceSource {
	f, _, ok := rt.uniswap()
	if !ok {
		return nil
	}
	var stables []uniswap.Stablecoin
	for _, sym := range []string{"USDC", "USDT", "DAI"} {
		if t, err := rt.tokens.Lookup(rt.client.ChainID().Int64(), sym); err == nil {
			stables = append(stables, uniswap.Stablecoin{Symbol: t.Symbol, Address: common.HexToAddress(t.Address), Decimals: t.Decimals})
		}
	}
	if len(stables) == 0 {
		return nil
	}
	var opts []uniswap.PriceOption
	if rt.dep != nil {
		opts = append(opts, uniswap.WithMinTWAPWindow(devnet.OracleAge))
	}
	return uniswap.NewPriceSource(rt.client, f, stables, opts...)
}

// uniswap is where swaps go on this chain: the devnet's own deployment, or
// Uniswap's on a chain it is known on.
func (rt *Runtime) uniswap() (uniswap.Factories, uniswap.Router02, bool) {
	switch {
	case rt.dep != nil:
		return rt.dep.Uniswap()
	case rt.client != nil:
		return uniswap.Known(rt.client.ChainID().Int64())
	}
	return uniswap.Factories{}, uniswap.Router02{}, false
}

// noticeNewChain says so when the journal knows this wallet only on other
// chains with this chain's id (a devnet restarted over the same database):
// their transactions are kept, but never sent again nor answer for a key.
func (rt *Runtime) noticeNewChain(ctx context.Context) {
	chains, err := rt.store.JournalChains(ctx, rt.wallet.Address().Hex())
	if err != nil {
		return
	}
	id, others := rt.wallet.Chain(), 0
	for _, c := range chains {
		if c == rt.wallet.JournalChain() {
			return
		}
		if c == id || strings.HasPrefix(c, id+"/") {
			others++
		}
	}
	if others > 0 {
		rt.notify("chain %s at this RPC is a new chain (genesis %s); the journal's transactions from %d earlier chain(s) with this id are kept but never sent or answered here",
			id, rt.client.Genesis().Hex(), others)
	}
}
