package multisig_test

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/chains/evm/safe/safetest"
	"github.com/mandatehq/mandate/policies"
	"github.com/mandatehq/mandate/tools"
	"github.com/mandatehq/mandate/tools/multisig"
)

func TestProposeAndReview(t *testing.T) {
	ctx := t.Context()
	d := devnettest.Shared(t)
	me, _ := devnettest.Account(t, d)
	other, _ := devnettest.Account(t, d)
	friend, _ := devnettest.Account(t, d)
	owners := []common.Address{me.Address, other.Address}
	safeAddr, err := d.NewSafe(ctx, owners, 2, big.NewInt(3e18), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := evm.NewClient(ctx, d.RPC())
	signer, _ := evm.NewKeySigner(me.PrivateKey)
	w, _ := evm.NewWallet(c, signer)
	sts := safetest.New(t)
	sts.AddSafe(safeAddr, big.NewInt(devnet.ChainID), safe.DefaultVersion, 2, owners...)
	svc, _ := safe.NewService(sts.URL)
	p, err := policies.Parse([]byte(fmt.Sprintf(`version: 1
chains: [1337]
recipients: {allow: ["%s"]}
limits: {per_tx: {ETH: "1"}, daily: {ETH: "2"}}
safe: {delegatecall: [], self_calls: false, refund: false}
`, friend.Address.Hex())))
	if err != nil {
		t.Fatal(err)
	}
	reg := tools.NewRegistry(multisig.Tools(w, policies.NewEngine(p, policies.NewMemLedger()), signer, multisig.WithService(svc)))
	call := func(name string, args map[string]string) (tools.Result, error) {
		b, _ := json.Marshal(args)
		return reg.Call(ctx, name, b)
	}

	res, err := call("safe_propose", map[string]string{"safe": safeAddr.Hex(), "to": friend.Address.Hex(), "value": "0.5"})
	if err != nil {
		t.Fatal(err)
	}
	prop := res.Data.(multisig.Proposal)
	h := common.HexToHash(prop.SafeTxHash)
	if cf := sts.Confirmations(h); len(cf) != 1 || common.HexToAddress(cf[0].Owner) != me.Address {
		t.Fatalf("confirmations after proposing: %+v", cf)
	}
	rv, err := call("safe_review", map[string]string{"safe": safeAddr.Hex(), "safe_tx_hash": prop.SafeTxHash})
	if err != nil || rv.Data.(multisig.Review).Decision != "approve" {
		t.Fatalf("review of the proposal: %+v %v", rv, err)
	}

	// The policy refuses a proposal to a stranger: nothing is posted.
	if _, err := call("safe_propose", map[string]string{"safe": safeAddr.Hex(), "to": "0x000000000000000000000000000000000000bEEF", "value": "0.1"}); err == nil || !strings.Contains(err.Error(), "recipients.allow") {
		t.Fatalf("proposal to a stranger: %v", err)
	}

	// Another owner proposes something the policy refuses; review says why.
	bad := safe.Tx{Safe: safeAddr, ChainID: big.NewInt(devnet.ChainID), To: safeAddr, Value: new(big.Int),
		Data:      append(crypto.Keccak256([]byte("changeThreshold(uint256)"))[:4], common.LeftPadBytes([]byte{1}, 32)...),
		SafeTxGas: new(big.Int), BaseGas: new(big.Int), GasPrice: new(big.Int), Nonce: big.NewInt(int64(prop.Nonce + 1))}
	bh, _ := bad.Hash(safe.DefaultVersion)
	k, _ := crypto.HexToECDSA(other.PrivateKey[2:])
	sig, _ := crypto.Sign(bh[:], k)
	sig[64] += 27
	if err := svc.Propose(ctx, bad, safe.DefaultVersion, other.Address, sig, "test"); err != nil {
		t.Fatal(err)
	}
	rv, err = call("safe_review", map[string]string{"safe": safeAddr.Hex(), "safe_tx_hash": bh.Hex()})
	if err != nil || rv.Data.(multisig.Review).Decision == "approve" || !strings.Contains(rv.Text, "safe.self_calls") {
		t.Fatalf("review of a threshold change: %+v %v", rv.Text, err)
	}

	for _, tc := range []struct {
		tool string
		args map[string]string
		want string
	}{
		{"safe_review", map[string]string{"safe": safeAddr.Hex(), "safe_tx_hash": "0x12"}, "64 hex"},
		{"safe_review", map[string]string{"safe": safeAddr.Hex(), "safe_tx_hash": "0x" + strings.Repeat("ab", 32)}, "has no transaction"},
		{"safe_propose", map[string]string{"safe": friend.Address.Hex(), "to": friend.Address.Hex(), "value": "1"}, "safe"},
		{"safe_propose", map[string]string{"safe": safeAddr.Hex(), "to": friend.Address.Hex(), "value": "1", "data": "0xabc"}, "whole bytes"},
		{"safe_propose", map[string]string{"safe": safeAddr.Hex(), "to": friend.Address.Hex(), "value": "-1"}, "value"},
	} {
		if _, err := call(tc.tool, tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: %v, want %q", tc.tool, tc.args, err, tc.want)
		}
	}
}

// A proposal the Transaction Service refuses did not happen: the tool says
// so, and its spend is given back to the limits.
func TestProposeRefusedByServiceReleasesSpend(t *testing.T) {
	ctx := t.Context()
	d := devnettest.Shared(t)
	me, _ := devnettest.Account(t, d)
	other, _ := devnettest.Account(t, d)
	friend, _ := devnettest.Account(t, d)
	safeAddr, err := d.NewSafe(ctx, []common.Address{me.Address, other.Address}, 2, big.NewInt(1e18), nil)
	if err != nil {
		t.Fatal(err)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.Write([]byte(`{"count":0,"next":null,"previous":null,"results":[]}`))
			return
		}
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	svc, _ := safe.NewService(down.URL)
	c, _ := evm.NewClient(ctx, d.RPC())
	signer, _ := evm.NewKeySigner(me.PrivateKey)
	w, _ := evm.NewWallet(c, signer)
	p, err := policies.Parse([]byte(fmt.Sprintf("version: 1\nchains: [1337]\nrecipients: {allow: [\"%s\"]}\nlimits: {per_tx: {ETH: \"1\"}, daily: {ETH: \"1\"}}\nsafe: {delegatecall: [], self_calls: false, refund: false}\n", friend.Address.Hex())))
	if err != nil {
		t.Fatal(err)
	}
	ledger := policies.NewMemLedger()
	reg := tools.NewRegistry(multisig.Tools(w, policies.NewEngine(p, ledger), signer, multisig.WithService(svc)))
	args, _ := json.Marshal(map[string]string{"safe": safeAddr.Hex(), "to": friend.Address.Hex(), "value": "1"})
	if _, err := reg.Call(ctx, "safe_propose", args); err == nil || !strings.Contains(err.Error(), "nothing was proposed") {
		t.Fatalf("refused proposal: %v", err)
	}
	// The whole daily limit is free again: the same proposal passes the
	// policy (and is refused by the service once more).
	if _, err := reg.Call(ctx, "safe_propose", args); err == nil || !strings.Contains(err.Error(), "nothing was proposed") {
		t.Fatalf("second try: %v, want the service's refusal, not the daily limit", err)
	}
}
