package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	soldevnet "github.com/mandatehq/mandate/chains/solana/devnet"
)

func newDevnetCmd(g *globals) *cobra.Command {
	var (
		port int
		host string
		out  string
	)
	cmd := &cobra.Command{
		Use:   "devnet",
		Short: "Run a local chain with real WETH, ERC-20, Uniswap V2/V3 and Safe contracts",
		Long: `Runs go-ethereum in-process on HOST:PORT (JSON-RPC over HTTP) with the real
contracts deployed from their published npm artifacts and funded accounts, writes
the deployment as JSON (--out), and serves until interrupted. Any mandate command
with MANDATE_RPC_URL pointing at it learns its contracts and tokens through the
mandate_deployment RPC method.

With --solana it runs the Solana runtime instead (LiteSVM, the real System, SPL
Token, Token-2022 and Associated Token Account programs, behind JSON-RPC; port
8899 unless --port is given) with funded accounts and a USDC mint; commands with
MANDATE_SOLANA_RPC_URL pointing at it learn the mints the same way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if port < 0 || port > 65535 {
				return usageErr("--port must be between 0 and 65535; got %d", port)
			}
			ctx := cmd.Context()
			if g.solana {
				if !cmd.Flags().Changed("port") {
					port = 8899
				}
				return serveSolanaDevnet(ctx, g, host, port, out)
			}
			d, err := devnet.New(ctx, devnet.WithProgress(g.progress()))
			if err != nil {
				return err
			}
			defer d.Close()
			url, err := d.Serve(ctx, net.JoinHostPort(host, strconv.Itoa(port)))
			if err != nil {
				return err
			}
			dep := d.Deployment()
			if out != "" {
				if err := dep.WriteFile(out); err != nil {
					return err
				}
			}
			if g.json {
				writeJSON(g.stdout, dep)
			} else {
				fmt.Fprintf(g.stdout, "devnet: chain %d serving JSON-RPC at %s\n", dep.ChainID, url)
				for _, name := range []string{"WETH", "USDC", "DAI", "UniswapV2Router02", "SwapRouter02", "QuoterV2", "Safe", "SafeProxyFactory", "MultiSendCallOnly"} {
					fmt.Fprintf(g.stdout, "  %-18s %s\n", name, dep.Contracts[name].Hex())
				}
				for i, acct := range dep.Accounts {
					if i == 3 {
						fmt.Fprintf(g.stdout, "  … %d funded accounts in all", len(dep.Accounts))
						if out != "" {
							fmt.Fprintf(g.stdout, " (keys in %s)", out)
						}
						fmt.Fprintln(g.stdout)
						break
					}
					fmt.Fprintf(g.stdout, "  account %d         %s\n", i, acct.Address.Hex())
				}
				fmt.Fprintf(g.stdout, "export MANDATE_RPC_URL=%s  # then try: mandate wallet balance\nCtrl-C stops it.\n", url)
			}
			<-ctx.Done()
			return nil
		},
	}
	cmd.Flags().IntVar(&port, "port", 8545, "port for JSON-RPC over HTTP (0 picks a free one)")
	cmd.Flags().StringVar(&host, "host", "127.0.0.1", "address to listen on")
	cmd.Flags().StringVar(&out, "out", "", "write the deployment (addresses, funded keys) to this JSON file")
	cmd.AddCommand(&cobra.Command{
		Use:   "setup",
		Short: "Fetch the pinned contract artifacts and the Solana runtime (npm) and compile the devnet's own sources",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir := devnet.ArtifactsDir()
			if err := devnet.EnsureArtifacts(cmd.Context(), dir, g.stderr); err != nil {
				return err
			}
			if err := soldevnet.Ensure(cmd.Context(), dir, g.stderr); err != nil {
				return err
			}
			if g.json {
				writeJSON(g.stdout, map[string]any{"ok": true, "artifacts": dir})
			} else {
				fmt.Fprintf(g.stdout, "devnet artifacts ready in %s\n", dir)
			}
			return nil
		},
	})
	return cmd
}

// serveSolanaDevnet is `mandate devnet --solana`: the runtime on host:port,
// its deployment written to out, served until ctx ends.
func serveSolanaDevnet(ctx context.Context, g *globals, host string, port int, out string) error {
	d, err := soldevnet.Start(ctx, soldevnet.WithListen(host, port), soldevnet.WithProgress(g.progress()))
	if err != nil {
		return err
	}
	defer d.Close()
	dep := d.Deployment()
	if out != "" {
		b, err := json.MarshalIndent(dep, "", "  ")
		if err != nil {
			return err
		}
		// The file holds funded secret keys: readable by its owner only.
		if err := os.WriteFile(out, append(b, '\n'), 0o600); err != nil {
			return fmt.Errorf("write the deployment: %w", err)
		}
	}
	if g.json {
		writeJSON(g.stdout, dep)
	} else {
		fmt.Fprintf(g.stdout, "solana devnet: serving JSON-RPC at %s\n", dep.RPC)
		for _, sym := range slices.Sorted(maps.Keys(dep.Mints)) {
			fmt.Fprintf(g.stdout, "  %-18s %s\n", sym, dep.Mints[sym])
		}
		for i, acct := range dep.Accounts {
			fmt.Fprintf(g.stdout, "  account %d         %s\n", i, acct.Address)
		}
		if out != "" {
			fmt.Fprintf(g.stdout, "  (secret keys in %s)\n", out)
		}
		fmt.Fprintf(g.stdout, "export MANDATE_SOLANA_RPC_URL=%s  # then try: mandate tools call sol_balance\nCtrl-C stops it.\n", dep.RPC)
	}
	select {
	case <-ctx.Done():
	case <-d.Done():
		return errors.New("solana devnet: the runtime stopped")
	}
	return nil
}
