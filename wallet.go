package mandate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/tokenlist"
)

// resumeLimit bounds the reconciliation of the journal when a wallet opens.
const resumeLimit = 20 * time.Second

// openWallet picks the signer and opens the wallet over the journal, then
// reconciles the journal with the chain before anything is sent:
// transactions a killed process journaled and never broadcast, or that the
// node dropped, go out now; mined ones are settled. A node that cannot
// answer leaves them for the next send, which rebroadcasts too.
func (rt *Runtime) openWallet(ctx context.Context) error {
	if rt.client == nil {
		return nil // Solana only
	}
	s, err := rt.chooseSigner(ctx)
	if err != nil {
		return err
	}
	rt.signer = s
	opts := []evm.WalletOption{evm.WithJournal(rt.store.Journal())}
	if rt.cfg.Logger != nil {
		opts = append(opts, evm.WithLogger(rt.cfg.Logger))
	}
	if _, r, ok := rt.uniswap(); ok {
		opts = append(opts, evm.WithSwapDecoder(r))
	}
	w, err := evm.NewWallet(rt.client, s, opts...)
	if err != nil {
		return err
	}
	rt.wallet = w
	if rt.dev == nil { // an in-process devnet is a new chain every time, by design
		rt.noticeNewChain(ctx)
	}
	rctx, cancel := context.WithTimeout(ctx, resumeLimit)
	defer cancel()
	if err := w.Resume(rctx); err != nil {
		rt.log.Warn("journal not fully reconciled with the chain", "error", err.Error())
	}
	return nil
}

// chooseSigner picks the key: Config.Signer, the raw PrivateKey (the
// devnet's chain only: on a real chain a key belongs in the encrypted
// keystore), the devnet's first funded account, or a keystore account.
func (rt *Runtime) chooseSigner(ctx context.Context) (evm.Signer, error) {
	switch {
	case rt.cfg.Signer != nil:
		return rt.cfg.Signer, nil
	case rt.cfg.PrivateKey != "":
		if rt.client.ChainID().Int64() != devnet.ChainID {
			return nil, configErrf("private_key", "a raw key is for tests and the devnet (chain %d) only, and this node is on chain %s: import the key into the keystore", devnet.ChainID, rt.client.Chain())
		}
		s, err := evm.NewKeySigner(rt.cfg.PrivateKey)
		if err != nil {
			return nil, configErr("private_key", err)
		}
		return s, nil
	case rt.dev != nil && rt.cfg.Keystore == "" && rt.cfg.Wallet == "":
		// The devnet this process started: its first funded account. A
		// devnet reached over RPC gives no keys; its deployment could
		// come from anyone who answers on chain 1337.
		return evm.NewKeySigner(rt.dep.Accounts[0].PrivateKey)
	}
	ks, err := OpenKeystore(rt.cfg)
	if err != nil {
		return nil, err
	}
	addr, err := rt.account(ks)
	if err != nil {
		return nil, err
	}
	pass := rt.cfg.Passphrase
	if pass == "" {
		if rt.cfg.PassphraseFunc == nil {
			return nil, fmt.Errorf("%w (account %s)", ErrPassphrase, addr.Hex())
		}
		if pass, err = rt.cfg.PassphraseFunc(ctx, addr.Hex()); err != nil {
			return nil, err
		}
	}
	return ks.Signer(addr, pass)
}

// account is the keystore account to use: the configured one, or the only
// one there is.
func (rt *Runtime) account(ks *evm.Keystore) (common.Address, error) {
	accts := ks.List()
	switch {
	case rt.cfg.Wallet != "":
		a, err := tokenlist.ParseAddress(rt.cfg.Wallet)
		if err != nil {
			return common.Address{}, configErr("wallet", err)
		}
		return a, nil
	case len(accts) == 1:
		return accts[0], nil
	case len(accts) == 0:
		return common.Address{}, fmt.Errorf("%w: the keystore %s is empty", ErrNoKey, ks.Dir())
	}
	return common.Address{}, configErrf("wallet", "the keystore holds %d accounts; name the one to use", len(accts))
}

// OpenKeystore opens the configured keystore directory, or the user's
// default one.
func OpenKeystore(cfg Config) (*evm.Keystore, error) {
	dir := cfg.Keystore
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return nil, configErrf("keystore", "no home directory for the default keystore (%v); configure one", err)
		}
		dir = filepath.Join(base, "mandate", "keystore")
	}
	ks, err := evm.OpenKeystore(dir)
	if err != nil {
		return nil, configErr("keystore", err)
	}
	return ks, nil
}
