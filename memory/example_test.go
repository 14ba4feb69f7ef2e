package memory_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/mandatehq/mandate/memory"
	"github.com/mandatehq/mandate/policies"
)

// The ledger refuses a commit that would take a bucket over its limit, and
// the refusal says by how much.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "mandate-example")
	defer os.RemoveAll(dir)

	store, err := memory.Open(ctx, "sqlite:"+filepath.Join(dir, "mandate.db")) // or a postgres:// URL
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	ledger := store.Ledger() // what policies.NewEngine takes

	now := time.Date(2025, 3, 14, 12, 0, 0, 0, time.UTC)
	limit := policies.Limit{
		Bucket: "1:USDC",
		Max:    big.NewInt(5_000_000_000), // 5000 USDC in base units
		Since:  now.Add(-24 * time.Hour),
		Rule:   "limits.daily.USDC",
	}
	charge := func(id string, usdc int64) error {
		return ledger.Commit(ctx, policies.Entry{
			ApprovalID: id,
			Wallet:     "0x1111111111111111111111111111111111111111",
			Decision:   policies.DecisionApprove,
			Spends:     []policies.Spend{{Bucket: "1:USDC", Amount: big.NewInt(usdc * 1_000_000)}},
			At:         now,
		}, []policies.Limit{limit})
	}

	fmt.Println(charge("a1", 3000))
	err = charge("a2", 2500)
	var le *policies.LimitError
	fmt.Println(errors.As(err, &le), err)
	spent, _ := ledger.Spent(ctx, "1:USDC", limit.Since)
	fmt.Println(spent)
	// Output:
	// <nil>
	// true limit limits.daily.USDC: 3000000000 already spent + 2500000000 exceeds 5000000000
	// 3000000000
}
