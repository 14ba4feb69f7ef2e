package policies

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
)

// Adversarial cases against issue 10's approvals-as-spends, found in
// review: each names what an attacker sends and what the engine must say.

// requireDenied decides in and requires a denial whose reasons contain every
// one of texts (a fix may word the rest of the reason as it likes).
func requireDenied(t *testing.T, eng *Engine, in Intent, texts ...string) {
	t.Helper()
	_, err := eng.Decide(context.Background(), in)
	d, ok := errors.AsType[*Denied](err)
	if !ok {
		t.Fatalf("decided %v, want a denial naming %q", err, texts)
	}
	for _, w := range texts {
		if !strings.Contains(d.Error(), w) {
			t.Errorf("denial lacks %q:\n%v", w, d)
		}
	}
}

// ERC-721's approve(address,uint256) shares ERC-20's selector, and its
// uint256 is a token id: approve(stranger, 0) grants NFT #0 to stranger.
// The engine reads it as a revoke, which skips the spender checks
// (approvals.spenders, recipients.deny) and charges nothing, so a Safe
// proposer (through the co-signer, whose decoder gives an unlisted NFT 0
// decimals, matching the policy) or a model gives NFT #0 to anyone.
func TestNFTApproveOfTokenZeroIsNotARevoke(t *testing.T) {
	const punkAddr = "0xb47e3cd837dDF8e4c57F05d70Ab865de6e193BBB"
	punk := Token{Symbol: "PUNK", Address: punkAddr, Decimals: 0}
	p, err := Parse([]byte(`version: 1
chains: [1]
tokens:
  USDC: {chain: 1, address: "` + usdcAddr + `", decimals: 6}
  PUNK: {chain: 1, address: "` + punkAddr + `", decimals: 0}
recipients: {deny: ["` + dead + `"]}
limits: {per_tx: {USDC: "1000", PUNK: "1"}, daily: {USDC: "5000", PUNK: "1"}}
approvals: {max: {USDC: "1000", PUNK: "1"}, unlimited: false, spenders: ["` + router + `"]}
safe: {delegatecall: ["` + multisend + `"], self_calls: false, refund: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	nft := func(spender string, id int64) Approve {
		a := Approve{Header: hdr(), Method: MethodApprove, Token: punk, Spender: spender, Amount: big.NewInt(id)}
		d, _ := abiCall(selApprove, spender, a.Amount)
		a.Tx = &Call{To: punkAddr, Value: new(big.Int), Data: d}
		return a
	}
	eng, _ := newTestEngine(t, p, wednesday)

	// Controls: a non-zero id is checked as an approval, and an ERC-20
	// revoke to anyone passes (it grants nothing).
	requireDenied(t, eng, nft(stranger, 1), "spender "+stranger+" is not in approvals.spenders")
	if _, err := eng.Decide(context.Background(), approveUSDC(stranger, "0")); err != nil {
		t.Fatalf("an ERC-20 revoke: %v", err)
	}

	tests := []struct {
		name  string
		in    Intent
		texts []string
	}{
		{"NFT #0 to a spender not in approvals.spenders", nft(stranger, 0), []string{stranger, "approvals.spenders"}},
		{"NFT #0 to an address in recipients.deny", nft(dead, 0), []string{dead, "recipients.deny"}},
		{"NFT #0 to a stranger by a Safe through the co-signer", safeBatch(OpCall, punkAddr, nft(stranger, 0)), []string{stranger, "approvals.spenders"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireDenied(t, eng, tt.in, tt.texts...)
		})
	}

	// It is charged too: with the day's one PUNK granted (#1 to the
	// router), granting #0 as well is over limits.daily.PUNK.
	t.Run("NFT #0 once the daily limit is spent", func(t *testing.T) {
		eng, _ := newTestEngine(t, p, wednesday)
		if _, err := eng.Decide(context.Background(), nft(router, 1)); err != nil {
			t.Fatalf("NFT #1 to the router: %v", err)
		}
		requireDenied(t, eng, nft(router, 0), "limits.daily.PUNK")
	})
	// And a fix must still let NFT #0 go to an allowed spender on a fresh day.
	t.Run("NFT #0 to an allowed spender", func(t *testing.T) {
		eng, _ := newTestEngine(t, p, wednesday)
		if _, err := eng.Decide(context.Background(), nft(router, 0)); err != nil {
			t.Fatalf("NFT #0 to the router: %v", err)
		}
	})
}

// A Permit2 approval's transaction is never compared with its fields
// (approveTxMismatch returns "" for MethodPermit2), and a swap's embedded
// approval "fits" on its fields alone. So the engine approves, and binds
// its Approval to, an intent that says "Permit2: 1 USDC to the router"
// while its Tx is USDC.approve(stranger, 1,000,000): the digest covers a
// call the checks never read. Today Wallet.exactCall re-decodes the call
// before signing and catches it; the engine, the trust root, must not rely
// on that.
func TestPermit2TxIsChecked(t *testing.T) {
	eng, _ := newTestEngine(t, mustPolicy(t), wednesday)
	bogus := func() *Call {
		d, _ := abiCall(selApprove, stranger, units("1000000", 6))
		return &Call{To: usdcAddr, Value: new(big.Int), Data: d}
	}
	lying := permit2USDC(router, "1")
	lying.Tx = bogus()

	swap := usdcSwap(wednesday, "100", "100", false)
	swap.Approval.Method = MethodPermit2
	swap.Approval.Expiration = uint64(wednesday.Unix()) + 600
	swap.Approval.Tx = bogus()

	inSafe := lying
	inSafe.From = safeAddr
	tests := []struct {
		name string
		in   Intent
	}{
		{"a Permit2 approval whose Tx is an ERC-20 approve of a million to a stranger", lying},
		{"a swap whose exact Permit2 approval carries that Tx", swap},
		{"a Safe call whose inner Permit2 approval carries that Tx", safeBatch(OpCall, usdcAddr, inSafe)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireDenied(t, eng, tt.in, "the transaction does not do what the approval says")
		})
	}
}
