package cosigner_test

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/chains/evm/safe/safetest"
	"github.com/mandatehq/mandate/cosigner"
	"github.com/mandatehq/mandate/memory/memtest"
	"github.com/mandatehq/mandate/policies"
)

// ownerSign is another owner's wallet signing a safeTxHash (EOA, v 27/28).
func ownerSign(t *testing.T, key string, h common.Hash) []byte {
	t.Helper()
	k, err := crypto.HexToECDSA(key[2:])
	if err != nil {
		t.Fatal(err)
	}
	sig, err := crypto.Sign(h[:], k)
	if err != nil {
		t.Fatal(err)
	}
	sig[64] += 27
	return sig
}

// safeRig is a Safe 1.4.1 on the shared devnet with three owners and
// threshold 2, holding 5 ETH and 10,000 USDC: m is Mandate's key, b a
// second owner who proposes and executes, c a third; friend is an
// allowed recipient.
type safeRig struct {
	d               *devnet.Devnet
	m, b, c, friend devnet.Account
	bKey            *ecdsa.PrivateKey
	owners          []common.Address
	safe            common.Address
	client          *evm.Client
	v               safe.Version
}

func newSafeRig(t *testing.T) *safeRig {
	t.Helper()
	ctx := context.Background()
	r := &safeRig{d: devnettest.Shared(t)}
	r.m, _ = devnettest.Account(t, r.d)
	r.b, r.bKey = devnettest.Account(t, r.d)
	r.c, _ = devnettest.Account(t, r.d)
	r.friend, _ = devnettest.Account(t, r.d)
	r.owners = []common.Address{r.m.Address, r.b.Address, r.c.Address}
	var err error
	if r.safe, err = r.d.NewSafe(ctx, r.owners, 2, big.NewInt(5e18), big.NewInt(10_000e6)); err != nil {
		t.Fatal(err)
	}
	if r.client, err = evm.NewClient(ctx, r.d.RPC()); err != nil {
		t.Fatal(err)
	}
	if r.v, err = safe.ReadVersion(ctx, r.client, r.safe); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestEndToEndOnDevnet: a real Safe 1.4.1 on the devnet with three owners
// and threshold 2, Mandate one of them. A second owner proposes an allowed
// batch (USDC and ETH to an allowed recipient, through MultiSendCallOnly)
// and a refused transfer on the local Transaction Service. The watcher
// confirms the batch only; the second owner executes it on chain with the
// two signatures; the refused one never gets Mandate's signature.
func TestEndToEndOnDevnet(t *testing.T) {
	ctx := context.Background()
	rig := newSafeRig(t)
	d, m, b, bKey, friend, safeAddr, client, v := rig.d, rig.m, rig.b, rig.bKey, rig.friend, rig.safe, rig.client, rig.v
	owners := rig.owners
	if v.String() != "1.4.1" {
		t.Fatalf("Safe version %s", v)
	}
	usdcAddr, callOnlyAddr := d.Address(devnet.USDC), d.Address(devnet.MultiSendCallOnly)
	p, err := policies.Parse([]byte(fmt.Sprintf(`version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "%s", decimals: 6}
recipients: {allow: ["%s"]}
limits:
  per_tx: {ETH: "1", USDC: "1000"}
  daily: {ETH: "2", USDC: "2000"}
safe: {delegatecall: ["%s"], self_calls: false, refund: false}
`, usdcAddr.Hex(), friend.Address.Hex(), callOnlyAddr.Hex())))
	if err != nil {
		t.Fatal(err)
	}
	st := memtest.SQLite(t).Store
	signer, err := evm.NewKeySigner(m.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := d.Deployment().TokenList()
	r := cosigner.New(big.NewInt(devnet.ChainID), policies.NewEngine(p, st.Ledger()),
		cosigner.WithSafe(safeAddr, v), cosigner.WithSigner(signer), cosigner.WithStore(cosigner.ReviewStore(st.Reviews())),
		cosigner.WithBatches(callOnlyAddr), cosigner.WithTokens(func(a string) (policies.Token, bool) {
			t, ok := list.ByAddress(devnet.ChainID, a)
			return policies.Token{Symbol: t.Symbol, Address: t.Address, Decimals: t.Decimals}, ok
		}),
		cosigner.WithNonces(func(ctx context.Context, a common.Address) (uint64, error) { return safe.Nonce(ctx, client, a) }))

	sts := safetest.New(t)
	sts.AddSafe(safeAddr, big.NewInt(devnet.ChainID), v, 2, owners...)
	svc, err := safe.NewService(sts.URL)
	if err != nil {
		t.Fatal(err)
	}
	zero := new(big.Int)
	good := safe.Tx{Safe: safeAddr, ChainID: big.NewInt(devnet.ChainID), To: callOnlyAddr, Value: zero, Operation: safe.DelegateCall,
		Data: safe.EncodeMultiSend([]safe.Inner{
			{Operation: safe.Call, To: usdcAddr, Value: zero, Data: transfer(friend.Address, 100e6)},
			{Operation: safe.Call, To: friend.Address, Value: big.NewInt(1e17)},
		}), SafeTxGas: zero, BaseGas: zero, GasPrice: zero, Nonce: big.NewInt(0)}
	bad := good
	bad.To, bad.Operation, bad.Data, bad.Nonce = usdcAddr, safe.Call, transfer(common.HexToAddress("0x000000000000000000000000000000000000bEEF"), 1), big.NewInt(1)

	goodHash, _ := good.Hash(v)
	if onChain, err := safe.ChainHash(ctx, client, good); err != nil || onChain != goodHash {
		t.Fatalf("hand-encoded hash %s, the Safe's getTransactionHash %s (%v)", goodHash.Hex(), onChain.Hex(), err)
	}
	badHash, _ := bad.Hash(v)
	for _, tx := range []safe.Tx{good, bad} {
		h, _ := tx.Hash(v)
		if err := svc.Propose(ctx, tx, v, b.Address, ownerSign(t, b.PrivateKey, h), "e2e"); err != nil {
			t.Fatal(err)
		}
	}

	var decided []cosigner.Decision
	w, err := cosigner.NewWatcher(r, svc, cosigner.OnDecision(func(d cosigner.Decision) { decided = append(decided, d) }))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	// The refused transfer waits behind the batch (nonce 1 while the Safe
	// is at 0): the nonce window signs only the next transaction.
	if len(decided) != 1 {
		t.Fatalf("%d decisions, want 1", len(decided))
	}
	var firstSig string
	for _, d := range decided {
		if d.SafeTxHash == goodHash.Hex() {
			firstSig = d.Signature
		}
	}
	hasMandate := func(h common.Hash) bool {
		for _, cf := range sts.Confirmations(h) {
			if common.HexToAddress(cf.Owner) == m.Address {
				return true
			}
		}
		return false
	}
	if !hasMandate(goodHash) {
		t.Fatal("the allowed batch was not confirmed by Mandate")
	}
	if hasMandate(badHash) {
		t.Fatal("the refused transfer got Mandate's signature")
	}

	// The second owner executes the batch with both signatures.
	pending, err := svc.Transaction(ctx, goodHash)
	if err != nil {
		t.Fatal(err)
	}
	// Mandate's confirmation as posted (EOA); the executing owner's as an
	// approved hash (v 1: the sender of execTransaction is that owner).
	sigs := []safe.Signature{{Owner: b.Address, Kind: safe.ApprovedHash}}
	for _, cf := range pending.Confirmations {
		raw := hexutil.MustDecode(cf.Signature)
		owner, kind, err := safe.Recover(goodHash, raw)
		if err != nil {
			t.Fatal(err)
		}
		if owner == m.Address {
			sigs = append(sigs, safe.Signature{Owner: owner, Kind: kind, Sig: raw})
		}
	}
	if len(sigs) != 2 {
		t.Fatalf("Mandate's signature is not among the confirmations: %+v", pending.Confirmations)
	}
	packed, err := safe.Encode(sigs)
	if err != nil {
		t.Fatal(err)
	}
	exec, err := safe.ExecCall(good, packed)
	if err != nil {
		t.Fatal(err)
	}
	usdcBefore, _ := client.TokenBalance(ctx, usdcAddr, friend.Address)
	ethBefore, _ := client.Balance(ctx, friend.Address)
	devnettest.Send(t, d, bKey, safeAddr, nil, exec.Data)
	usdcAfter, _ := client.TokenBalance(ctx, usdcAddr, friend.Address)
	ethAfter, _ := client.Balance(ctx, friend.Address)
	if new(big.Int).Sub(usdcAfter, usdcBefore).Cmp(big.NewInt(100e6)) != 0 || new(big.Int).Sub(ethAfter, ethBefore).Cmp(big.NewInt(1e17)) != 0 {
		t.Fatalf("the batch moved %s USDC base units and %s wei", new(big.Int).Sub(usdcAfter, usdcBefore), new(big.Int).Sub(ethAfter, ethBefore))
	}
	if n, _ := safe.Nonce(ctx, client, safeAddr); n != 1 {
		t.Fatalf("Safe nonce %d after execution, want 1", n)
	}

	// Again: the executed one is gone from the pending list, the transfer
	// at nonce 1 now gets its turn and is refused, and nothing is signed
	// twice; a third pass leaves the refusal standing.
	decided = nil
	if err := w.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if len(decided) != 1 || decided[0].Decision != cosigner.Reject || hasMandate(badHash) {
		t.Fatalf("second pass: %+v, bad confirmed %v", decided, hasMandate(badHash))
	}
	decided = nil
	if err := w.Check(ctx); err != nil || len(decided) != 0 {
		t.Fatalf("third pass decided %d (%v)", len(decided), err)
	}
	// Reviewing the executed transaction again returns its recorded
	// approval and the same signature, not a second one.
	again, err := r.Review(ctx, safeAddr, good.ServiceTx())
	if err != nil || again.Decision != cosigner.Approve || again.Signature != firstSig || firstSig == "" {
		t.Fatalf("review after execution: %+v %v", again, err)
	}
	// A new transaction at the used nonce is refused.
	reuse := good
	reuse.Data = safe.EncodeMultiSend([]safe.Inner{{Operation: safe.Call, To: friend.Address, Value: big.NewInt(1)}})
	if d, err := r.Review(ctx, safeAddr, reuse.ServiceTx()); err != nil || d.Decision != cosigner.Reject || d.Signature != "" {
		t.Fatalf("a used nonce: %+v %v", d, err)
	}
}
