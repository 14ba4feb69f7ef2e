package discord_test

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
	"github.com/tmc/langchaingo/llms"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/bots/discord"
	"github.com/mandatehq/mandate/bots/discord/dctest"
	"github.com/mandatehq/mandate/policies"
)

// The devnet's USDC, the same on every run.
var devnetUSDC = common.HexToAddress("0xDb4290A910C4c6d156a6349F0f8D0C95b63Ba9f4")

// askPolicy lets the wallet send USDC and swap ETH, and wants an owner to confirm anything
// worth more than one dollar.
const askPolicy = `version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "0xDb4290A910C4c6d156a6349F0f8D0C95b63Ba9f4", decimals: 6}
limits:
  per_tx: {ETH: "1", USDC: "1000"}
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800}
ask: {above_usd: 1}
`

var (
	owner    = dctest.User{ID: "3000000000000000001", Username: "owner"}
	stranger = dctest.User{ID: "3000000000000000002", Username: "stranger_*_[x]"}
	guild    = "4000000000000000001"
	channel  = dctest.Channel{ID: "5000000000000000001", GuildID: guild}
)

// devnet opens a runtime on the in-process devnet under askPolicy, with ap as its
// approver.
func devnet(t *testing.T, ap *discord.Approver) *mandate.Runtime {
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

// running is a bot connected to srv until the test ends.
type running struct {
	errc chan error
	stop context.CancelFunc
}

func runBot(t *testing.T, rt *mandate.Runtime, srv *dctest.Server, cfg discord.Config) *running {
	t.Helper()
	cfg.Token, cfg.APIURL = srv.Token(), srv.URL()
	if cfg.Owners == nil {
		cfg.Owners = []string{owner.ID}
	}
	b, err := discord.New(rt, cfg)
	if err != nil {
		t.Fatalf("discord.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{errc: make(chan error, 1), stop: cancel}
	go func() { r.errc <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.errc:
			if err != nil && !errors.Is(err, discord.ErrUnauthorized) {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
	})
	srv.WaitFor(t, "the bot on the gateway", func() bool { return srv.Connected() > 0 })
	return r
}

// waitText waits until the bot has shown in ch, after its first mark actions, a message
// containing every one of want, and returns it.
func waitText(t *testing.T, srv *dctest.Server, ch string, mark int, want ...string) dctest.Message {
	t.Helper()
	var found dctest.Message
	srv.WaitFor(t, fmt.Sprintf("a message in channel %s with %q (the bot sent %s)", ch, want, texts(srv.Sent(ch))), func() bool {
		sent := srv.Sent(ch)
		for i := len(sent) - 1; i >= mark; i-- {
			if containsAll(sent[i].Text(), want) {
				found = sent[i]
				return true
			}
		}
		return false
	})
	return found
}

// run runs a slash command and returns the mark for waitText.
func run(srv *dctest.Server, ch dctest.Channel, from dctest.User, name string, opts map[string]string) int {
	mark := len(srv.Sent(ch.ID))
	srv.RunCommand(ch, from, name, opts)
	return mark
}

func write(srv *dctest.Server, ch dctest.Channel, from dctest.User, text string) int {
	mark := len(srv.Sent(ch.ID))
	srv.SendText(ch, from, text)
	return mark
}

func containsAll(s string, want []string) bool {
	for _, w := range want {
		if !strings.Contains(s, w) {
			return false
		}
	}
	return true
}

func texts(ms []dctest.Message) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "\n  %s #%s: %q", m.Kind, m.ID, m.Text())
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

// noPings fails the test if any message the bot sent in ch could ping someone.
func noPings(t *testing.T, srv *dctest.Server, ch string) {
	t.Helper()
	for _, m := range srv.Sent(ch) {
		if m.Kind != "defer" && m.Kind != "update" && m.Pings() {
			t.Errorf("the bot's %s #%s allows mentions (%+v): %q", m.Kind, m.ID, m.AllowedMentions, m.Text())
		}
	}
}

func TestConversations(t *testing.T) {
	ap := discord.NewApprover()
	rt := devnet(t, ap)
	srv := dctest.New(t)
	runBot(t, rt, srv, discord.Config{Approver: ap})
	t.Cleanup(func() {
		noPings(t, srv, channel.ID)
		t.Logf("CHANNEL:%s\nSTATS: %+v", texts(srv.Sent(channel.ID)), srv.Stats())
	})

	t.Run("commands registered", func(t *testing.T) {
		got := strings.Join(srv.Commands(), " ")
		for _, c := range []string{"balance", "address", "price", "quote", "swap", "send", "orders", "policy", "history", "cancel", "chart", "portfolio", "help"} {
			if !strings.Contains(" "+got+" ", " "+c+" ") {
				t.Errorf("/%s is not registered (got %s)", c, got)
			}
		}
	})

	t.Run("balance", func(t *testing.T) {
		m := waitText(t, srv, channel.ID, run(srv, channel, owner, "balance", nil), "USDC", "ETH")
		if m.Kind != "original" || len(m.Embeds) == 0 {
			t.Fatalf("the balance came as a %s with %d embeds, want the command's answer as an embed", m.Kind, len(m.Embeds))
		}
	})

	t.Run("stranger reads but cannot move value", func(t *testing.T) {
		to := common.HexToAddress("0x00000000000000000000000000000000000a11ce")
		waitText(t, srv, channel.ID, run(srv, channel, stranger, "price", map[string]string{"token": "ETH"}), "ETH", "USD")
		mark := run(srv, channel, stranger, "send", map[string]string{"amount": "0.5", "token": "USDC", "to": to.Hex()})
		waitText(t, srv, channel.ID, mark, "Only an owner can move value")
		mark = write(srv, channel, stranger, srv.Mention()+" send 0.5 USDC to "+to.Hex())
		m := waitText(t, srv, channel.ID, mark, "Only an owner can move value")
		if strings.Contains(m.Text(), "Transaction") {
			t.Fatalf("a stranger's request reached a transaction: %q", m.Text())
		}
		if bal := usdcOf(t, rt, to); bal.Sign() != 0 {
			t.Fatalf("the stranger's recipient holds %s base units of USDC, want none", bal)
		}
	})

	t.Run("owner's swap asked, approved once by the owner's button", func(t *testing.T) {
		before := usdcOf(t, rt, rt.Wallet().Address())
		mark := run(srv, channel, owner, "swap", map[string]string{"amount": "0.01", "from": "ETH", "to": "USDC"})
		q := waitText(t, srv, channel.ID, mark, "The policy asks an owner to confirm", "Swap 0.01 ETH")
		if len(q.Buttons) != 2 || q.Buttons[0].Label != "Approve" || q.Buttons[1].Label != "Reject" {
			t.Fatalf("the question's buttons are %+v, want Approve and Reject", q.Buttons)
		}
		approve := q.Buttons[0].CustomID

		id := srv.PressButton(channel, stranger, q.ID, approve)
		refusal := waitAnswer(t, srv, id)
		if !refusal.Ephemeral || !strings.Contains(refusal.Text(), "Only an owner") {
			t.Fatalf("a stranger's press was answered %+v, want an ephemeral refusal", refusal)
		}

		srv.PressButton(channel, owner, q.ID, approve)
		srv.PressButton(channel, owner, q.ID, approve) // a double press
		waitText(t, srv, channel.ID, mark, "Approved by @owner")
		waitText(t, srv, channel.ID, mark, "Policy: approve", "mined")
		srv.WaitFor(t, "the second press answered", func() bool { return countText(srv, channel.ID, "Already approved") == 1 })
		after := usdcOf(t, rt, rt.Wallet().Address())
		if after.Cmp(before) <= 0 {
			t.Fatalf("the wallet's USDC went from %s to %s after an approved swap", before, after)
		}
		if n := countText(srv, channel.ID, "mined"); n != 1 {
			t.Fatalf("the swap was reported %d times, want once:%s", n, texts(srv.Sent(channel.ID)))
		}
	})

	t.Run("ask rejected", func(t *testing.T) {
		to := common.HexToAddress("0x00000000000000000000000000000000000ca402")
		mark := run(srv, channel, owner, "send", map[string]string{"amount": "6", "token": "USDC", "to": to.Hex()})
		q := waitText(t, srv, channel.ID, mark, "The policy asks an owner to confirm", "Send 6 USDC to")
		srv.PressButton(channel, owner, q.ID, q.Buttons[1].CustomID)
		waitText(t, srv, channel.ID, mark, "Rejected by @owner")
		waitText(t, srv, channel.ID, mark, "Not done: an owner did not approve it")
		if bal := usdcOf(t, rt, to); bal.Sign() != 0 {
			t.Fatalf("a rejected transfer sent %s base units", bal)
		}
	})

	t.Run("untrusted names are escaped", func(t *testing.T) {
		hostile := "[x](http://evil.example) @everyone *_"
		m := waitText(t, srv, channel.ID, run(srv, channel, stranger, "price", map[string]string{"token": hostile}), "x](http")
		raw := m.Content
		for _, e := range m.Embeds {
			raw += e.Description
		}
		if strings.Contains(raw, "](http") || strings.Contains(raw, "@everyone") || strings.Contains(raw, " *_") {
			t.Fatalf("the bot's answer holds live markup: %q", raw)
		}
	})
}

// waitAnswer waits for the bot's answer to interaction id.
func waitAnswer(t *testing.T, srv *dctest.Server, id string) dctest.Message {
	t.Helper()
	var m dctest.Message
	srv.WaitFor(t, "an answer to interaction "+id, func() bool {
		var ok bool
		m, ok = srv.Answer(id)
		return ok && m.ID != ""
	})
	return m
}

// answered are the ids of the messages that came to hold s.
func answered(ms []dctest.Message, s string) map[string]bool {
	ids := map[string]bool{}
	for _, m := range ms {
		if strings.Contains(m.Text(), s) {
			ids[m.ID] = true
		}
	}
	return ids
}

func countText(srv *dctest.Server, ch, s string) int {
	n := 0
	for _, m := range srv.Sent(ch) {
		if m.Kind != "edit" && m.Kind != "update" && strings.Contains(m.Text(), s) {
			n++
		}
	}
	return n
}

func TestApprovalExpires(t *testing.T) {
	rt := devnet(t, nil)
	srv := dctest.New(t)
	runBot(t, rt, srv, discord.Config{ApprovalTimeout: time.Second})
	to := common.HexToAddress("0x00000000000000000000000000000000000e0e01")
	dm := srv.DM(owner)
	mark := write(srv, dm, owner, "send 5 USDC to "+to.Hex())
	q := waitText(t, srv, dm.ID, mark, "The policy asks an owner to confirm")
	waitText(t, srv, dm.ID, mark, "Expired: nothing was done")
	waitText(t, srv, dm.ID, mark, "Policy on wallet_transfer: deny")
	if m := waitAnswer(t, srv, srv.PressButton(dm, owner, q.ID, q.Buttons[0].CustomID)); !strings.Contains(m.Text(), "expired") {
		t.Fatalf("a press after expiry was answered %q, want that it expired", m.Text())
	}
	if bal := usdcOf(t, rt, to); bal.Sign() != 0 {
		t.Fatalf("an expired approval sent %s base units", bal)
	}
}

func TestRevokedToken(t *testing.T) {
	rt := devnet(t, nil)

	t.Run("while running", func(t *testing.T) {
		srv := dctest.New(t)
		r := runBot(t, rt, srv, discord.Config{})
		waitText(t, srv, channel.ID, run(srv, channel, owner, "address", nil), rt.Wallet().Address().Hex())
		srv.Revoke()
		select {
		case err := <-r.errc:
			if !errors.Is(err, discord.ErrUnauthorized) {
				t.Fatalf("Run after a revoked token: %v, want ErrUnauthorized", err)
			}
			r.errc <- err // for the cleanup
		case <-time.After(60 * time.Second):
			t.Fatal("Run kept going after the token was revoked")
		}
	})

	t.Run("at start", func(t *testing.T) {
		srv := dctest.New(t)
		srv.Revoke()
		b, err := discord.New(rt, discord.Config{Token: srv.Token(), APIURL: srv.URL()})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Run(context.Background()); !errors.Is(err, discord.ErrUnauthorized) {
			t.Fatalf("Run with a revoked token: %v, want ErrUnauthorized", err)
		}
	})
}

func TestAllowlist(t *testing.T) {
	rt := devnet(t, nil)
	srv := dctest.New(t)
	friend := dctest.User{ID: "3000000000000000003", Username: "friend"}
	runBot(t, rt, srv, discord.Config{AllowedUsers: []string{friend.ID}})
	id := srv.RunCommand(channel, stranger, "address", nil)
	if m := waitAnswer(t, srv, id); !m.Ephemeral || !strings.Contains(m.Text(), "not open to you") {
		t.Fatalf("an outsider's command was answered %+v, want an ephemeral refusal", m)
	}
	waitText(t, srv, channel.ID, run(srv, channel, friend, "address", nil), rt.Wallet().Address().Hex())
	waitText(t, srv, channel.ID, run(srv, channel, owner, "address", nil), rt.Wallet().Address().Hex())
}

// brokenModel is a model client with a bug: every call panics.
type brokenModel struct{}

func (brokenModel) GenerateContent(context.Context, []llms.MessageContent, ...llms.CallOption) (*llms.ContentResponse, error) {
	panic("brokenModel: index out of range")
}

func (brokenModel) Call(context.Context, string, ...llms.CallOption) (string, error) {
	panic("brokenModel: index out of range")
}

func TestPanicAnswered(t *testing.T) {
	cfg := mandate.Config{Devnet: true, PolicySource: []byte(askPolicy), Model: brokenModel{},
		DB: "sqlite:" + filepath.Join(t.TempDir(), "mandate.db")}
	rt, err := mandate.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open the devnet runtime: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	srv := dctest.New(t)
	runBot(t, rt, srv, discord.Config{})
	dm := srv.DM(owner)
	waitText(t, srv, dm.ID, write(srv, dm, owner, "what is ETH worth?"), "Something went wrong", "not done")
	// The bot goes on answering.
	waitText(t, srv, channel.ID, run(srv, channel, owner, "address", nil), rt.Wallet().Address().Hex())
}

func TestReconnects(t *testing.T) {
	rt := devnet(t, nil)
	srv := dctest.New(t)
	runBot(t, rt, srv, discord.Config{})
	waitText(t, srv, channel.ID, run(srv, channel, owner, "address", nil), rt.Wallet().Address().Hex())
	srv.Drop()
	// Sent while the bot is away; the gateway delivers it when the bot is back.
	mark := run(srv, channel, owner, "balance", nil)
	waitText(t, srv, channel.ID, mark, "USDC", "ETH")
	if n := srv.Connected(); n != 1 {
		t.Fatalf("%d gateway sessions after a dropped connection, want 1", n)
	}
}

func TestRateLimitsHonoured(t *testing.T) {
	rt := devnet(t, nil)
	// Far tighter than Discord's, so the bot meets 429s: none of its messages may be lost.
	srv := dctest.New(t, dctest.WithLimits(dctest.Limits{Global: 2}))
	runBot(t, rt, srv, discord.Config{})
	dm := srv.DM(owner)
	const n = 4
	mark := len(srv.Sent(dm.ID))
	for i := 0; i < n; i++ {
		srv.SendText(dm, owner, "balance")
	}
	t.Cleanup(func() { t.Logf("DM:%s\nSTATS %+v", texts(srv.Sent(dm.ID)), srv.Stats()) })
	srv.WaitFor(t, fmt.Sprintf("%d balances in the DM", n), func() bool {
		return len(answered(srv.Sent(dm.ID)[mark:], "USDC")) >= n
	})
	if got := len(answered(srv.Sent(dm.ID)[mark:], "USDC")); got != n {
		t.Fatalf("%d balances for %d questions, want one each:%s", got, n, texts(srv.Sent(dm.ID)[mark:]))
	}
	if srv.Stats().RateLimited == 0 {
		t.Fatal("the server refused nothing; the test did not exercise a 429")
	}
}

func TestStandingOrderApprovalGoesToOwnersDMs(t *testing.T) {
	ap := discord.NewApprover()
	rt := devnet(t, ap)
	srv := dctest.New(t)
	second := dctest.User{ID: "3000000000000000009", Username: "second"}
	runBot(t, rt, srv, discord.Config{Approver: ap, Owners: []string{owner.ID, second.ID}})
	in := policies.Transfer{Header: policies.Header{Chain: "1337", From: rt.Wallet().Address().Hex()},
		To: "0x00000000000000000000000000000000000d0d01", Amount: big.NewInt(7_000_000),
		Token: policies.Token{Symbol: "USDC", Address: devnetUSDC.Hex(), Decimals: 6}}
	res := make(chan bool, 1)
	go func() {
		ok, err := ap.Approve(context.Background(), in, []string{"a standing order fired"})
		if err != nil {
			t.Errorf("Approve: %v", err)
		}
		res <- ok
	}()
	first, other := srv.DM(owner), srv.DM(second)
	q := waitText(t, srv, first.ID, 0, "Send 7 USDC to", "a standing order fired")
	waitText(t, srv, other.ID, 0, "Send 7 USDC to")
	srv.PressButton(first, owner, q.ID, q.Buttons[0].CustomID)
	select {
	case ok := <-res:
		if !ok {
			t.Fatal("the owner approved, Approve returned false")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Approve did not return after the owner's press")
	}
	// The other owner's copy says it is settled, and has no buttons left.
	m := waitText(t, srv, other.ID, 0, "Approved by @owner")
	if len(m.Buttons) != 0 {
		t.Fatalf("the other owner's copy still has buttons: %+v", m.Buttons)
	}
}
