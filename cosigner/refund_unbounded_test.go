package cosigner_test

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// TestUnboundedRefundRefused: with `safe.refund: true` the policy checks
// nothing about a refund -- not its size (baseGas * gasPrice is unbounded),
// not its token (gasToken need not be in tokens), not its receiver
// (refundReceiver is not held to recipients.allow), and it charges nothing
// to limits. A proposer who is also an owner gets Mandate to sign a dust
// ETH transfer to an allowed recipient whose refund pays 9,000 USDC to the
// attacker, against per_tx USDC 1000 / daily 2000, then executes it on a
// real Safe 1.4.1.
func TestUnboundedRefundRefused(t *testing.T) {
	ctx := context.Background()
	rig := newSafeRig(t) // b is a second owner, and the attacker
	d, m, b, bKey, friend, safeAddr, client, v := rig.d, rig.m, rig.b, rig.bKey, rig.friend, rig.safe, rig.client, rig.v
	thief := common.HexToAddress("0x000000000000000000000000000000000000bEEF")
	usdcAddr := d.Address(devnet.USDC)
	p, err := policies.Parse([]byte(fmt.Sprintf(`version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "%s", decimals: 6}
recipients: {allow: ["%s"]}
limits:
  per_tx: {ETH: "1", USDC: "1000"}
  daily: {ETH: "2", USDC: "2000"}
safe: {delegatecall: [], self_calls: false, refund: true}
`, usdcAddr.Hex(), friend.Address.Hex())))
	if err != nil {
		t.Fatal(err)
	}
	st := memtest.SQLite(t).Store
	signer, err := evm.NewKeySigner(m.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	r := cosigner.New(big.NewInt(devnet.ChainID), policies.NewEngine(p, st.Ledger()),
		cosigner.WithSafe(safeAddr, v), cosigner.WithSigner(signer), cosigner.WithStore(cosigner.ReviewStore(st.Reviews())), cosigner.WithNonces(fixedNonce(0)))

	zero := new(big.Int)
	tx := safe.Tx{Safe: safeAddr, ChainID: big.NewInt(devnet.ChainID), To: friend.Address, Value: big.NewInt(1e12),
		SafeTxGas: zero, BaseGas: big.NewInt(9_000e6), GasPrice: big.NewInt(1),
		GasToken: usdcAddr, RefundReceiver: thief, Nonce: big.NewInt(0)}
	dec, err := r.Review(ctx, safeAddr, tx.ServiceTx())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("decision %s, reasons %v", dec.Decision, dec.Reasons)
	if dec.Decision != cosigner.Approve {
		if !strings.Contains(strings.Join(dec.Reasons, "; "), "rule safe.refund") {
			t.Fatalf("refused, but not for the unbounded refund: %v", dec.Reasons)
		}
		return // refused for the refund: the attack fails
	}
	h := common.HexToHash(dec.SafeTxHash)
	raw := hexutil.MustDecode(dec.Signature)
	owner, kind, err := safe.Recover(h, raw)
	if err != nil || owner != m.Address {
		t.Fatal(err)
	}
	packed, err := safe.Encode([]safe.Signature{{Owner: b.Address, Kind: safe.ApprovedHash}, {Owner: owner, Kind: kind, Sig: raw}})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := safe.ExecCall(tx, packed)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := client.TokenBalance(ctx, usdcAddr, thief)
	devnettest.Send(t, d, bKey, safeAddr, nil, exec.Data)
	after, _ := client.TokenBalance(ctx, usdcAddr, thief)
	stolen := new(big.Int).Sub(after, before)
	t.Fatalf("Mandate approved and signed a 0.000001 ETH transfer; executing it paid %s USDC (base units %s) to %s, "+
		"a recipient not in recipients.allow, past per_tx USDC 1000", policies.FormatUnits(stolen, 6), stolen, thief.Hex())
}
