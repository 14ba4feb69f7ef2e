package cosigner_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/cosigner"
)

// Approvals are spends inside Safe batches too: a batch's approvals and
// transfers add up against the per-transaction limit, approvals split into
// many small ones add up, and approvals across transactions use the daily
// limit like transfers do.
func TestApprovalsAreSpends(t *testing.T) {
	friend2 := common.HexToAddress("0x3000000000000000000000000000000000000003")
	var split []safe.Inner
	for range 3 {
		split = append(split, call(usdc, 0, approve(friend2, big.NewInt(400e6))))
	}
	for name, tc := range map[string]struct {
		tx   safe.ServiceTx
		want string
	}{
		"approve then transfer to one spender": {
			stx(callOnly, new(big.Int), batch(call(usdc, 0, approve(friend, big.NewInt(500e6))), call(usdc, 0, transfer(friend, 600e6))), 1),
			"limits.per_tx"},
		"approval split in three":      {stx(callOnly, new(big.Int), batch(split...), 1), "limits.per_tx"},
		"approval to the token itself": {stx(usdc, new(big.Int), approve(usdc, big.NewInt(1)), 0), "token"},
		"approval to the Safe itself":  {stx(usdc, new(big.Int), approve(safeAddr, big.NewInt(1)), 0), "itself"},
	} {
		t.Run(name, func(t *testing.T) {
			d, err := reviewer(t, false).Review(context.Background(), safeAddr, tc.tx)
			if err != nil {
				t.Fatal(err)
			}
			if d.Decision != cosigner.Reject || !strings.Contains(strings.Join(d.Reasons, "\n"), tc.want) {
				t.Fatalf("%s %q, want a rejection naming %q", d.Decision, d.Reasons, tc.want)
			}
		})
	}

	t.Run("daily limit across transactions", func(t *testing.T) {
		// Only a reviewer that signs charges the ledger; the window lets it
		// sign the queue of nonces 7 to 19 a proposer lines up.
		r := reviewer(t, true, cosigner.WithNonceWindow(16))
		at := func(nonce int, data []byte) safe.ServiceTx {
			return stx(usdc, new(big.Int), data, 0, func(s *safe.ServiceTx) { s.Nonce = json.RawMessage(fmt.Sprint(nonce)) })
		}
		// daily USDC is 5,000: ten approvals of 500 use it up.
		for i := range 10 {
			d, err := r.Review(context.Background(), safeAddr, at(7+i, approve(friend, big.NewInt(500e6))))
			if err != nil || d.Decision != cosigner.Approve {
				t.Fatalf("approval %d: %v %v %v", i+1, d.Decision, d.Reasons, err)
			}
		}
		d, err := r.Review(context.Background(), safeAddr, at(17, approve(friend, big.NewInt(1))))
		if err != nil || d.Decision != cosigner.Reject || !strings.Contains(strings.Join(d.Reasons, "\n"), "limits.daily") {
			t.Fatalf("approval past the day: %v %q %v", d.Decision, d.Reasons, err)
		}
		d, err = r.Review(context.Background(), safeAddr, at(18, transfer(friend, 1)))
		if err != nil || d.Decision != cosigner.Reject {
			t.Fatalf("transfer past the day: %v %q %v", d.Decision, d.Reasons, err)
		}
		// A revoke grants nothing and still passes.
		d, err = r.Review(context.Background(), safeAddr, at(19, approve(friend, new(big.Int))))
		if err != nil || d.Decision != cosigner.Approve {
			t.Fatalf("revoke: %v %q %v", d.Decision, d.Reasons, err)
		}
	})
}
