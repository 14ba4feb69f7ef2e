package telegram_test

import (
	"bytes"
	"image/png"
	"math/big"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/bots/telegram"
	"github.com/mandatehq/mandate/bots/telegram/tgtest"
)

// waitPhoto waits for a photo in chat after mark whose caption has want,
// and checks that it is a PNG.
func waitPhoto(t *testing.T, srv *tgtest.Server, chat int64, mark int, want ...string) tgtest.Message {
	t.Helper()
	var found tgtest.Message
	srv.WaitFor(t, "a photo with "+strings.Join(want, ", "), func() bool {
		sent := srv.Sent(chat)
		for i := len(sent) - 1; i >= mark; i-- {
			if sent[i].Kind == "photo" && containsAll(sent[i].Text, want) {
				found = sent[i]
				return true
			}
		}
		return false
	})
	img, err := png.Decode(bytes.NewReader(found.Photo))
	if err != nil {
		t.Fatalf("the photo (%d bytes) is not a PNG: %v", len(found.Photo), err)
	}
	if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
		t.Fatalf("the chart is %dx%d, too small to read", b.Dx(), b.Dy())
	}
	return found
}

func TestCharts(t *testing.T) {
	rt := devnet(t, nil)
	srv := tgtest.New(t)
	runBot(t, rt, srv, telegram.Config{})

	t.Run("price chart of the samples read since start", func(t *testing.T) {
		mark := write(srv, ownerDM, owner, "/price ETH")
		waitText(t, srv, ownerDM.ID, mark, "ETH", "USD")
		mark = write(srv, group, stranger, "/chart eth")
		// The /price before and this /chart: two samples.
		waitPhoto(t, srv, group.ID, mark, "ETH: $", "the 2 price(s) this bot has read since it started")
	})

	t.Run("portfolio pie", func(t *testing.T) {
		mark := write(srv, ownerDM, owner, "/portfolio")
		waitPhoto(t, srv, ownerDM.ID, mark, "Portfolio: $")
	})

	t.Run("usage and unknown token", func(t *testing.T) {
		mark := write(srv, ownerDM, owner, "/chart")
		waitText(t, srv, ownerDM.ID, mark, "Usage: /chart TOKEN")
		mark = write(srv, ownerDM, owner, "/chart NOSUCHTOKEN")
		m := waitText(t, srv, ownerDM.ID, mark, "NOSUCHTOKEN")
		if m.Kind == "photo" {
			t.Fatalf("a chart for a token with no price: %q", m.Text)
		}
	})
}

// An edit that raises the amount of a transfer waiting for approval does
// not change what is sent: the original request stands, and the edit is
// answered, not run.
func TestEditedMessageIsNotActedOn(t *testing.T) {
	ap := telegram.NewApprover()
	rt := devnet(t, ap)
	srv := tgtest.New(t)
	runBot(t, rt, srv, telegram.Config{Approver: ap})
	to := common.HexToAddress("0x00000000000000000000000000000000000ed171")

	mark := len(srv.Sent(ownerDM.ID))
	id := srv.SendText(ownerDM, owner, "/send 2 USDC "+to.Hex())
	q := waitText(t, srv, ownerDM.ID, mark, "The policy asks an owner to confirm", "Send 2 USDC to")
	srv.EditText(ownerDM, owner, id, "/send 500 USDC "+to.Hex())
	waitAnswer(t, srv, press(srv, ownerDM, owner, q.ID, q.Markup.InlineKeyboard[0][0].CallbackData), "Approved")
	waitText(t, srv, ownerDM.ID, mark, "Policy: approve", "mined")
	waitText(t, srv, ownerDM.ID, mark, "Edits are not acted on", "original message stands")
	if bal := usdcOf(t, rt, to); bal.Cmp(big.NewInt(2_000_000)) != 0 {
		t.Fatalf("the recipient holds %s base units of USDC, want 2000000 (the original amount)", bal)
	}
	for _, m := range srv.Sent(ownerDM.ID)[mark:] {
		if strings.Contains(m.Text, "500 USDC") {
			t.Fatalf("the bot acted on the edited amount: %q", m.Text)
		}
	}
}

// A burst from one user gets the allowed answers, one "slow down" and
// nothing more; another member of the same chat is still answered.
func TestFloodFromOneUser(t *testing.T) {
	rt := devnet(t, nil)
	srv := tgtest.New(t, tgtest.WithLimits(tgtest.NoLimits()))
	const rate = 3
	runBot(t, rt, srv, telegram.Config{UserRate: rate})

	for range 10 {
		srv.SendText(group, stranger, "/help")
	}
	// The chat's messages are handled in order: once the owner's answer is
	// there, every message of the burst has been dealt with.
	mark := write(srv, group, owner, "/address")
	waitText(t, srv, group.ID, mark, rt.Wallet().Address().Hex())

	var helps, slow int
	for _, m := range srv.Sent(group.ID) {
		switch {
		case strings.Contains(m.Text, "Commands:"):
			helps++
		case strings.Contains(m.Text, "Slow down"):
			slow++
		}
	}
	if helps != rate || slow != 1 {
		t.Fatalf("a burst of 10 with a rate of %d got %d answers and %d slow-downs, want %d and 1:%s", rate, helps, slow, rate, texts(srv.Sent(group.ID)))
	}
}
