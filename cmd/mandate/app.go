package main

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/chains/evm/uniswap"
	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/orders"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/analytics"
	"github.com/mandatehq/mandate/tools/dex"
	"github.com/mandatehq/mandate/tools/multisig"
	"github.com/mandatehq/mandate/tools/wallet"
)

// needs says which parts a command uses; app opens only those.
type needs struct {
	chain  bool // an RPC client (and the devnet's deployment, if any)
	wallet bool // a signer and the journal
	policy bool // the policy engine and its ledger
}

// app is the assembled runtime of one command.
type app struct {
	g        *globals
	cfg      *Config
	dev      *devnet.Devnet
	dep      *devnet.Deployment
	client   *evm.Client
	tokens   *tokenlist.List
	store    *memory.Store
	policy   *policies.Policy
	engine   *policies.Engine
	wallet   *evm.Wallet
	book     *dex.Book // standing orders; set by tools
	priceSrc *uniswap.PriceSource
	// signerUsed is the wallet's signer, which the Safe tools sign
	// safeTxHashes with (only through evm.SignSafeTx, with an Approval).
	signerUsed evm.Signer
	onOrder    func(orders.Order, error)
	closers    []func()
}

// progress is where long steps report (nil for the listing-only app).
func (a *app) progress() io.Writer {
	if a.g == nil {
		return nil
	}
	return a.g.progress()
}

func (a *app) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// open assembles what n asks for. On error everything opened so far is
// closed again.
func (g *globals) open(ctx context.Context, n needs) (_ *app, err error) {
	cfg, err := loadConfig(g.configPath)
	if err != nil {
		return nil, err
	}
	a := &app{g: g, cfg: cfg}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if n.wallet || n.policy {
		n.chain = true
	}
	if n.chain {
		if err := a.openChain(ctx); err != nil {
			return nil, err
		}
	}
	if n.wallet || n.policy {
		if err := a.openStore(ctx); err != nil {
			return nil, err
		}
	}
	if n.policy {
		if err := a.openPolicy(ctx); err != nil {
			return nil, err
		}
	}
	if n.wallet {
		if err := a.openWallet(ctx); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *app) openChain(ctx context.Context) error {
	switch {
	case a.g.devnet:
		d, err := devnet.New(ctx, devnet.WithProgress(a.g.progress()))
		if err != nil {
			return fmt.Errorf("start devnet: %w", err)
		}
		a.dev, a.dep = d, d.Deployment()
		a.closers = append(a.closers, func() { _ = d.Close() })
		c, err := evm.NewClient(ctx, d.RPC(), evm.WithLabel("devnet"))
		if err != nil {
			return err
		}
		a.client = c
	case a.cfg.RPCURL != "":
		c, err := evm.Dial(ctx, a.cfg.RPCURL)
		if err != nil {
			return err
		}
		a.client = c
		a.closers = append(a.closers, c.Close)
		// A Mandate devnet says what it deployed; any other node does not.
		// Only a chain with the devnet's id is asked, so a remote node cannot
		// pass itself off as one on a real chain.
		if a.client.ChainID().Int64() == devnet.ChainID {
			if dep, err := devnet.FetchDeployment(ctx, a.cfg.RPCURL); err == nil {
				a.dep = dep
			}
		}
	default:
		return usageErr("no chain: set MANDATE_RPC_URL (or rpc_url in mandate.yaml), or pass --devnet for a local chain")
	}
	if a.cfg.ChainID != 0 && a.client.ChainID().Int64() != a.cfg.ChainID {
		return usageErr("MANDATE_CHAIN_ID is %d but the RPC node is on chain %s; point MANDATE_RPC_URL at the right chain", a.cfg.ChainID, a.client.Chain())
	}
	lists := []*tokenlist.List{}
	if a.cfg.TokenList != "" {
		l, err := tokenlist.Load(ctx, a.cfg.TokenList)
		if err != nil {
			return usageErr("MANDATE_TOKENLIST: %v", err)
		}
		lists = append(lists, l)
	}
	if a.dep != nil {
		l, err := a.dep.TokenList()
		if err != nil {
			return fmt.Errorf("devnet token list: %w", err)
		}
		lists = append(lists, l)
	}
	a.tokens = tokenlist.Merge(append(lists, tokenlist.Default())...)
	return nil
}

// openStore opens MANDATE_DB. A devnet started in-process is a new chain
// each time, so by default it gets a new database too: a journal from an
// earlier devnet would hold nonces (and signed transactions) of a chain that
// no longer exists.
func (a *app) openStore(ctx context.Context) error {
	dsn := a.cfg.DB
	if dsn == "" && a.dev != nil && a.g.keepDevnetDB {
		// The chat remembers across restarts even on the devnet. The chain
		// itself is new each time; the wallet recognises journal rows of
		// the chain that is gone (see evm.Wallet.Send).
		dir, err := os.UserConfigDir()
		if err != nil {
			return fmt.Errorf("no home for the devnet database (%v); set MANDATE_DB", err)
		}
		dsn = "sqlite:" + filepath.Join(dir, "mandate", "devnet.db")
	}
	if dsn == "" {
		if a.dev != nil {
			dir, err := os.MkdirTemp("", "mandate-devnet-")
			if err != nil {
				return err
			}
			a.closers = append(a.closers, func() { _ = os.RemoveAll(dir) })
			dsn = "sqlite:" + filepath.Join(dir, "mandate.db")
		} else {
			dir, err := os.UserConfigDir()
			if err != nil {
				return fmt.Errorf("no home for the default database (%v); set MANDATE_DB", err)
			}
			dsn = "sqlite:" + filepath.Join(dir, "mandate", "mandate.db")
		}
	}
	s, err := a.g.openDB(ctx, dsn)
	if err != nil {
		return err
	}
	a.store = s
	a.closers = append(a.closers, func() { _ = s.Close() })
	return nil
}

//go:embed devnet-policy.yaml
var devnetPolicyTemplate string

// devnetPolicy is the policy --devnet uses when MANDATE_POLICY is not set:
// the devnet's tokens with modest limits, so a walk-through shows both an
// allowed transfer and a denial.
func devnetPolicy(dep *devnet.Deployment) ([]byte, error) {
	t, err := template.New("policy").Option("missingkey=error").Parse(devnetPolicyTemplate)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, map[string]any{"C": dep.Contracts, "ChainID": dep.ChainID}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (a *app) openPolicy(ctx context.Context) error {
	var (
		p   *policies.Policy
		err error
	)
	switch {
	case a.cfg.Policy != "":
		p, err = policies.Load(a.cfg.Policy)
	case a.dev != nil:
		// Only the chain this process started gets the built-in policy; a
		// served devnet, like any chain, needs the owner's policy file.
		var src []byte
		if src, err = devnetPolicy(a.dep); err == nil {
			p, err = policies.Parse(src)
		}
	default:
		// Reading balances needs no policy; moving value is refused by
		// noPolicy with a message that says how to configure one.
		return nil
	}
	if err != nil {
		return asUsage(err)
	}
	a.policy = p
	var opts []policies.Option
	if ps := a.prices(); ps != nil {
		opts = append(opts, policies.WithPrices(ps))
	}
	a.engine = policies.NewEngine(p, a.store.Ledger(), opts...)
	return nil
}

// prices is the USD price source the policy's USD limits and the analytics
// use: Uniswap V3 TWAPs against the token list's stablecoins on this chain,
// one source (and one per-block cache) for both. Nil where the chain has no
// known Uniswap deployment or no listed stablecoin. Every pool it prices
// through must hold the whole TWAP window of history, except on a Mandate
// devnet (one this process started, or one whose node answered
// mandate_deployment), whose pools hold devnet.OracleAge.
func (a *app) prices() *uniswap.PriceSource {
	if a.priceSrc != nil || a.client == nil {
		return a.priceSrc
	}
	f, _, ok := a.uniswap()
	if !ok || a.tokens == nil {
		return nil
	}
	var stables []uniswap.Stablecoin
	for _, sym := range []string{"USDC", "USDT", "DAI"} {
		if t, err := a.tokens.Lookup(a.client.ChainID().Int64(), sym); err == nil {
			stables = append(stables, uniswap.Stablecoin{Symbol: t.Symbol, Address: common.HexToAddress(t.Address), Decimals: t.Decimals})
		}
	}
	if len(stables) == 0 {
		return nil
	}
	var opts []uniswap.PriceOption
	if a.dep != nil {
		// A Mandate devnet's pools hold devnet.OracleAge seconds of
		// history, not the whole window; anywhere else a shorter history
		// is refused.
		opts = append(opts, uniswap.WithMinTWAPWindow(devnet.OracleAge))
	}
	a.priceSrc = uniswap.NewPriceSource(a.client, f, stables, opts...)
	return a.priceSrc
}

func (a *app) openWallet(ctx context.Context) error {
	s, err := a.signer()
	if err != nil {
		return err
	}
	a.signerUsed = s
	opts := []evm.WalletOption{evm.WithJournal(a.store.Journal())}
	if _, r, ok := a.uniswap(); ok {
		opts = append(opts, evm.WithSwapDecoder(r))
	}
	w, err := evm.NewWallet(a.client, s, opts...)
	if err != nil {
		return err
	}
	a.wallet = w
	if a.dev == nil { // an in-process devnet is a new chain every time, by design
		a.noticeNewChain(ctx)
	}
	// Reconcile before anything is sent: transactions a killed process
	// journaled and never broadcast, or that the node dropped, go out now;
	// mined ones are settled. A node that cannot answer leaves them for
	// the next send, which rebroadcasts too.
	rctx, cancel := context.WithTimeout(ctx, resumeLimit)
	defer cancel()
	if err := w.Resume(rctx); err != nil {
		slog.Warn("journal not fully reconciled with the chain", "error", err.Error())
	}
	return nil
}

// resumeLimit bounds the reconciliation of the journal at start.
const resumeLimit = 20 * time.Second

// noticeNewChain says so when the journal knows this wallet only on other
// chains with this chain's id (a devnet restarted over the same database):
// their transactions are kept, but never sent again nor answer for a key.
func (a *app) noticeNewChain(ctx context.Context) {
	chains, err := a.store.JournalChains(ctx, a.wallet.Address().Hex())
	if err != nil {
		return
	}
	id, others := a.wallet.Chain(), 0
	for _, c := range chains {
		if c == a.wallet.JournalChain() {
			return
		}
		if c == id || strings.HasPrefix(c, id+"/") {
			others++
		}
	}
	if others > 0 {
		fmt.Fprintf(a.g.stderr, "mandate: chain %s at this RPC is a new chain (genesis %s); the journal's transactions from %d earlier chain(s) with this id are kept but never sent or answered here\n",
			id, a.client.Genesis().Hex(), others)
	}
}

// signer picks the key: MANDATE_PRIVATE_KEY (tests and devnet only), the
// devnet's first funded account, or the keystore.
func (a *app) signer() (evm.Signer, error) {
	switch {
	case a.cfg.PrivateKey != "":
		// A raw key in the environment is for tests and devnets: on a real
		// chain it belongs in the encrypted keystore.
		if a.client.ChainID().Int64() != devnet.ChainID {
			return nil, usageErr("MANDATE_PRIVATE_KEY is for tests and the devnet (chain %d) only; this node is on chain %s: import the key with `mandate wallet import` and use the keystore", devnet.ChainID, a.client.Chain())
		}
		s, err := evm.NewKeySigner(a.cfg.PrivateKey)
		return s, asUsage(err)
	case a.dev != nil && a.cfg.Keystore == "" && a.cfg.Wallet == "":
		// The devnet this process started: its first funded account. A
		// devnet reached over RPC gives no keys; its deployment could come
		// from anyone who answers on chain 1337.
		return evm.NewKeySigner(a.dep.Accounts[0].PrivateKey)
	}
	ks, err := a.keystore()
	if err != nil {
		return nil, err
	}
	accts := ks.List()
	var addr common.Address
	switch {
	case a.cfg.Wallet != "":
		w, err := tokenlist.ParseAddress(a.cfg.Wallet)
		if err != nil {
			return nil, usageErr("MANDATE_WALLET: %v", err)
		}
		addr = w
	case len(accts) == 1:
		addr = accts[0]
	case len(accts) == 0:
		return nil, usageErr("no wallet: the keystore %s is empty; run `mandate wallet new` or `mandate wallet import`", ks.Dir())
	default:
		return nil, usageErr("the keystore holds %d wallets; set MANDATE_WALLET to the address to use (`mandate wallet list`)", len(accts))
	}
	pass, err := a.g.passphrase("Passphrase for "+addr.Hex()+": ", false)
	if err != nil {
		return nil, err
	}
	return ks.Signer(addr, pass)
}

func (a *app) keystore() (*evm.Keystore, error) {
	dir := a.cfg.Keystore
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return nil, usageErr("no home for the keystore (%v); set MANDATE_KEYSTORE", err)
		}
		dir = filepath.Join(base, "mandate", "keystore")
	}
	return evm.OpenKeystore(dir)
}

// passphrase reads MANDATE_PASSPHRASE, or asks on the terminal. It never
// echoes or logs what was typed.
func (g *globals) passphrase(prompt string, confirm bool) (string, error) {
	if p, ok := os.LookupEnv("MANDATE_PASSPHRASE"); ok {
		return p, nil
	}
	if !isTerminal(os.Stdin) {
		return "", usageErr("a keystore passphrase is needed: set MANDATE_PASSPHRASE, or run on a terminal")
	}
	p, err := readSecret(prompt)
	if err != nil {
		return "", err
	}
	if confirm {
		again, err := readSecret("Repeat: ")
		if err != nil {
			return "", err
		}
		if again != p {
			return "", usageErr("the passphrases do not match")
		}
	}
	return p, nil
}

// tools builds the registry the CLI (and later the agent) calls.
func (a *app) tools(approver wallet.Approver) *tools.Registry {
	var gate wallet.Gate = noPolicy{}
	if a.engine != nil {
		gate = a.engine
	}
	ts := wallet.Tools(a.wallet, gate, wallet.WithTokenList(a.tokens), wallet.WithApprover(approver), wallet.WithProgress(a.progress()))
	dexOpts := []dex.Option{dex.WithTokenList(a.tokens), dex.WithApprover(approver), dex.WithProgress(a.progress())}
	if f, r, ok := a.uniswap(); ok {
		dexOpts = append(dexOpts, dex.WithUniswap(f, r))
	}
	if a.policy != nil {
		dexOpts = append(dexOpts, dex.WithBounds(a.policy))
	}
	dexTools := dex.Tools(a.wallet, gate, dexOpts...)
	var store orders.Store
	if a.store != nil {
		store = a.store.Orders()
	}
	bookOpts := []dex.BookOption{dex.BookTokenList(a.tokens), dex.BookLogger(slog.Default())}
	if ps := a.prices(); ps != nil {
		// Triggers are checked against the TWAP the policy judges swaps
		// by, not only the executable quote; without it the watcher logs
		// that they use the quote alone.
		bookOpts = append(bookOpts, dex.BookTWAP(ps))
	}
	if a.dev != nil {
		// The in-process devnet mines a block only when a transaction
		// arrives, so a trigger could wait for a second block forever;
		// on a real chain blocks keep coming and the default of two
		// holds.
		bookOpts = append(bookOpts, dex.BookConfirmBlocks(1))
	}
	if a.onOrder != nil {
		bookOpts = append(bookOpts, dex.OnExecute(a.onOrder))
	}
	a.book = dex.NewBook(store, a.wallet, dexTools, bookOpts...)
	anOpts := []analytics.Option{analytics.WithTokenList(a.tokens), analytics.WithProgress(a.progress())}
	if f, r, ok := a.uniswap(); ok {
		anOpts = append(anOpts, analytics.WithFactories(f), analytics.WithRouter(r))
	}
	if a.dep != nil {
		anOpts = append(anOpts, analytics.WithContracts(a.dep.Contracts))
	}
	if ps := a.prices(); ps != nil {
		anOpts = append(anOpts, analytics.WithPriceSource(ps))
	}
	var me common.Address
	if a.wallet != nil {
		me = a.wallet.Address()
	}
	msOpts := []multisig.Option{multisig.WithTokenList(a.tokens), multisig.WithApprover(approver)}
	if a.cfg != nil && a.cfg.SafeService != "" {
		if svc, err := safe.NewService(a.cfg.SafeService); err == nil {
			msOpts = append(msOpts, multisig.WithService(svc))
		}
	}
	if a.dep != nil {
		msOpts = append(msOpts, multisig.WithBatches(a.dep.Contracts[devnet.MultiSendCallOnly]))
	}
	var signer evm.Signer
	if a.wallet != nil {
		signer = a.signerUsed
	}
	return tools.NewRegistry(ts, dexTools, a.book.Tools(), analytics.Tools(a.client, me, anOpts...), multisig.Tools(a.wallet, gate, signer, msOpts...))
}

// uniswap is where swaps go on this chain: the devnet's own deployment, or
// Uniswap's on a chain it is known on.
func (a *app) uniswap() (uniswap.Factories, uniswap.Router02, bool) {
	switch {
	case a.dep != nil:
		return a.dep.Uniswap()
	case a.client != nil:
		return uniswap.Known(a.client.ChainID().Int64())
	}
	return uniswap.Factories{}, uniswap.Router02{}, false
}

// errNoPolicy refuses every value-moving action when no policy is set.
var errNoPolicy = errors.New("no policy is configured, so nothing that moves value is allowed: set MANDATE_POLICY (or policy in mandate.yaml) to a policy file; `mandate policy check FILE` validates one")

// noPolicy is the gate when no policy file is configured: it allows nothing.
type noPolicy struct{}

func (noPolicy) Decide(context.Context, policies.Intent) (policies.Approval, error) {
	return policies.Approval{}, errNoPolicy
}
func (noPolicy) Confirm(context.Context, *policies.Ask) (policies.Approval, error) {
	return policies.Approval{}, errNoPolicy
}
func (noPolicy) Evaluate(context.Context, policies.Intent) (policies.Report, error) {
	return policies.Report{}, errNoPolicy
}

// promptApprover asks on the terminal; with no terminal it declines, so an
// unattended run never approves what the policy wanted a person to see.
type promptApprover struct {
	in  io.Reader
	out io.Writer
}

func (p promptApprover) Approve(ctx context.Context, in policies.Intent, why []string) (bool, error) {
	if !isTerminal(p.in) {
		return false, nil
	}
	raw, err := policies.Marshal(in)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(p.out, "The policy asks a person to confirm this %s:\n  %s\n  because: %s\nApprove? [y/N] ", in.Kind(), raw, strings.Join(why, "; "))
	line, err := bufio.NewReader(p.in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes", nil
}
