package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/chains/solana"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mandatehq/mandate/chains/evm"
)

func newWalletCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wallet",
		Short: "Manage the encrypted keystore and read balances",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "new",
		Short: "Create a key in the keystore (scrypt, go-ethereum's format; --solana: a Solana key)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.solana {
				ks, pass, err := g.newSolanaKeyStore()
				if err != nil {
					return err
				}
				addr, err := ks.New(pass)
				if err != nil {
					return err
				}
				return g.print(map[string]any{"address": addr.String(), "keystore": ks.Dir()},
					"created Solana wallet %s in %s", addr, ks.Dir())
			}
			ks, pass, err := g.newKeyStore(cmd)
			if err != nil {
				return err
			}
			addr, err := ks.New(pass)
			if err != nil {
				return err
			}
			return g.print(map[string]any{"address": addr.Hex(), "keystore": ks.Dir()},
				"created wallet %s in %s", addr.Hex(), ks.Dir())
		},
	})
	var keyFile string
	imp := &cobra.Command{
		Use:   "import",
		Short: "Import a private key into the keystore (read from --key-file or stdin, never from the command line)",
		Long: `Imports a hex private key into the keystore, or with --solana a Solana secret key,
in base58 or as the Solana CLI's JSON array of 64 numbers (its id.json). The key is
read from --key-file or stdin, never from the command line, and is stored encrypted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var r io.Reader = cmd.InOrStdin()
			if keyFile != "" {
				f, err := os.Open(keyFile)
				if err != nil {
					return usageErr("--key-file: %v", err)
				}
				defer f.Close()
				r = f
			} else if isTerminal(r) {
				k, err := readSecret("Private key (hex): ")
				if err != nil {
					return err
				}
				r = strings.NewReader(k)
			}
			if g.solana {
				return g.importSolanaKey(r)
			}
			line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
			if err != nil && err != io.EOF {
				return err
			}
			key := strings.TrimSpace(line)
			if key == "" {
				return usageErr("no private key given: pipe it on stdin or use --key-file")
			}
			ks, pass, err := g.newKeyStore(cmd)
			if err != nil {
				return err
			}
			addr, err := ks.Import(key, pass)
			if err != nil {
				return asUsage(err)
			}
			return g.print(map[string]any{"address": addr.Hex(), "keystore": ks.Dir()},
				"imported wallet %s into %s", addr.Hex(), ks.Dir())
		},
	}
	imp.Flags().StringVar(&keyFile, "key-file", "", "file holding the hex private key")
	cmd.AddCommand(imp)
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the keystore's addresses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.config()
			if err != nil {
				return err
			}
			addrs, dir, err := keystoreAddresses(cfg, g.solana)
			if err != nil {
				return err
			}
			if g.json {
				writeJSON(g.stdout, map[string]any{"keystore": dir, "addresses": addrs})
				return nil
			}
			if len(addrs) == 0 {
				fmt.Fprintf(g.stdout, "no wallets in %s; `mandate wallet new` creates one\n", dir)
			}
			for _, ad := range addrs {
				fmt.Fprintln(g.stdout, ad)
			}
			return nil
		},
	})
	var token string
	bal := &cobra.Command{
		Use:   "balance",
		Short: "Balances of the wallet (ETH and every listed token, or --token)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			args, _ := json.Marshal(map[string]string{"token": token})
			if g.solana {
				return g.callTool(cmd, "sol_balance", args, false)
			}
			return g.callTool(cmd, "wallet_balance", args, false)
		},
	}
	bal.Flags().StringVar(&token, "token", "", "one token: a symbol (USDC, ETH) or an address")
	cmd.AddCommand(bal)
	return cmd
}

// newKeyStore opens the configured keystore and asks for the passphrase of
// a key about to be added to it.
func (g *globals) newKeyStore(cmd *cobra.Command) (*evm.Keystore, string, error) {
	cfg, err := loadConfig(g.configPath)
	if err != nil {
		return nil, "", err
	}
	ks, err := mandate.OpenKeystore(*cfg)
	if err != nil {
		return nil, "", err
	}
	pass, err := g.newPassphrase()
	return ks, pass, err
}

// print writes v under --json, else the formatted line.
func (g *globals) print(v any, format string, a ...any) error {
	if g.json {
		writeJSON(g.stdout, v)
		return nil
	}
	fmt.Fprintf(g.stdout, format+"\n", a...)
	return nil
}

// keystoreAddresses lists the EVM keystore's addresses, or the Solana
// keystore's, and where the keystore is.
func keystoreAddresses(cfg mandate.Config, solana bool) ([]string, string, error) {
	addrs := []string{}
	if solana {
		ks, err := mandate.OpenSolanaKeystore(cfg)
		if err != nil {
			return nil, "", err
		}
		keys, err := ks.List()
		if err != nil {
			return nil, "", err
		}
		for _, k := range keys {
			addrs = append(addrs, k.String())
		}
		return addrs, ks.Dir(), nil
	}
	ks, err := mandate.OpenKeystore(cfg)
	if err != nil {
		return nil, "", err
	}
	for _, ad := range ks.List() {
		addrs = append(addrs, ad.Hex())
	}
	return addrs, ks.Dir(), nil
}

// importSolanaKey reads a Solana secret key from r (base58, or the Solana
// CLI's JSON array, which may span lines) and stores it encrypted.
func (g *globals) importSolanaKey(r io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(r, 4096))
	if err != nil {
		return err
	}
	text := strings.TrimSpace(string(b))
	if text == "" {
		return usageErr("no secret key given: pipe it on stdin or use --key-file")
	}
	var kp *solana.Keypair
	if strings.HasPrefix(text, "[") {
		kp, err = solana.KeypairFromJSON([]byte(text))
	} else {
		kp, err = solana.KeypairFromBase58(text)
	}
	if err != nil {
		return asUsage(err)
	}
	ks, pass, err := g.newSolanaKeyStore()
	if err != nil {
		return err
	}
	addr, err := ks.Import(kp, pass)
	if err != nil {
		return asUsage(err)
	}
	return g.print(map[string]any{"address": addr.String(), "keystore": ks.Dir()},
		"imported Solana wallet %s into %s", addr, ks.Dir())
}

// newSolanaKeyStore is newKeyStore for the Solana keys.
func (g *globals) newSolanaKeyStore() (*solana.Keystore, string, error) {
	cfg, err := loadConfig(g.configPath)
	if err != nil {
		return nil, "", err
	}
	ks, err := mandate.OpenSolanaKeystore(*cfg)
	if err != nil {
		return nil, "", err
	}
	pass, err := g.newPassphrase()
	return ks, pass, err
}

// newPassphrase asks for the passphrase of a key about to be stored.
func (g *globals) newPassphrase() (string, error) {
	pass, err := g.passphrase("New passphrase: ", true)
	if err != nil {
		return "", err
	}
	if pass == "" {
		return "", usageErr("the passphrase is empty; a keystore key needs one")
	}
	return pass, nil
}
