// Package evm holds what Mandate needs to act on EVM chains: a thin typed
// JSON-RPC client, an encrypted keystore, calldata → Intent decoding for the
// ABIs policies speak of, and a Wallet that signs only what the policy
// engine approved (see Wallet.Send), with EIP-1559 fees, a nonce manager,
// simulation before signing, and a journal that makes sending survive
// crashes and restarts.
package evm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/mandatehq/mandate/policies"
)

// Client is a JSON-RPC connection to one EVM chain. Its methods are thin,
// typed and context-first, like go-ethereum's ethclient, with two
// differences: a broken endpoint is an *RPCError that says what to check,
// and contract answers are ABI-decoded strictly (a decimals() that returns 40
// bytes or 256 is an error, not a truncated number).
//
// A Client is safe for concurrent use.
type Client struct {
	rpc     *rpc.Client
	eth     *ethclient.Client
	url     string // redacted: scheme and host only
	chainID *big.Int
	genesis common.Hash // hash of block 0: tells apart two chains with one id
	timeout time.Duration
	owned   bool // Close closes rpc
}

// Option configures a Client.
type Option func(*clientConfig)

type clientConfig struct {
	httpClient *http.Client
	chainID    *big.Int
	timeout    time.Duration
	label      string
}

// WithHTTPClient sets the HTTP client Dial uses for http(s) URLs.
func WithHTTPClient(hc *http.Client) Option { return func(c *clientConfig) { c.httpClient = hc } }

// WithChainID makes Dial and NewClient fail unless the node serves this
// chain: signing for the wrong chain is how funds go to
// an address nobody controls there.
func WithChainID(id *big.Int) Option {
	return func(c *clientConfig) {
		if id != nil {
			c.chainID = new(big.Int).Set(id)
		}
	}
}

// WithRequestTimeout bounds each request the Client makes, on top of the
// caller's context (default 30s; 0 disables it). A node that accepts the
// connection and never answers otherwise hangs every caller without a
// deadline.
func WithRequestTimeout(d time.Duration) Option { return func(c *clientConfig) { c.timeout = d } }

// WithLabel names the endpoint in errors for a client made by NewClient
// (default "(in-process)").
func WithLabel(label string) Option { return func(c *clientConfig) { c.label = label } }

const defaultRequestTimeout = 30 * time.Second

// Dial connects to the JSON-RPC endpoint at rawURL (http, https, ws, wss or
// an IPC path), reads its chain id and keeps it. An endpoint that cannot be
// reached is an *RPCError with Unreachable set.
func Dial(ctx context.Context, rawURL string, opts ...Option) (*Client, error) {
	cfg := clientConfig{timeout: defaultRequestTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	label := redactURL(rawURL)
	var ropts []rpc.ClientOption
	if cfg.httpClient != nil {
		ropts = append(ropts, rpc.WithHTTPClient(cfg.httpClient))
	}
	rc, err := rpc.DialOptions(ctx, rawURL, ropts...)
	if err != nil {
		return nil, &RPCError{URL: label, Method: "dial", Unreachable: true, Err: stripURL(err)}
	}
	c, err := newClient(ctx, rc, label, cfg)
	if err != nil {
		rc.Close()
		return nil, err
	}
	c.owned = true
	return c, nil
}

// NewClient wraps an existing RPC client, e.g. one attached to an in-process
// node (devnet, go-ethereum's simulated backend). Close does not close rc.
func NewClient(ctx context.Context, rc *rpc.Client, opts ...Option) (*Client, error) {
	if rc == nil {
		return nil, errors.New("evm: NewClient: nil rpc client")
	}
	cfg := clientConfig{timeout: defaultRequestTimeout, label: "(in-process)"}
	for _, o := range opts {
		o(&cfg)
	}
	return newClient(ctx, rc, cfg.label, cfg)
}

func newClient(ctx context.Context, rc *rpc.Client, label string, cfg clientConfig) (*Client, error) {
	c := &Client{rpc: rc, eth: ethclient.NewClient(rc), url: label, timeout: cfg.timeout}
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	var id hexutil.Big
	if err := rc.CallContext(ctx, &id, "eth_chainId"); err != nil {
		return nil, c.wrap(ctx, "eth_chainId", err)
	}
	cid := (*big.Int)(&id)
	if cid.Sign() <= 0 || cid.BitLen() > 64 {
		return nil, &RPCError{URL: label, Method: "eth_chainId", Err: fmt.Errorf("chain id %s is not a valid chain id", cid)}
	}
	if cfg.chainID != nil && cfg.chainID.Cmp(cid) != 0 {
		return nil, fmt.Errorf("evm: RPC %s serves chain %s, but chain %s was configured; check the RPC URL", label, cid, cfg.chainID)
	}
	c.chainID = new(big.Int).Set(cid)
	var genesis struct {
		Hash common.Hash `json:"hash"`
	}
	if err := rc.CallContext(ctx, &genesis, "eth_getBlockByNumber", "0x0", false); err != nil {
		return nil, c.wrap(ctx, "eth_getBlockByNumber", err)
	}
	if genesis.Hash == (common.Hash{}) {
		return nil, &RPCError{URL: label, Method: "eth_getBlockByNumber", Err: errors.New("the node did not return its genesis block (block 0)")}
	}
	c.genesis = genesis.Hash
	return c, nil
}

// Genesis returns the hash of the chain's genesis block, read when the
// client was made.
func (c *Client) Genesis() common.Hash { return c.genesis }

// ChainKey names the chain by id and genesis block ("1337/0x…"): a devnet
// restarted with the same id is a new chain, and what the journal knows of
// the old one must not answer for it.
func (c *Client) ChainKey() string { return c.chainID.String() + "/" + c.genesis.Hex() }

// Close closes the connection if Dial opened it.
func (c *Client) Close() {
	if c.owned {
		c.rpc.Close()
	}
}

// ChainID returns the chain id read when the client was made.
func (c *Client) ChainID() *big.Int { return new(big.Int).Set(c.chainID) }

// Chain returns the chain id in decimal, the form policies.Header uses.
func (c *Client) Chain() string { return c.chainID.String() }

// URL returns the endpoint with any credentials removed (scheme and host).
func (c *Client) URL() string { return c.url }

// RPC returns the underlying RPC client for calls this type does not wrap.
func (c *Client) RPC() *rpc.Client { return c.rpc }

func (c *Client) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, c.timeout, errRequestTimeout)
}

// errRequestTimeout is the cause of a request context that hit the
// Client's own timeout, as opposed to the caller's deadline.
var errRequestTimeout = errors.New("request timeout")

// BlockNumber returns the latest block number.
func (c *Client) BlockNumber(ctx context.Context) (uint64, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	n, err := c.eth.BlockNumber(ctx)
	return n, c.wrap(ctx, "eth_blockNumber", err)
}

// Balance returns addr's native balance at the latest block, in wei.
func (c *Client) Balance(ctx context.Context, addr common.Address) (*big.Int, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	b, err := c.eth.BalanceAt(ctx, addr, nil)
	if err != nil {
		return nil, c.wrap(ctx, "eth_getBalance", err)
	}
	return b, nil
}

// Code returns the contract code at addr (empty for an account without code).
func (c *Client) Code(ctx context.Context, addr common.Address) ([]byte, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	b, err := c.eth.CodeAt(ctx, addr, nil)
	return b, c.wrap(ctx, "eth_getCode", err)
}

// PendingNonce returns the next nonce for addr counting the node's pending
// transactions.
func (c *Client) PendingNonce(ctx context.Context, addr common.Address) (uint64, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	n, err := c.eth.PendingNonceAt(ctx, addr)
	return n, c.wrap(ctx, "eth_getTransactionCount", err)
}

// Nonce returns the number of transactions addr has in the latest block.
func (c *Client) Nonce(ctx context.Context, addr common.Address) (uint64, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	n, err := c.eth.NonceAt(ctx, addr, nil)
	return n, c.wrap(ctx, "eth_getTransactionCount", err)
}

// BaseFee returns the latest block's base fee per gas. A chain without
// EIP-1559 is an error: the Wallet signs only dynamic-fee transactions.
func (c *Client) BaseFee(ctx context.Context) (*big.Int, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	h, err := c.eth.HeaderByNumber(ctx, nil)
	if err != nil {
		return nil, c.wrap(ctx, "eth_getBlockByNumber", err)
	}
	if h.BaseFee == nil {
		return nil, fmt.Errorf("evm: chain %s has no base fee in its latest block (no EIP-1559); it is not supported", c.chainID)
	}
	return new(big.Int).Set(h.BaseFee), nil
}

// SuggestTip returns the node's eth_maxPriorityFeePerGas.
func (c *Client) SuggestTip(ctx context.Context) (*big.Int, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	t, err := c.eth.SuggestGasTipCap(ctx)
	if err != nil {
		return nil, c.wrap(ctx, "eth_maxPriorityFeePerGas", err)
	}
	if t.Sign() < 0 {
		return nil, &RPCError{URL: c.url, Method: "eth_maxPriorityFeePerGas", Err: fmt.Errorf("negative tip %s", t)}
	}
	return t, nil
}

func callMsg(from common.Address, call policies.Call) (ethereum.CallMsg, error) {
	to, err := parseAddress("to", call.To)
	if err != nil {
		return ethereum.CallMsg{}, err
	}
	return ethereum.CallMsg{From: from, To: &to, Value: call.Value, Data: call.Data}, nil
}

// Call runs call from `from` at the latest block and returns its output. A
// revert is a *RevertError with the reason decoded.
func (c *Client) Call(ctx context.Context, from common.Address, call policies.Call) ([]byte, error) {
	msg, err := callMsg(from, call)
	if err != nil {
		return nil, err
	}
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	out, err := c.eth.CallContract(ctx, msg, nil)
	if err != nil {
		if rev := asRevert(err); rev != nil {
			return nil, rev
		}
		return nil, c.wrap(ctx, "eth_call", err)
	}
	return out, nil
}

// EstimateGas estimates the gas call needs when sent from `from`. A revert
// is a *RevertError.
func (c *Client) EstimateGas(ctx context.Context, from common.Address, call policies.Call) (uint64, error) {
	msg, err := callMsg(from, call)
	if err != nil {
		return 0, err
	}
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	g, err := c.eth.EstimateGas(ctx, msg)
	if err != nil {
		if rev := asRevert(err); rev != nil {
			return 0, rev
		}
		return 0, c.wrap(ctx, "eth_estimateGas", err)
	}
	return g, nil
}

// SendRaw broadcasts an already signed transaction and returns its hash. It
// signs nothing; the Wallet is the only signer.
func (c *Client) SendRaw(ctx context.Context, raw []byte) (common.Hash, error) {
	var tx types.Transaction
	if err := tx.UnmarshalBinary(raw); err != nil {
		return common.Hash{}, fmt.Errorf("evm: SendRaw: not a signed transaction: %w", err)
	}
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	var got common.Hash
	if err := c.rpc.CallContext(ctx, &got, "eth_sendRawTransaction", hexutil.Encode(raw)); err != nil {
		return common.Hash{}, c.wrap(ctx, "eth_sendRawTransaction", err)
	}
	if got != tx.Hash() {
		return tx.Hash(), &RPCError{URL: c.url, Method: "eth_sendRawTransaction",
			Err: fmt.Errorf("node answered hash %s for transaction %s", got.Hex(), tx.Hash().Hex())}
	}
	return got, nil
}

// Receipt returns the receipt of a mined transaction, or an error matching
// ethereum.NotFound while there is none. A node still indexing transactions
// answers NotFound too: receipts can lag the block that holds them.
func (c *Client) Receipt(ctx context.Context, hash common.Hash) (*types.Receipt, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	r, err := c.eth.TransactionReceipt(ctx, hash)
	if err != nil {
		if errors.Is(err, ethereum.NotFound) || strings.Contains(err.Error(), "indexing is in progress") {
			return nil, fmt.Errorf("evm: receipt of %s: %w", hash.Hex(), ethereum.NotFound)
		}
		return nil, c.wrap(ctx, "eth_getTransactionReceipt", err)
	}
	return r, nil
}

// TransactionByHash returns a transaction and whether it is still pending;
// ethereum.NotFound when the node does not know it.
func (c *Client) TransactionByHash(ctx context.Context, hash common.Hash) (*types.Transaction, bool, error) {
	ctx, cancel := c.reqCtx(ctx)
	defer cancel()
	tx, pending, err := c.eth.TransactionByHash(ctx, hash)
	if err != nil {
		if errors.Is(err, ethereum.NotFound) {
			return nil, false, fmt.Errorf("evm: transaction %s: %w", hash.Hex(), ethereum.NotFound)
		}
		return nil, false, c.wrap(ctx, "eth_getTransactionByHash", err)
	}
	return tx, pending, nil
}

// --- ERC-20 -------------------------------------------------------------

var (
	selBalanceOf = selector("balanceOf(address)")
	selAllowance = selector("allowance(address,address)")
	selDecimals  = selector("decimals()")
	selSymbol    = selector("symbol()")
	selName      = selector("name()")
)

func (c *Client) callToken(ctx context.Context, token common.Address, fn string, data []byte) ([]byte, error) {
	out, err := c.Call(ctx, common.Address{}, policies.Call{To: token.Hex(), Data: data})
	if err != nil {
		return nil, fmt.Errorf("evm: token %s %s: %w", token.Hex(), fn, err)
	}
	return out, nil
}

func tokenAnswerErr(token common.Address, fn string, err error) error {
	return fmt.Errorf("evm: token %s %s: %w", token.Hex(), fn, err)
}

// TokenBalance returns owner's balance of an ERC-20 token in base units.
func (c *Client) TokenBalance(ctx context.Context, token, owner common.Address) (*big.Int, error) {
	out, err := c.callToken(ctx, token, "balanceOf()", append(selBalanceOf[:], encodeAddressWord(owner)...))
	if err != nil {
		return nil, err
	}
	v, err := decodeUint256Answer(out)
	if err != nil {
		return nil, tokenAnswerErr(token, "balanceOf()", err)
	}
	return v, nil
}

// Allowance returns how much spender may move of owner's token.
func (c *Client) Allowance(ctx context.Context, token, owner, spender common.Address) (*big.Int, error) {
	data := append(append(selAllowance[:], encodeAddressWord(owner)...), encodeAddressWord(spender)...)
	out, err := c.callToken(ctx, token, "allowance()", data)
	if err != nil {
		return nil, err
	}
	v, err := decodeUint256Answer(out)
	if err != nil {
		return nil, tokenAnswerErr(token, "allowance()", err)
	}
	return v, nil
}

// Decimals returns an ERC-20 token's decimals.
func (c *Client) Decimals(ctx context.Context, token common.Address) (uint8, error) {
	out, err := c.callToken(ctx, token, "decimals()", selDecimals[:])
	if err != nil {
		return 0, err
	}
	d, err := decodeUint8Answer(out)
	if err != nil {
		return 0, tokenAnswerErr(token, "decimals()", err)
	}
	return d, nil
}

// Symbol returns an ERC-20 token's symbol. It is text the token's deployer
// chose: it is checked to be printable and at most 32 characters, and is
// data to show, never an instruction.
func (c *Client) Symbol(ctx context.Context, token common.Address) (string, error) {
	return c.tokenText(ctx, token, "symbol()", selSymbol, 32)
}

// Name returns an ERC-20 token's name (printable, at most 128 characters).
func (c *Client) Name(ctx context.Context, token common.Address) (string, error) {
	return c.tokenText(ctx, token, "name()", selName, 128)
}

func (c *Client) tokenText(ctx context.Context, token common.Address, fn string, sel [4]byte, max int) (string, error) {
	out, err := c.callToken(ctx, token, fn, sel[:])
	if err != nil {
		return "", err
	}
	s, err := decodeStringAnswer(out)
	if err == nil {
		err = checkText(strings.TrimSuffix(fn, "()"), s, max)
	}
	if err != nil {
		return "", tokenAnswerErr(token, fn, err)
	}
	return s, nil
}

// ERC20Info reads a token's symbol and decimals from the chain.
func (c *Client) ERC20Info(ctx context.Context, token common.Address) (policies.Token, error) {
	dec, err := c.Decimals(ctx, token)
	if err != nil {
		return policies.Token{}, err
	}
	sym, err := c.Symbol(ctx, token)
	if err != nil {
		return policies.Token{}, err
	}
	return policies.Token{Symbol: sym, Address: token.Hex(), Decimals: dec}, nil
}

// --- errors -------------------------------------------------------------

// RPCError says the RPC endpoint itself is the problem: it could not be
// reached (Unreachable) or it answered something that is not a valid
// JSON-RPC answer. Errors the node reports properly (a revert, "nonce too
// low") are not RPCErrors; they match go-ethereum's rpc.Error.
type RPCError struct {
	URL         string // the endpoint without credentials
	Method      string // the JSON-RPC method
	Unreachable bool
	Err         error
}

func (e *RPCError) Error() string {
	if e.Unreachable {
		return fmt.Sprintf("RPC %s is not reachable: %v; check its URL and that the node is up", e.URL, e.Err)
	}
	return fmt.Sprintf("RPC %s gave an invalid answer to %s: %v; check that its URL is an Ethereum JSON-RPC endpoint", e.URL, e.Method, e.Err)
}

func (e *RPCError) Unwrap() error { return e.Err }

// wrap classifies an error from the RPC layer.
func (c *Client) wrap(ctx context.Context, method string, err error) error {
	if err == nil {
		return nil
	}
	var rerr rpc.Error
	if errors.As(err, &rerr) { // the node answered with a JSON-RPC error
		return fmt.Errorf("evm: %s: %w", method, err)
	}
	if errors.Is(err, errRequestTimeout) || (ctx.Err() != nil && context.Cause(ctx) == errRequestTimeout) {
		return &RPCError{URL: c.url, Method: method, Unreachable: true, Err: fmt.Errorf("no answer to %s within %s", method, c.timeout)}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("evm: %s: %w", method, err)
	}
	var herr rpc.HTTPError
	if errors.As(err, &herr) {
		body := string(herr.Body)
		if len(body) > 120 {
			body = body[:120] + "…"
		}
		return &RPCError{URL: c.url, Method: method, Err: fmt.Errorf("HTTP %s %q", herr.Status, body)}
	}
	var nerr net.Error
	if errors.As(err, &nerr) || errors.Is(err, rpc.ErrClientQuit) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, io.ErrUnexpectedEOF) {
		return &RPCError{URL: c.url, Method: method, Unreachable: true, Err: stripURL(err)}
	}
	return &RPCError{URL: c.url, Method: method, Err: err}
}

// stripURL drops the URL that net/http puts in its errors: it may hold an
// API key in its path or query.
func stripURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// redactURL keeps what identifies an endpoint and drops what may be a
// credential: user info, query, and a path (Infura, Alchemy and others put
// the API key there).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		if strings.Contains(raw, "://") {
			return "(unparseable URL)"
		}
		return raw // an IPC path
	}
	s := u.Scheme + "://" + u.Host
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		s += "/…"
	}
	return s
}
