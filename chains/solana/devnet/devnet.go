// Package devnet runs a real Solana runtime for tests and for
// `mandate devnet --solana`: LiteSVM (the litesvm npm package, pinned) behind a
// small JSON-RPC server (server.js) that answers the Solana RPC methods
// gagliardetto/solana-go's rpc client uses. LiteSVM executes the actual
// System, SPL Token, Token-2022 and Associated Token Account programs, so
// transfers, account creation and their errors are the programs' own.
//
// Methods answered: getHealth, getVersion, getGenesisHash, getSlot,
// getBlockHeight, getEpochInfo, getTransactionCount, getLatestBlockhash,
// isBlockhashValid, getBalance, getAccountInfo, getMultipleAccounts (base64,
// base58, and jsonParsed for Token accounts and mints),
// getMinimumBalanceForRentExemption, getFeeForMessage,
// getRecentPrioritizationFees, simulateTransaction, sendTransaction,
// getSignatureStatuses, getTransaction (json, base64), getTokenAccountsByOwner,
// getTokenAccountBalance, getTokenSupply, requestAirdrop; batches too. Any
// other method is -32601 "Method not found".
//
// One extra method, mandate_advance [n], produces n slots with a new blockhash
// each (default 1) and returns the new slot: a test expires a blockhash by
// advancing more than 150 slots. Every landed transaction or airdrop also
// advances one slot. As on a cluster, sendTransaction runs a simulation first
// (errors -32002 with its logs, -32003 for signatures) unless skipPreflight;
// without it, a transaction whose blockhash expired is dropped (its
// signature never gets a status) and one that fails in a program lands with
// its error, its fee charged.
//
// What it does not do: slots do not pass in real time (only transactions
// and mandate_advance move them); there is no gossip, no leader schedule, no
// vote accounts or stake rewards, no websocket subscriptions; only the
// programs LiteSVM ships are deployed (no Jupiter, no Metaplex, no AMMs);
// commitment levels are ignored (everything processed is "finalized" at
// once); jsonParsed covers Token and Token-2022 base layouts but not Token-2022
// extensions; balances in getTransaction cover a message's static keys, not
// addresses loaded from lookup tables; getTransaction returns null for
// airdrops (their status is known); innerInstructions are not reported; the
// signature status cache is never pruned (searchTransactionHistory or not).
// Durable-nonce transactions are checked against their nonce account.
package devnet

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gagliardetto/solana-go"
	"github.com/gagliardetto/solana-go/rpc"
	"github.com/gagliardetto/solana-go/rpc/jsonrpc"

	evmdevnet "github.com/mandatehq/mandate/chains/evm/devnet"
)

//go:embed server.js
var serverJS []byte

// Funding of each standard account and of accounts made by NewAccount.
const (
	AccountLamports  = 100 * solana.LAMPORTS_PER_SOL
	AccountUSDC      = 1_000_000 * 1_000_000 // 1,000,000 USDC in base units (6 decimals)
	USDCDecimals     = 6
	Token2022Symbol  = "USDT22"
	defaultAccounts  = 4
	readinessTimeout = 30 * time.Second
)

// Account is a funded keypair on the devnet.
type Account struct {
	Address   solana.PublicKey
	SecretKey solana.PrivateKey
}

// MarshalJSON writes the {address, secretKey} shape of DESIGN.md, the secret
// key in base58 as the Solana tools import it.
func (a Account) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Address   string `json:"address"`
		SecretKey string `json:"secretKey"`
	}{a.Address.String(), a.SecretKey.String()})
}

type config struct {
	accounts     int
	token2022    bool
	artifactsDir string
	progress     io.Writer
	host         string
	port         int
}

// Option configures Start.
type Option func(*config)

// WithAccounts sets how many funded accounts Start makes (default 4).
func WithAccounts(n int) Option { return func(c *config) { c.accounts = n } }

// WithToken2022 also creates a Token-2022 mint (6 decimals, no extensions),
// named Token2022Symbol in Mints, with balances for every account.
func WithToken2022() Option { return func(c *config) { c.token2022 = true } }

// WithArtifactsDir sets the artifacts directory (default: the EVM devnet's ArtifactsDir).
func WithArtifactsDir(dir string) Option { return func(c *config) { c.artifactsDir = dir } }

// WithProgress shows the first-run npm install on w.
func WithProgress(w io.Writer) Option { return func(c *config) { c.progress = w } }

// WithListen serves the JSON-RPC on host:port instead of a free port on
// 127.0.0.1, for `mandate devnet --solana --port N`.
func WithListen(host string, port int) Option {
	return func(c *config) { c.host, c.port = host, port }
}

// Devnet is a running Solana runtime.
type Devnet struct {
	url       string
	client    *rpc.Client
	cmd       *exec.Cmd
	cancel    context.CancelFunc
	done      chan struct{}
	stderr    *bytes.Buffer
	authority solana.PrivateKey // mint authority and payer for funding
	accounts  []Account
	mints     map[string]solana.PublicKey
	programs  map[string]solana.PublicKey // mint -> token program, by symbol
	closeOnce sync.Once
}

// Start runs the runtime (installing the pinned packages on first use), and
// funds the accounts and mints. The process ends when ctx ends or on Close.
func Start(ctx context.Context, opts ...Option) (*Devnet, error) {
	c := config{accounts: defaultAccounts, host: "127.0.0.1"}
	for _, o := range opts {
		o(&c)
	}
	if c.artifactsDir == "" {
		c.artifactsDir = evmdevnet.ArtifactsDir()
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("solana devnet: node is not installed (not in PATH); install Node.js to run the Solana devnet")
	}
	if err := Ensure(ctx, c.artifactsDir, c.progress); err != nil {
		return nil, err
	}
	script, err := writeServer(RuntimeDir(c.artifactsDir))
	if err != nil {
		return nil, err
	}
	d, err := launch(ctx, node, script, c.host, c.port)
	if err != nil {
		return nil, err
	}
	if err := d.setup(ctx, c); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// writeServer puts server.js beside node_modules (so require finds litesvm),
// named by its content so concurrent starts never see half a file and
// binaries of different versions do not overwrite each other's.
func writeServer(dir string) (string, error) {
	sum := sha256.Sum256(serverJS)
	name := filepath.Join(dir, "server-"+hex.EncodeToString(sum[:8])+".js")
	if b, err := os.ReadFile(name); err == nil && bytes.Equal(b, serverJS) {
		return name, nil
	}
	tmp, err := os.CreateTemp(dir, ".server-*.js")
	if err != nil {
		return "", fmt.Errorf("solana devnet: write server: %w", err)
	}
	_, err = tmp.Write(serverJS)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), name)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("solana devnet: write server: %w", err)
	}
	return name, nil
}

// launch starts node and waits for the port line. stdin stays open: the
// server exits when it closes, so it never outlives this process.
func launch(ctx context.Context, node, script, host string, port int) (*Devnet, error) {
	pctx, cancel := context.WithCancel(ctx)
	cmd := exec.CommandContext(pctx, node, script, strconv.Itoa(port), host)
	cmd.Dir = filepath.Dir(script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("solana devnet: %w", err)
	}
	_ = stdin // closed by the process's end; kept open until then
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("solana devnet: %w", err)
	}
	stderr := &bytes.Buffer{}
	cmd.Stderr = &lockedWriter{w: stderr}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("solana devnet: start node: %w", err)
	}
	d := &Devnet{cmd: cmd, cancel: cancel, done: make(chan struct{}), stderr: stderr}
	go func() { cmd.Wait(); close(d.done) }()

	portLine := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		portLine <- strings.TrimSpace(line)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case p := <-portLine:
		if _, err := strconv.Atoi(p); err != nil {
			d.Close()
			return nil, fmt.Errorf("solana devnet: the runtime did not start: %s", tail(d.stderrText(), 2000))
		}
		d.url = "http://" + net.JoinHostPort(dialHost(host), p)
	case <-time.After(readinessTimeout):
		d.Close()
		return nil, fmt.Errorf("solana devnet: the runtime did not report its port within %s: %s", readinessTimeout, tail(d.stderrText(), 2000))
	case <-ctx.Done():
		d.Close()
		return nil, ctx.Err()
	}
	d.client = rpc.New(d.url)
	return d, nil
}

// dialHost is where a client reaches a server listening on host: a
// wildcard address is reached through the loopback.
func dialHost(host string) string {
	if host == "" || host == "0.0.0.0" || host == "::" {
		return "127.0.0.1"
	}
	return host
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (d *Devnet) stderrText() string {
	if lw, ok := d.cmd.Stderr.(*lockedWriter); ok {
		lw.mu.Lock()
		defer lw.mu.Unlock()
	}
	return d.stderr.String()
}

// Close stops the runtime; its state is gone.
func (d *Devnet) Close() error {
	d.closeOnce.Do(func() {
		d.cancel()
		<-d.done
	})
	return nil
}

// Done is closed when the runtime's process has ended (Close, the context
// given to Start, or a crash), so a long-running caller notices.
func (d *Devnet) Done() <-chan struct{} { return d.done }

// RPC is the JSON-RPC endpoint, http://127.0.0.1:PORT.
func (d *Devnet) RPC() string { return d.url }

// Client is a solana-go client on RPC.
func (d *Devnet) Client() *rpc.Client { return d.client }

// Accounts are the funded accounts: AccountLamports and AccountUSDC each.
func (d *Devnet) Accounts() []Account { return append([]Account(nil), d.accounts...) }

// Mints maps a symbol ("USDC", and Token2022Symbol with WithToken2022) to its mint.
func (d *Devnet) Mints() map[string]solana.PublicKey {
	out := make(map[string]solana.PublicKey, len(d.mints))
	for k, v := range d.mints {
		out[k] = v
	}
	return out
}

// Deployment is what `mandate devnet --solana --out FILE` writes.
type Deployment struct {
	RPC      string            `json:"rpc"`
	Accounts []Account         `json:"accounts"`
	Mints    map[string]string `json:"mints"`
}

// Deployment describes the running devnet for other processes.
func (d *Devnet) Deployment() Deployment {
	m := make(map[string]string, len(d.mints))
	for k, v := range d.mints {
		m[k] = v.String()
	}
	return Deployment{RPC: d.url, Accounts: d.Accounts(), Mints: m}
}

// ErrNotDevnet is Mints' error for an RPC that does not answer
// mandate_deployment: a real cluster, or another runtime.
var ErrNotDevnet = errors.New("solana devnet: the RPC is not a mandate devnet (no mandate_deployment method)")

// FetchMints asks the devnet serving rpcURL which mints it made, by symbol,
// so a command pointed at `mandate devnet --solana` knows USDC's mint with no
// other configuration. An RPC that is not such a devnet gives ErrNotDevnet.
func FetchMints(ctx context.Context, rpcURL string) (map[string]solana.PublicKey, error) {
	var dep *struct {
		Mints map[string]string `json:"mints"`
	}
	if err := rpc.New(rpcURL).RPCCallForInto(ctx, &dep, "mandate_deployment", nil); err != nil {
		if rerr, ok := errors.AsType[*jsonrpc.RPCError](err); ok && rerr.Code == -32601 {
			return nil, ErrNotDevnet
		}
		return nil, fmt.Errorf("solana devnet: mandate_deployment: %w", err)
	}
	if dep == nil {
		return nil, ErrNotDevnet
	}
	out := make(map[string]solana.PublicKey, len(dep.Mints))
	for sym, m := range dep.Mints {
		pk, err := solana.PublicKeyFromBase58(m)
		if err != nil {
			return nil, fmt.Errorf("solana devnet: mandate_deployment: mint %s: %w", sym, err)
		}
		out[sym] = pk
	}
	return out, nil
}
