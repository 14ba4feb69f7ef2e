package cosigner_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// TestRefundChargedAtItsBound: policies/checks.go charges a refund at
// most (safeTxGas + 100,000 + baseGas) × gasPrice. But execTransaction
// measures gasUsed around `execute(to, value, data, ...)`, and that window
// includes copying `data` (bytes calldata) into memory for execute's
// `bytes memory` parameter: 3 gas per word, unbounded by safeTxGas. With
// ~1.2 MB of batch data (≈14,000 zero-value transfers through the allowed
// MultiSendCallOnly, all of which the policy approves), the Safe pays a
// refund ~15% above what the policy charged to per_tx/daily, and the
// excess grows linearly with the data.
//
// Such a transaction is larger than geth's txpool accepts (128 KiB) but is
// valid in a block (gas ≈ 12.5M with the EIP-7623 floor): a builder, or an
// executor who sends it to one directly, can include it. The devnet's pool
// refuses it, so the execution is shown with eth_simulateV1 on the
// devnet's real Safe 1.4.1 state.
func TestRefundChargedAtItsBound(t *testing.T) {
	ctx := context.Background()
	d := devnettest.Shared(t)
	m, _ := devnettest.Account(t, d)
	b, bKey := devnettest.Account(t, d)
	thief := common.HexToAddress("0x000000000000000000000000000000000000bEEF")
	client, err := evm.NewClient(ctx, d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	// The L1 Safe 1.4.1 singleton (devnet.NewSafe uses SafeL2, whose event
	// logs all of data before execution and makes 1.2 MB too dear to run).
	safeAddr := newL1Safe(t, d, client, bKey, []common.Address{m.Address, b.Address}, 2)
	usdcABI, _ := d.ABI(devnet.USDC)
	fund, _ := usdcABI.Pack("transfer", safeAddr, big.NewInt(10_000e6))
	devnettest.Send(t, d, bKey, d.Address(devnet.USDC), nil, fund)
	v, _ := safe.ReadVersion(ctx, client, safeAddr)
	usdcAddr, callOnly := d.Address(devnet.USDC), d.Address(devnet.MultiSendCallOnly)
	// The refund is charged at most (1 + 100,000 + 0) × 1000 = 100.001 USDC:
	// exactly the per-transaction limit.
	p, err := policies.Parse([]byte(fmt.Sprintf(`version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "%s", decimals: 6}
limits:
  per_tx: {ETH: "1", USDC: "100.001"}
  daily: {ETH: "1", USDC: "100.001"}
safe: {delegatecall: ["%s"], self_calls: false, refund: true}
`, usdcAddr.Hex(), callOnly.Hex())))
	if err != nil {
		t.Fatal(err)
	}
	st := memtest.SQLite(t).Store
	signer, _ := evm.NewKeySigner(m.PrivateKey)
	r := cosigner.New(big.NewInt(devnet.ChainID), policies.NewEngine(p, st.Ledger()),
		cosigner.WithSafe(safeAddr, v), cosigner.WithSigner(signer), cosigner.WithStore(cosigner.ReviewStore(st.Reviews())), cosigner.WithBatches(callOnly),
		cosigner.WithNonces(func(ctx context.Context, a common.Address) (uint64, error) { return safe.Nonce(ctx, client, a) }))

	const n = 14_100 // 85 bytes each: ~1.2 MB of batch data
	calls := make([]safe.Inner, n)
	for i := range calls {
		calls[i] = safe.Inner{Operation: safe.Call, To: common.HexToAddress("0x00000000000000000000000000000000000000ff"), Value: new(big.Int)}
	}
	gasPrice := big.NewInt(1000) // USDC base units per gas
	tx := safe.Tx{Safe: safeAddr, ChainID: big.NewInt(devnet.ChainID), To: callOnly, Value: new(big.Int), Operation: safe.DelegateCall,
		Data: safe.EncodeMultiSend(calls), SafeTxGas: big.NewInt(1), BaseGas: new(big.Int), GasPrice: gasPrice,
		GasToken: usdcAddr, RefundReceiver: thief, Nonce: big.NewInt(0)}
	dec, err := r.Review(ctx, safeAddr, tx.ServiceTx())
	if err != nil {
		t.Fatal(err)
	}
	if dec.Decision != cosigner.Approve {
		if !strings.Contains(strings.Join(dec.Reasons, "; "), "rule limits.per_tx.USDC") {
			t.Fatalf("refused, but not for the refund's charge against the limits: %v", dec.Reasons)
		}
		return // the refund is charged at its bound and the limit refuses it
	}
	charged := new(big.Int).Mul(big.NewInt(1+100_000), gasPrice) // the policy's bound
	t.Logf("Mandate approved a %d-byte batch; refund charged at most %s USDC base units", len(tx.Data), charged)

	h := common.HexToHash(dec.SafeTxHash)
	raw := hexutil.MustDecode(dec.Signature)
	owner, kind, err := safe.Recover(h, raw)
	if err != nil || owner != m.Address {
		t.Fatal(err)
	}
	sigs := []safe.Signature{{Owner: b.Address, Kind: safe.ApprovedHash}, {Owner: owner, Kind: kind, Sig: raw}}
	packed, err := safe.Encode(sigs)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := safe.ExecCall(tx, packed)
	if err != nil {
		t.Fatal(err)
	}

	// Execute it on the devnet's state (the executing owner b as sender).
	type call struct {
		From common.Address `json:"from"`
		To   common.Address `json:"to"`
		Data hexutil.Bytes  `json:"data"`
		Gas  hexutil.Uint64 `json:"gas"`
	}
	req := map[string]any{
		"blockStateCalls": []map[string]any{{"calls": []call{{From: b.Address, To: safeAddr, Data: hexutil.Bytes(exec.Data), Gas: 16_000_000}}}},
		"validation":      false,
	}
	var out []struct {
		Calls []struct {
			Status  hexutil.Uint64 `json:"status"`
			GasUsed hexutil.Uint64 `json:"gasUsed"`
			Error   *struct {
				Message string `json:"message"`
			} `json:"error"`
			Logs []struct {
				Address common.Address `json:"address"`
				Topics  []common.Hash  `json:"topics"`
				Data    hexutil.Bytes  `json:"data"`
			} `json:"logs"`
		} `json:"calls"`
	}
	if err := d.RPC().CallContext(ctx, &out, "eth_simulateV1", req, "latest"); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || len(out[0].Calls) != 1 {
		t.Fatalf("simulation answered %+v", out)
	}
	c := out[0].Calls[0]
	if c.Error != nil || c.Status != 1 {
		t.Fatalf("execTransaction failed: %+v", c.Error)
	}
	transfer := crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))
	paid := new(big.Int)
	for _, l := range c.Logs {
		if l.Address == usdcAddr && len(l.Topics) == 3 && l.Topics[0] == transfer &&
			common.BytesToAddress(l.Topics[1][:]) == safeAddr && common.BytesToAddress(l.Topics[2][:]) == thief {
			paid.Add(paid, new(big.Int).SetBytes(l.Data))
		}
	}
	t.Logf("transaction gas %d; the Safe paid a refund of %s USDC base units to %s", c.GasUsed, paid, thief.Hex())
	if paid.Cmp(charged) > 0 {
		t.Fatalf("the Safe paid %s USDC in refund; the policy charged at most %s (per_tx and daily USDC 100.001): %s over the limit",
			policies.FormatUnits(paid, 6), policies.FormatUnits(charged, 6), policies.FormatUnits(new(big.Int).Sub(paid, charged), 6))
	}
}

// newL1Safe deploys a Safe 1.4.1 proxy over the L1 singleton (Safe, not
// SafeL2) through the SafeProxyFactory.
func newL1Safe(t *testing.T, d *devnet.Devnet, c *evm.Client, key *ecdsa.PrivateKey, owners []common.Address, threshold int64) common.Address {
	t.Helper()
	ctx := context.Background()
	safeABI, err := d.ABI(devnet.Safe)
	if err != nil {
		t.Fatal(err)
	}
	factoryABI, err := d.ABI(devnet.SafeProxyFactory)
	if err != nil {
		t.Fatal(err)
	}
	setup, err := safeABI.Pack("setup", owners, big.NewInt(threshold), common.Address{}, []byte{},
		d.Address(devnet.CompatibilityFallbackHandler), common.Address{}, new(big.Int), common.Address{})
	if err != nil {
		t.Fatal(err)
	}
	salt := new(big.Int).SetBytes(crypto.Keccak256(owners[0][:], owners[1][:]))
	data, err := factoryABI.Pack("createProxyWithNonce", d.Address(devnet.Safe), setup, salt)
	if err != nil {
		t.Fatal(err)
	}
	from := crypto.PubkeyToAddress(key.PublicKey)
	factory := d.Address(devnet.SafeProxyFactory)
	ret, err := d.Client().CallContract(ctx, ethereum.CallMsg{From: from, To: &factory, Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := factoryABI.Unpack("createProxyWithNonce", ret)
	if err != nil {
		t.Fatal(err)
	}
	proxy := out[0].(common.Address)
	devnettest.Send(t, d, key, factory, nil, data)
	if v, err := safe.ReadVersion(ctx, c, proxy); err != nil || v.String() != "1.4.1" {
		t.Fatalf("L1 Safe at %s: version %v (%v)", proxy.Hex(), v, err)
	}
	return proxy
}
