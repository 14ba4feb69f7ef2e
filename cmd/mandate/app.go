package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/solana/jupiter"
	"github.com/mandatehq/mandate/llm"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	soltools "github.com/mandatehq/mandate/tools/solana"
)

// config is the runtime's configuration: mandate.yaml, then the
// environment, then the flags.
func (g *globals) config() (mandate.Config, error) {
	cfg, err := mandate.LoadConfig(g.configPath)
	if err != nil {
		return cfg, err
	}
	cfg.Devnet = g.devnet && !g.solana
	cfg.SolanaDevnet = g.devnet && g.solana
	cfg.Progress = g.progress()
	cfg.Notify = func(msg string) { fmt.Fprintln(g.stderr, "mandate: "+msg) }
	cfg.PassphraseFunc = func(_ context.Context, account string) (string, error) {
		return g.passphrase("Passphrase for "+account+": ", false)
	}
	return cfg, nil
}

// open assembles the runtime from the configuration, adjusted by edit
// (a command's approver, its order printer), and remembers its database
// for the messages of failures later in the command.
func (g *globals) open(ctx context.Context, edit func(*mandate.Config)) (*mandate.Runtime, error) {
	cfg, err := g.config()
	if err != nil {
		return nil, err
	}
	if edit != nil {
		edit(&cfg)
	}
	g.remember(cfg.DB)
	rt, err := mandate.Open(ctx, cfg)
	if se, ok := errors.AsType[*mandate.StoreError](err); ok {
		g.remember(se.DSN)
	}
	if err != nil {
		return nil, err
	}
	g.remember(rt.DSN())
	return rt, nil
}

// advise adds to a library error what to set or run here: the library
// names no environment variable or flag, the CLI does.
func advise(err error) error {
	if ce, ok := errors.AsType[*mandate.ConfigError](err); ok {
		switch env := mandate.EnvVar(ce.Field); {
		case ce.Field == "config":
			return usageErr("config: %v", ce.Err)
		case ce.Field == "llm":
			return usageErr("%v", llmAdvice(ce.Err))
		case env != "":
			return usageErr("%s (%s in mandate.yaml): %v", env, ce.Field, ce.Err)
		}
		return asUsage(err)
	}
	if _, ok := errors.AsType[*evm.RPCError](err); ok {
		return fmt.Errorf("%w (the node of MANDATE_RPC_URL)", err)
	}
	switch {
	case errors.Is(err, mandate.ErrNoChain):
		return usageErr("no chain: set MANDATE_RPC_URL (or rpc_url in mandate.yaml) for an EVM chain or MANDATE_SOLANA_RPC_URL for Solana, or pass --devnet for a local chain (--devnet --solana for the local Solana runtime)")
	case errors.Is(err, mandate.ErrNoKey):
		return usageErr("%v; run `mandate wallet new` or `mandate wallet import`, or set MANDATE_KEYSTORE", err)
	case errors.Is(err, mandate.ErrPassphrase):
		return usageErr("%v: set MANDATE_PASSPHRASE, or run on a terminal", err)
	case errors.Is(err, soltools.ErrNoJupiter):
		return usageErr("%v; set MANDATE_JUPITER_URL to Jupiter's Swap API (%s) on a cluster Jupiter serves", err, jupiter.DefaultBaseURL)
	case errors.Is(err, tools.ErrNoPolicy):
		return usageErr("%v: set MANDATE_POLICY (or policy in mandate.yaml) to a policy file; `mandate policy check FILE` validates one", err)
	case errors.Is(err, tools.ErrNoWallet), errors.Is(err, tools.ErrNoChain):
		return usageErr("%v: set MANDATE_RPC_URL and a key (keystore or MANDATE_PRIVATE_KEY), or MANDATE_SOLANA_RPC_URL for the sol_ tools, or pass --devnet (--devnet --solana for the sol_ tools)", err)
	}
	return err
}

// llmAdvice names the MANDATE_LLM_* variable that fixes a backend's
// configuration.
func llmAdvice(err error) error {
	switch {
	case errors.Is(err, llm.ErrNoBaseURL):
		return fmt.Errorf("%w: set MANDATE_LLM_BASE_URL", err)
	case errors.Is(err, llm.ErrNoModel):
		return fmt.Errorf("%w: set MANDATE_LLM_MODEL, or name one as \"name:model\" in MANDATE_LLM_BACKENDS", err)
	}
	return err
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

// loadConfig reads mandate.yaml and the environment (mandate.LoadConfig),
// for commands that need no runtime.
func loadConfig(path string) (*mandate.Config, error) {
	cfg, err := mandate.LoadConfig(path)
	if err != nil {
		return nil, err
	}
	return &cfg, nil
}
