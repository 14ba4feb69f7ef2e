package telegram_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/bots/telegram"
	"github.com/mandatehq/mandate/bots/telegram/tgtest"
	soldevnet "github.com/mandatehq/mandate/chains/solana/devnet"
)

// The bot on a Solana wallet: the same commands call the Solana tools, a
// stranger still cannot move value, and the policy's limits hold.
func TestSolanaWallet(t *testing.T) {
	ap := telegram.NewApprover()
	rt, err := mandate.Open(context.Background(), mandate.Config{SolanaDevnet: true, Approver: ap,
		DB: "sqlite:" + filepath.Join(t.TempDir(), "mandate.db")})
	if err != nil {
		t.Fatalf("open the Solana devnet runtime: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	srv := tgtest.New(t)
	runBot(t, rt, srv, telegram.Config{Approver: ap})
	friend := soldevnet.Key("account/1").PublicKey().String()

	mark := write(srv, ownerDM, owner, "/balance")
	waitText(t, srv, ownerDM.ID, mark, "100 SOL", "USDC")
	mark = write(srv, ownerDM, owner, "/address")
	waitText(t, srv, ownerDM.ID, mark, rt.SolanaWallet().Address().String())
	mark = write(srv, ownerDM, owner, "/send 2 USDC "+friend)
	waitText(t, srv, ownerDM.ID, mark, "Sent 2 USDC")
	mark = write(srv, ownerDM, owner, "/send 50 SOL "+friend)
	waitText(t, srv, ownerDM.ID, mark, "limits.per_tx.SOL")
	mark = write(srv, group, stranger, "/send 1 SOL "+friend)
	waitText(t, srv, group.ID, mark, "Only an owner can move value")
}
