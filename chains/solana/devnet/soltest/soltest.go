// Package soltest gives tests a Solana devnet (chains/solana/devnet).
//
// The runtime is a node process; the first use on a machine installs the
// pinned litesvm with npm. Without node, tests skip with a message saying
// so, except under CI=true, where they fail: CI must run them.
package soltest

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/mandatehq/mandate/chains/solana/devnet"
)

var (
	sharedOnce sync.Once
	shared     *devnet.Devnet
	sharedErr  error
)

func requireNode(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("soltest: node is not installed (not in PATH); the Solana devnet needs Node.js and CI must provide it")
		}
		t.Skip("soltest: node is not installed (not in PATH); install Node.js to run the Solana devnet tests")
	}
}

// New starts a devnet for this test alone and closes it when the test ends.
func New(t testing.TB, opts ...devnet.Option) *devnet.Devnet {
	t.Helper()
	requireNode(t)
	d, err := devnet.Start(context.Background(), opts...)
	if err != nil {
		t.Fatalf("soltest: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Shared returns the devnet shared by all tests of the test binary, started
// on first use and never closed (it exits with the process). Other tests use
// it concurrently: take a fresh account with Account rather than asserting on
// the balances of Accounts().
func Shared(t testing.TB) *devnet.Devnet {
	t.Helper()
	requireNode(t)
	sharedOnce.Do(func() {
		shared, sharedErr = devnet.Start(context.Background())
	})
	if sharedErr != nil {
		t.Fatalf("soltest: shared devnet: %v", sharedErr)
	}
	return shared
}

// Account returns a fresh funded account on d that no other test uses.
func Account(t testing.TB, d *devnet.Devnet) devnet.Account {
	t.Helper()
	a, err := d.NewAccount(context.Background())
	if err != nil {
		t.Fatalf("soltest: %v", err)
	}
	return a
}
