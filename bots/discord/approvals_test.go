package discord_test

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/mandatehq/mandate/bots/discord"
	"github.com/mandatehq/mandate/bots/discord/dctest"
	"github.com/mandatehq/mandate/policies"
)

// The questions live in the database, not in the process that asked: after that process
// stops, the processes that run the application next answer a press by the question's
// rules (only an owner; nothing after it expired), and a double press that reaches two
// processes at once acts once.
func TestApprovalsOutliveTheProcess(t *testing.T) {
	ap := discord.NewApprover()
	rt := devnet(t, ap)
	srv := dctest.New(t)
	first := runBot(t, rt, srv, discord.Config{Approver: ap})
	dm := srv.DM(owner)
	transfer := func(usdc int64) policies.Intent {
		return policies.Transfer{Header: policies.Header{Chain: "1337", From: rt.Wallet().Address().Hex()},
			To: "0x00000000000000000000000000000000000d0d02", Amount: big.NewInt(usdc * 1_000_000),
			Token: policies.Token{Symbol: "USDC", Address: devnetUSDC.Hex(), Decimals: 6}}
	}

	// One question waits for an owner; the other's asker gives up, which expires it.
	approved := make(chan bool, 1)
	go func() {
		ok, err := ap.Approve(context.Background(), transfer(7), []string{"a standing order fired"})
		if err != nil {
			t.Errorf("Approve: %v", err)
		}
		approved <- ok
	}()
	open := waitText(t, srv, dm.ID, 0, "Send 7 USDC to")
	ctx, giveUp := context.WithCancel(context.Background())
	gaveUp := make(chan error, 1)
	go func() {
		_, err := ap.Approve(ctx, transfer(8), nil)
		gaveUp <- err
	}()
	closed := waitText(t, srv, dm.ID, 0, "Send 8 USDC to")
	// Given up once the bot has recorded where it asked, so that it can close it there.
	id := strings.Split(closed.Buttons[0].CustomID, ":")[1]
	srv.WaitFor(t, "the question recorded as shown", func() bool {
		q, ok, err := rt.Store().BotState().Approval(context.Background(), id)
		return err == nil && ok && q.Shown != "[]"
	})
	giveUp()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Fatalf("Approve after its asker gave up: %v, want context.Canceled", err)
	}
	waitText(t, srv, dm.ID, 0, "Send 8 USDC to", "Expired: nothing was done")

	// The process that asked stops; two others run the same application.
	first.stop()
	select {
	case err := <-first.errc:
		first.errc <- err // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("the first bot did not stop")
	}
	srv.WaitFor(t, "the first bot off the gateway", func() bool { return srv.Connected() == 0 })
	runBot(t, rt, srv, discord.Config{})
	runBot(t, rt, srv, discord.Config{})
	srv.WaitFor(t, "two bots on the gateway", func() bool { return srv.Connected() == 2 })

	approve := open.Buttons[0].CustomID
	if m := waitAnswer(t, srv, srv.PressButton(dm, stranger, open.ID, approve)); !strings.Contains(m.Text(), "Only an owner") {
		t.Fatalf("a stranger's press after the restart was answered %q, want a refusal", m.Text())
	}
	if m := waitAnswer(t, srv, srv.PressButton(dm, owner, closed.ID, closed.Buttons[0].CustomID)); !strings.Contains(m.Text(), "expired; nothing was done") {
		t.Fatalf("a press on the expired question after the restart was answered %q, want that it expired", m.Text())
	}
	// A double press; each press reaches both processes.
	presses := []string{srv.PressButton(dm, owner, open.ID, approve), srv.PressButton(dm, owner, open.ID, approve)}
	select {
	case ok := <-approved:
		if !ok {
			t.Fatal("the owner approved on another process, Approve returned false")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Approve did not return after the owner's press on another process")
	}
	waitText(t, srv, dm.ID, 0, "Send 7 USDC to", "Approved by @owner")
	already := 0
	for _, id := range presses {
		if strings.Contains(waitAnswer(t, srv, id).Text(), "Already approved") {
			already++
		}
	}
	settlements := 0
	for _, m := range srv.Sent(dm.ID) {
		if strings.Contains(m.Text(), "Approved by @owner") {
			settlements++
			if len(m.Buttons) != 0 {
				t.Fatalf("the approved question still has buttons: %+v", m.Buttons)
			}
		}
	}
	if settlements != 1 || already == 0 {
		t.Fatalf("the double press settled the question %d times (%d answered Already approved); want once:%s", settlements, already, texts(srv.Sent(dm.ID)))
	}
}
