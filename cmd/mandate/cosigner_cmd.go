package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/policies"
)

// EnvCosignerToken is the bearer token `mandate cosigner` requires of HTTP
// clients.
const EnvCosignerToken = "MANDATE_COSIGNER_TOKEN"

func newCosignerCmd(g *globals) *cobra.Command {
	var (
		metricsAddr string
		listen      string
		service     string
		safes       []string
		poll        time.Duration
		deadline    time.Duration
		window      uint64
		legacy      bool
	)
	cmd := &cobra.Command{
		Use:   "cosigner",
		Short: "Serve the Safe co-signer: POST /v1/review, and confirm approved transactions on a Safe Transaction Service",
		Long: `Runs the co-signer with this wallet's key as one owner of the given Safes. It serves
POST /v1/review (bearer token from ` + EnvCosignerToken + `) on --listen, and with --service it
polls that Safe Transaction Service for pending transactions and confirms the ones the
policy approves. It signs nothing the policy refuses, and each transaction at most once.
` + "`mandate cosigner review`" + ` decides one transaction from a file without serving.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if len(safes) == 0 {
				return usageErr("give at least one --safe ADDRESS[@VERSION]")
			}
			if listen == "" && service == "" {
				return usageErr("nothing to do: give --listen ADDR to serve reviews, --service URL to watch a Safe Transaction Service, or both")
			}
			rt, err := g.openWithMetrics(ctx, metricsAddr, nil)
			if err != nil {
				return err
			}
			defer rt.Close()
			if rt.Engine() == nil {
				return usageErr("the co-signer needs a policy: set MANDATE_POLICY to a policy file with a safe section")
			}
			s := rt.Signer()
			extra := []cosigner.Option{cosigner.WithNonceWindow(window)}
			if legacy {
				extra = append(extra, cosigner.WithLegacySafes())
			}
			r, err := reviewer(ctx, rt, safes, s, extra...)
			if err != nil {
				return err
			}
			errc := make(chan error, 2)
			if listen != "" {
				token := os.Getenv(EnvCosignerToken)
				h, err := cosigner.Handler(r, token, cosigner.WithDeadline(deadline), cosigner.WithHandlerLogger(slog.Default()))
				if err != nil {
					return usageErr("%s: %v", EnvCosignerToken, err)
				}
				ln, err := net.Listen("tcp", listen)
				if err != nil {
					return usageErr("--listen %s: %v", listen, err)
				}
				srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, WriteTimeout: deadline + 5*time.Second}
				go func() { errc <- srv.Serve(ln) }()
				go func() { <-ctx.Done(); _ = srv.Close() }()
				fmt.Fprintf(g.stderr, "co-signer %s serving POST http://%s/v1/review\n", s.Address().Hex(), ln.Addr())
			}
			if service != "" {
				svc, err := safe.NewService(service)
				if err != nil {
					return usageErr("--service: %v", err)
				}
				w, err := cosigner.NewWatcher(r, svc, cosigner.WithPoll(poll), cosigner.OnDecision(g.printDecision))
				if err != nil {
					return err
				}
				go func() { errc <- w.Run(ctx) }()
				fmt.Fprintf(g.stderr, "co-signer %s watching %s every %s\n", s.Address().Hex(), service, poll)
			}
			select {
			case <-ctx.Done():
				return nil
			case err := <-errc:
				if errors.Is(err, http.ErrServerClosed) || errors.Is(err, context.Canceled) {
					return nil
				}
				return err
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "", "address to serve POST /v1/review on, e.g. 127.0.0.1:8645")
	metricsFlag(cmd, &metricsAddr)
	f.StringVar(&service, "service", "", "Safe Transaction Service base URL to watch and confirm on")
	f.StringArrayVar(&safes, "safe", nil, "a Safe this key co-signs for, as ADDRESS or ADDRESS@VERSION (repeatable; the version is read from the chain when omitted)")
	f.DurationVar(&poll, "poll", 15*time.Second, "how often to ask the Transaction Service")
	f.DurationVar(&deadline, "deadline", 10*time.Second, "longest a review may take before the answer is retry")
	f.Uint64Var(&window, "nonce-window", 0, "sign transactions up to this many nonces past the Safe's next one (each signature is charged when made and never expires)")
	f.BoolVar(&legacy, "legacy-safes", false, "also serve Safes older than 1.3.0, whose signatures are valid on every chain")
	cmd.AddCommand(newCosignerReviewCmd(g))
	return cmd
}

// reviewer builds the co-signer's Reviewer for this chain: the Safes, the
// signer, the database's review records, the chain's nonces and tokens.
func reviewer(ctx context.Context, rt *mandate.Runtime, specs []string, s evm.Signer, extra ...cosigner.Option) (*cosigner.Reviewer, error) {
	c := rt.Client()
	if c == nil {
		return nil, usageErr("the co-signer signs Safe transactions and needs an EVM chain: set MANDATE_RPC_URL, or pass --devnet without --solana")
	}
	opts := []cosigner.Option{cosigner.WithSigner(s), cosigner.WithStore(cosigner.ReviewStore(rt.Store().Reviews())), cosigner.WithLogger(slog.Default()),
		cosigner.WithTokens(tokenLookup(rt.Tokens(), c.ChainID().Int64())),
		cosigner.WithNonces(func(ctx context.Context, addr common.Address) (uint64, error) { return safe.Nonce(ctx, c, addr) })}
	if dep := rt.Deployment(); dep != nil {
		opts = append(opts, cosigner.WithBatches(dep.Contracts[devnet.MultiSendCallOnly], dep.Contracts[devnet.MultiSend],
			safe.MultiSendCallOnly130, safe.MultiSendCallOnly141, safe.MultiSend130, safe.MultiSend141))
	}
	for _, spec := range specs {
		addr, v, err := parseSafeSpec(spec)
		if err != nil {
			return nil, err
		}
		if v == (safe.Version{}) {
			if v, err = safe.ReadVersion(ctx, c, addr); err != nil {
				return nil, fmt.Errorf("--safe %s: reading its version: %w (give ADDRESS@VERSION)", spec, err)
			}
		}
		owners, _, err := safe.Owners(ctx, c, addr)
		if err != nil {
			return nil, fmt.Errorf("--safe %s: %w", spec, err)
		}
		owner := false
		for _, o := range owners {
			owner = owner || o == s.Address()
		}
		if !owner {
			return nil, usageErr("--safe %s: this key (%s) is not one of its owners", spec, s.Address().Hex())
		}
		opts = append(opts, cosigner.WithSafe(addr, v))
	}
	return cosigner.New(c.ChainID(), rt.Engine(), append(opts, extra...)...), nil
}

func parseSafeSpec(spec string) (common.Address, safe.Version, error) {
	addrPart, verPart, _ := strings.Cut(spec, "@")
	addr, err := tokenlist.ParseAddress(strings.TrimSpace(addrPart))
	if err != nil {
		return common.Address{}, safe.Version{}, usageErr("--safe %q: %v", spec, err)
	}
	if verPart == "" {
		return addr, safe.Version{}, nil
	}
	v, err := safe.ParseVersion(verPart)
	if err != nil {
		return common.Address{}, safe.Version{}, usageErr("--safe %q: %v", spec, err)
	}
	return addr, v, nil
}

// tokenLookup names tokens in decoded calls from the token list.
func tokenLookup(l *tokenlist.List, chain int64) evm.TokenLookup {
	return func(a string) (policies.Token, bool) {
		if l == nil {
			return policies.Token{}, false
		}
		t, ok := l.ByAddress(chain, a)
		return policies.Token{Symbol: t.Symbol, Address: t.Address, Decimals: t.Decimals}, ok
	}
}

func (g *globals) printDecision(d cosigner.Decision) {
	if g.json {
		writeJSON(g.stdout, d)
		return
	}
	fmt.Fprintf(g.stdout, "%s %s (Safe %s, nonce %d)\n", d.Decision, d.SafeTxHash, d.Safe, d.Nonce)
	for _, r := range d.Reasons {
		fmt.Fprintf(g.stdout, "  - %s\n", r)
	}
}

func newCosignerReviewCmd(g *globals) *cobra.Command {
	var (
		policyPath, safeAddr, version string
		chainID                       uint64
		legacy                        bool
	)
	cmd := &cobra.Command{
		Use:   "review TX.json",
		Short: "Decide one Safe transaction (Transaction Service JSON shape; - reads stdin): exit 0 approve, 1 reject, 2 bad input",
		Long: `Decides one Safe transaction as the co-signer would, without signing or recording
anything: the hash is recomputed from the fields (a safeTxHash in the file must match it),
every call inside is decoded, and the policy decides. With MANDATE_RPC_URL set the Safe's
nonce is checked on chain too. Prints {"decision","safeTxHash","reasons","intents"} with --json.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if policyPath == "" || safeAddr == "" || chainID == 0 {
				return usageErr("--policy, --chain-id and --safe are required")
			}
			p, err := policies.Load(policyPath)
			if err != nil {
				return asUsage(err)
			}
			addr, err := tokenlist.ParseAddress(safeAddr)
			if err != nil {
				return usageErr("--safe: %v", err)
			}
			v := safe.DefaultVersion
			if version != "" {
				if v, err = safe.ParseVersion(version); err != nil {
					return usageErr("--safe-version: %v", err)
				}
			}
			raw, err := readArg(cmd.InOrStdin(), args[0])
			if err != nil {
				return err
			}
			var st safe.ServiceTx
			dec := json.NewDecoder(strings.NewReader(string(raw)))
			if err := dec.Decode(&st); err != nil {
				return usageErr("%s is not a Safe transaction in the Transaction Service's JSON shape: %v", args[0], err)
			}
			cfg, err := loadConfig(g.configPath)
			if err != nil {
				return err
			}
			ledger := policies.Ledger(policies.NewMemLedger())
			if cfg.DB != "" {
				st, err := g.openDB(ctx, cfg.DB)
				if err != nil {
					return err
				}
				defer st.Close()
				ledger = st.Ledger()
			}
			lists := []*tokenlist.List{tokenlist.Default()}
			opts := []cosigner.Option{cosigner.WithSafe(addr, v), cosigner.WithTokens(tokenLookup(tokenlist.Merge(lists...), int64(chainID)))}
			if legacy {
				opts = append(opts, cosigner.WithLegacySafes())
			}
			if cfg.RPCURL != "" {
				c, err := evm.Dial(ctx, cfg.RPCURL)
				if err != nil {
					return err
				}
				defer c.Close()
				if c.ChainID().Uint64() != chainID {
					return usageErr("MANDATE_RPC_URL is on chain %s, not --chain-id %d", c.ChainID(), chainID)
				}
				opts = append(opts, cosigner.WithNonces(func(ctx context.Context, a common.Address) (uint64, error) { return safe.Nonce(ctx, c, a) }))
			}
			r := cosigner.New(new(big.Int).SetUint64(chainID), policies.NewEngine(p, ledger), opts...)
			d, err := r.Review(ctx, addr, st)
			var in *cosigner.InputError
			if errors.As(err, &in) {
				return asUsage(err)
			}
			if err != nil {
				return err
			}
			if g.json {
				writeJSON(g.stdout, map[string]any{"decision": d.Decision, "safeTxHash": d.SafeTxHash, "reasons": d.Reasons, "intents": d.Intents})
			} else {
				g.printDecision(d)
			}
			if d.Decision != cosigner.Approve {
				return &exitErr{code: exitFailed, err: errors.New("rejected"), quiet: true}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&policyPath, "policy", "", "policy file (YAML)")
	f.Uint64Var(&chainID, "chain-id", 0, "chain id the Safe is on")
	f.StringVar(&safeAddr, "safe", "", "the Safe's address")
	f.StringVar(&version, "safe-version", "", "the Safe's version (default "+safe.DefaultVersion.String()+")")
	f.BoolVar(&legacy, "legacy-safes", false, "also judge Safes older than 1.3.0, whose signatures are valid on every chain")
	return cmd
}

// readArg reads a file argument, or stdin for "-".
func readArg(stdin io.Reader, name string) ([]byte, error) {
	var (
		b   []byte
		err error
	)
	if name == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 8<<20))
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, usageErr("reading %s: %v", name, err)
	}
	return b, nil
}
