package telegram_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/bots/telegram"
	"github.com/mandatehq/mandate/bots/telegram/tgtest"
)

// The devnet's USDC, the same on every run.
var devnetUSDC = common.HexToAddress("0xDb4290A910C4c6d156a6349F0f8D0C95b63Ba9f4")

// askPolicy lets the wallet send USDC and wants an owner to confirm
// anything worth more than one dollar.
const askPolicy = `version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "0xDb4290A910C4c6d156a6349F0f8D0C95b63Ba9f4", decimals: 6}
limits:
  per_tx: {USDC: "1000"}
ask: {above_usd: 1}
`

var (
	owner    = tgtest.User{ID: 1001, Username: "owner", FirstName: "Olga"}
	stranger = tgtest.User{ID: 2002, Username: "stranger", FirstName: "Sam"}
	ownerDM  = tgtest.Chat{ID: owner.ID, Type: "private"}
	group    = tgtest.Chat{ID: -5005, Type: "group", Title: "traders"}
)

// devnet opens a runtime on the in-process devnet under askPolicy, with
// ap as its approver.
func devnet(t *testing.T, ap *telegram.Approver) *mandate.Runtime {
	t.Helper()
	cfg := mandate.Config{Devnet: true, PolicySource: []byte(askPolicy), DB: "sqlite:" + filepath.Join(t.TempDir(), "mandate.db")}
	if ap != nil {
		cfg.Approver = ap
	}
	rt, err := mandate.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open the devnet runtime: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// running is a bot polling srv until the test ends.
type running struct {
	srv  *tgtest.Server
	errc chan error
	stop context.CancelFunc
}

func runBot(t *testing.T, rt *mandate.Runtime, srv *tgtest.Server, cfg telegram.Config) *running {
	t.Helper()
	cfg.Token, cfg.APIURL = srv.Token(), srv.URL()
	if cfg.Owners == nil {
		cfg.Owners = []int64{owner.ID}
	}
	b, err := telegram.New(rt, cfg)
	if err != nil {
		t.Fatalf("telegram.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{srv: srv, errc: make(chan error, 1), stop: cancel}
	go func() { r.errc <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.errc:
			if err != nil && !errors.Is(err, telegram.ErrUnauthorized) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
	})
	return r
}

// write sends text as from in chat and returns how many things the bot
// had done in chat before, for waitText to look only at what follows.
func write(srv *tgtest.Server, chat tgtest.Chat, from tgtest.User, text string) int {
	mark := len(srv.Sent(chat.ID))
	srv.SendText(chat, from, text)
	return mark
}

// waitText waits until the bot has shown in chat, after its first mark
// actions, a message (sent or edited) containing every one of want, and
// returns it.
func waitText(t *testing.T, srv *tgtest.Server, chat int64, mark int, want ...string) tgtest.Message {
	t.Helper()
	var found tgtest.Message
	srv.WaitFor(t, fmt.Sprintf("a message in chat %d with %q (the bot sent %s)", chat, want, texts(srv.Sent(chat))), func() bool {
		sent := srv.Sent(chat)
		for i := len(sent) - 1; i >= mark; i-- {
			if containsAll(sent[i].Text, want) {
				found = sent[i]
				return true
			}
		}
		return false
	})
	return found
}

// press presses a button and returns how many button answers there were
// before, for waitAnswer.
func press(srv *tgtest.Server, chat tgtest.Chat, from tgtest.User, msg int64, data string) int {
	mark := len(srv.Answers())
	srv.PressButton(chat, from, msg, data)
	return mark
}

// waitAnswer waits for a button answer, after the first mark, containing
// want.
func waitAnswer(t *testing.T, srv *tgtest.Server, mark int, want string) {
	t.Helper()
	srv.WaitFor(t, "a button answer with "+want, func() bool {
		for _, a := range srv.Answers()[mark:] {
			if strings.Contains(a.Text, want) {
				return true
			}
		}
		return false
	})
}

func containsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

func texts(ms []tgtest.Message) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "\n  %s #%d: %q", m.Kind, m.ID, m.Text)
	}
	return b.String()
}

func usdcOf(t *testing.T, rt *mandate.Runtime, who common.Address) *big.Int {
	t.Helper()
	bal, err := rt.Client().TokenBalance(context.Background(), devnetUSDC, who)
	if err != nil {
		t.Fatalf("USDC balance of %s: %v", who.Hex(), err)
	}
	return bal
}

func TestConversations(t *testing.T) {
	ap := telegram.NewApprover()
	rt := devnet(t, ap)
	srv := tgtest.New(t)
	runBot(t, rt, srv, telegram.Config{Approver: ap})
	t.Cleanup(func() {
		t.Logf("DM:%s\nGROUP:%s\nANSWERS: %+v\nSTATS: %+v", texts(srv.Sent(ownerDM.ID)), texts(srv.Sent(group.ID)), srv.Answers(), srv.Stats())
	})

	t.Run("balance", func(t *testing.T) {
		mark := write(srv, ownerDM, owner, "/balance")
		waitText(t, srv, ownerDM.ID, mark, "USDC", "ETH")
	})

	t.Run("policy, and a sticker where text was expected", func(t *testing.T) {
		mark := write(srv, ownerDM, owner, "/policy")
		waitText(t, srv, ownerDM.ID, mark, "The policy in force", "USDC")
		mark = len(srv.Sent(ownerDM.ID))
		srv.SendSticker(ownerDM, owner, "🙂")
		waitText(t, srv, ownerDM.ID, mark, "I read text only")
	})

	t.Run("stranger reads but cannot move value", func(t *testing.T) {
		to := common.HexToAddress("0x00000000000000000000000000000000000a11ce")
		mark := write(srv, group, stranger, "/price ETH")
		waitText(t, srv, group.ID, mark, "ETH", "USD")
		mark = write(srv, group, stranger, "/quote 1 ETH USDC")
		waitText(t, srv, group.ID, mark, "1 ETH", "USDC")

		for _, cmd := range []string{"/send 0.5 USDC " + to.Hex(), "/swap 0.01 ETH USDC", "/cancel 1"} {
			mark = write(srv, group, stranger, cmd)
			waitText(t, srv, group.ID, mark, "Only an owner can move value")
		}

		mark = write(srv, group, stranger, "@mandate_test_bot send 0.5 USDC to "+to.Hex())
		m := waitText(t, srv, group.ID, mark, "not available", "Only an owner can move value")
		if strings.Contains(m.Text, "Transaction") {
			t.Fatalf("a stranger's request reached a transaction: %q", m.Text)
		}
		// Not addressed to the bot: no answer, so the next answer the
		// group gets is to the command after it.
		mark = write(srv, group, stranger, "send 0.5 USDC to "+to.Hex())
		srv.SendText(group, stranger, "/address")
		waitText(t, srv, group.ID, mark, rt.Wallet().Address().Hex())
		if got := srv.Sent(group.ID)[mark:]; len(got) != 1 {
			t.Fatalf("after an unaddressed message and /address the bot did %d things, want 1:%s", len(got), texts(got))
		}
		if bal := usdcOf(t, rt, to); bal.Sign() != 0 {
			t.Fatalf("the stranger's recipient holds %s base units of USDC, want none", bal)
		}
	})

	t.Run("owner's transfer is sent", func(t *testing.T) {
		to := common.HexToAddress("0x00000000000000000000000000000000000b0b00")
		mark := write(srv, ownerDM, owner, "/send 0.5 USDC "+to.Hex())
		waitText(t, srv, ownerDM.ID, mark, "Policy: approve", "mined")
		if bal := usdcOf(t, rt, to); bal.Cmp(big.NewInt(500_000)) != 0 {
			t.Fatalf("the recipient holds %s base units of USDC, want 500000", bal)
		}
	})

	t.Run("owner's free text goes through the agent", func(t *testing.T) {
		to := common.HexToAddress("0x00000000000000000000000000000000000b0b01")
		mark := write(srv, ownerDM, owner, "send 0.25 USDC to "+to.Hex())
		waitText(t, srv, ownerDM.ID, mark, "Policy on wallet_transfer: approve", "Transaction 0x", "mined")
		if bal := usdcOf(t, rt, to); bal.Cmp(big.NewInt(250_000)) != 0 {
			t.Fatalf("the recipient holds %s base units of USDC, want 250000", bal)
		}
	})

	t.Run("a swap the policy does not allow", func(t *testing.T) {
		mark := write(srv, ownerDM, owner, "/swap 0.01 ETH USDC")
		waitText(t, srv, ownerDM.ID, mark, "Denied by the policy:\n- swaps are denied")
	})

	t.Run("ask approved by the owner's button only", func(t *testing.T) {
		to := common.HexToAddress("0x00000000000000000000000000000000000ca401")
		mark := write(srv, group, owner, "/send 5 USDC "+to.Hex())
		q := waitText(t, srv, group.ID, mark, "The policy asks an owner to confirm", "Send 5 USDC to")
		if q.Markup == nil || len(q.Markup.InlineKeyboard) == 0 || len(q.Markup.InlineKeyboard[0]) != 2 {
			t.Fatalf("the question has no Approve / Reject keyboard: %+v", q.Markup)
		}
		approve := q.Markup.InlineKeyboard[0][0]
		if approve.Text != "Approve" {
			t.Fatalf("the first button is %q, want Approve", approve.Text)
		}
		waitAnswer(t, srv, press(srv, group, stranger, q.ID, approve.CallbackData), "Only an owner")
		if bal := usdcOf(t, rt, to); bal.Sign() != 0 {
			t.Fatalf("a stranger's press sent %s base units", bal)
		}
		waitAnswer(t, srv, press(srv, group, owner, q.ID, approve.CallbackData), "Approved")
		waitText(t, srv, group.ID, mark, "Approved by @owner")
		waitText(t, srv, group.ID, mark, "Policy: approve", "mined")
		waitAnswer(t, srv, press(srv, group, owner, q.ID, approve.CallbackData), "Already approved")
		if bal := usdcOf(t, rt, to); bal.Cmp(big.NewInt(5_000_000)) != 0 {
			t.Fatalf("the recipient holds %s base units of USDC, want 5000000 (sent once)", bal)
		}
	})

	t.Run("orders and cancel", func(t *testing.T) {
		mark := write(srv, ownerDM, owner, "/orders")
		waitText(t, srv, ownerDM.ID, mark, "No standing orders")
		// The tool's own answer, not a complaint about its arguments.
		mark = write(srv, ownerDM, owner, "/cancel 999")
		waitText(t, srv, ownerDM.ID, mark, "no order #999")
	})

	t.Run("ask rejected", func(t *testing.T) {
		to := common.HexToAddress("0x00000000000000000000000000000000000ca402")
		mark := write(srv, ownerDM, owner, "/send 6 USDC "+to.Hex())
		q := waitText(t, srv, ownerDM.ID, mark, "The policy asks an owner to confirm", "Send 6 USDC to")
		waitAnswer(t, srv, press(srv, ownerDM, owner, q.ID, q.Markup.InlineKeyboard[0][1].CallbackData), "Rejected")
		waitText(t, srv, ownerDM.ID, mark, "Rejected by @owner")
		waitText(t, srv, ownerDM.ID, mark, "Not done: an owner did not approve it")
		if bal := usdcOf(t, rt, to); bal.Sign() != 0 {
			t.Fatalf("a rejected transfer sent %s base units", bal)
		}
	})
}

func TestApprovalExpires(t *testing.T) {
	rt := devnet(t, nil)
	srv := tgtest.New(t)
	runBot(t, rt, srv, telegram.Config{ApprovalTimeout: time.Second})
	to := common.HexToAddress("0x00000000000000000000000000000000000e0e01")
	mark := write(srv, ownerDM, owner, "/send 5 USDC "+to.Hex())
	q := waitText(t, srv, ownerDM.ID, mark, "The policy asks an owner to confirm")
	waitText(t, srv, ownerDM.ID, mark, "Expired: nothing was done")
	waitText(t, srv, ownerDM.ID, mark, "Not done: an owner did not approve it")
	waitAnswer(t, srv, press(srv, ownerDM, owner, q.ID, q.Markup.InlineKeyboard[0][0].CallbackData), "expired")
	if bal := usdcOf(t, rt, to); bal.Sign() != 0 {
		t.Fatalf("an expired approval sent %s base units", bal)
	}
}

func TestRevokedToken(t *testing.T) {
	rt := devnet(t, nil)

	t.Run("while running", func(t *testing.T) {
		srv := tgtest.New(t)
		r := runBot(t, rt, srv, telegram.Config{})
		mark := write(srv, ownerDM, owner, "/address")
		waitText(t, srv, ownerDM.ID, mark, rt.Wallet().Address().Hex())
		srv.Revoke()
		select {
		case err := <-r.errc:
			if !errors.Is(err, telegram.ErrUnauthorized) {
				t.Fatalf("Run after a revoked token: %v, want ErrUnauthorized", err)
			}
			r.errc <- err // for the cleanup
		case <-time.After(60 * time.Second):
			t.Fatal("Run kept going after the token was revoked")
		}
	})

	t.Run("at start", func(t *testing.T) {
		srv := tgtest.New(t)
		srv.Revoke()
		b, err := telegram.New(rt, telegram.Config{Token: srv.Token(), APIURL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Run(context.Background()); !errors.Is(err, telegram.ErrUnauthorized) {
			t.Fatalf("Run with a revoked token: %v, want ErrUnauthorized", err)
		}
	})
}

func TestAllowlist(t *testing.T) {
	rt := devnet(t, nil)
	srv := tgtest.New(t)
	friend := tgtest.User{ID: 3003, Username: "friend"}
	runBot(t, rt, srv, telegram.Config{AllowedUsers: []int64{friend.ID}})
	outsider := tgtest.Chat{ID: stranger.ID, Type: "private"}
	waitText(t, srv, outsider.ID, write(srv, outsider, stranger, "/address"), "not open to you")
	waitText(t, srv, friend.ID, write(srv, tgtest.Chat{ID: friend.ID, Type: "private"}, friend, "/address"), rt.Wallet().Address().Hex())
	waitText(t, srv, ownerDM.ID, write(srv, ownerDM, owner, "/address"), rt.Wallet().Address().Hex())
	if got := srv.Sent(outsider.ID); len(got) != 1 {
		t.Fatalf("the outsider got %d messages, want only the refusal:%s", len(got), texts(got))
	}
}
