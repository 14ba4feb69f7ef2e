package devnet_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/chains/solana/devnet"
	"github.com/mandatehq/mandate/chains/solana/devnet/soltest"
)

func TestEnsureWithoutNpm(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := devnet.Ensure(context.Background(), t.TempDir(), nil)
	if err == nil || !strings.Contains(err.Error(), "npm is not installed") {
		t.Fatalf("Ensure without npm = %v; want a clear npm error", err)
	}
}

func TestRuntimeEndsWithContext(t *testing.T) {
	soltest.New(t, devnet.WithAccounts(0)) // skips without node; installs on first use
	ctx, cancel := context.WithCancel(context.Background())
	d, err := devnet.Start(ctx, devnet.WithAccounts(0))
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-d.Done():
	case <-time.After(time.Minute):
		t.Fatal("the runtime's process was still running a minute after its context ended")
	}
	if _, err := d.Client().GetHealth(context.Background()); err == nil {
		t.Fatal("the runtime still answers after its context ended")
	}
}
