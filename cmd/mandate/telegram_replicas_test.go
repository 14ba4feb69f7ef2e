package main

import (
	"context"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/bots/telegram/tgtest"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/memory/memtest"
)

// TestTelegramReplicas runs two `mandate telegram --webhook` processes on
// one PostgreSQL database behind a round-robin load balancer, as the README
// tells an operator to: every update is answered once, each chat's in
// order, and a button pressed twice (each press reaching another replica)
// sends once.
func TestTelegramReplicas(t *testing.T) {
	dsn, ok := memtest.PostgresDSN(t)
	if !ok {
		t.Skip("replicas share a PostgreSQL database; set MANDATE_TEST_POSTGRES")
	}
	bin := buildMandate(t) // before cleanEnv leaves the package's directory
	cleanEnv(t)
	d := devnettest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rpc, err := d.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acct, _ := devnettest.Account(t, d)
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	body := fmt.Sprintf("version: 1\nchains: [1337]\ntokens:\n  USDC: {chain: 1337, address: %q, decimals: 6}\nlimits:\n  per_tx: {USDC: \"1000\"}\nask: {above_usd: 1}\n",
		d.Address(devnet.USDC).Hex())
	if err := os.WriteFile(policy, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}

	srv := tgtest.New(t, tgtest.WithWaitTimeout(3*time.Minute))
	addrs := []string{freeAddr(t), freeAddr(t)}
	lb := newRoundRobin(t, addrs)
	env := append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir,
		"TELEGRAM_BOT_TOKEN="+srv.Token(), "MANDATE_TELEGRAM_API="+srv.URL(), "MANDATE_TELEGRAM_OWNERS=1001",
		"MANDATE_RPC_URL="+rpc, "MANDATE_PRIVATE_KEY="+acct.PrivateKey, "MANDATE_DB="+dsn, "MANDATE_POLICY="+policy)
	for i, addr := range addrs {
		startReplica(t, bin, env, fmt.Sprintf("replica %d", i+1), "telegram", "--webhook", lb.URL+"/telegram", "--listen", addr)
	}

	owner := tgtest.User{ID: 1001, Username: "owner"}
	stranger := tgtest.User{ID: 2002, Username: "stranger"}
	chats := []tgtest.Chat{{ID: 1001, Type: "private"}}
	for i := range 4 {
		chats = append(chats, tgtest.Chat{ID: int64(-7000 - i), Type: "group", Title: "group"})
	}
	const perChat = 6
	for n := range perChat {
		for _, c := range chats {
			srv.SendText(c, owner, fmt.Sprintf("/c%02d", n))
		}
	}
	for _, c := range chats {
		srv.WaitFor(t, fmt.Sprintf("%d answers in chat %d", perChat, c.ID), func() bool { return len(srv.Sent(c.ID)) >= perChat })
	}
	for _, c := range chats {
		sent := srv.Sent(c.ID)
		for n, m := range sent {
			if want := fmt.Sprintf("Unknown command /c%02d.", n); n >= perChat || !strings.HasPrefix(m.Text, want) {
				t.Fatalf("chat %d: answer %d is %q, want one answer per message in order (%q)", c.ID, n, m.Text, want)
			}
		}
	}
	if lb.served(0) == 0 || lb.served(1) == 0 {
		t.Fatalf("the load balancer sent %d and %d deliveries to the replicas; want both used", lb.served(0), lb.served(1))
	}

	// One question, three presses: a stranger's, then the owner's twice.
	// Deliveries alternate, so the owner's two presses reach both replicas.
	group := chats[1]
	to := common.HexToAddress("0x00000000000000000000000000000000000ca4e1")
	mark := len(srv.Sent(group.ID))
	srv.SendText(group, owner, "/send 5 USDC "+to.Hex())
	var q tgtest.Message
	srv.WaitFor(t, "the approval question", func() bool {
		for _, m := range srv.Sent(group.ID)[mark:] {
			if m.Markup != nil && len(m.Markup.InlineKeyboard) == 1 && len(m.Markup.InlineKeyboard[0]) == 2 {
				q = m
				return true
			}
		}
		return false
	})
	approve := q.Markup.InlineKeyboard[0][0].CallbackData
	srv.PressButton(group, stranger, q.ID, approve)
	srv.PressButton(group, owner, q.ID, approve)
	srv.PressButton(group, owner, q.ID, approve)
	srv.WaitFor(t, "three button answers", func() bool { return len(srv.Answers()) >= 3 })
	srv.WaitFor(t, "the transfer mined", func() bool {
		for _, m := range srv.Sent(group.ID)[mark:] {
			if strings.Contains(m.Text, "mined") {
				return true
			}
		}
		return false
	})
	var texts []string
	for _, a := range srv.Answers() {
		texts = append(texts, a.Text)
	}
	if got := strings.Join(texts, " | "); strings.Count(got, "Only an owner") != 1 || strings.Count(got, "Approved.") != 1 ||
		strings.Count(got, "Already approved") != 1 {
		t.Fatalf("button answers %q; want one refusal of the stranger, one Approved and one Already approved", got)
	}
	bal, err := usdcBalance(context.Background(), d, to)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Cmp(big.NewInt(5_000_000)) != 0 {
		t.Fatalf("the recipient holds %s base units of USDC, want 5000000 (sent once)", bal)
	}
	if r := srv.Stats().Redeliveries; r != 0 {
		t.Logf("%d deliveries were retried (a replica was starting); each was answered once", r)
	}
}

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// roundRobin is a load balancer sending each request to the next backend.
type roundRobin struct {
	*httptest.Server
	next   atomic.Int64
	counts []atomic.Int64
}

func newRoundRobin(t *testing.T, backends []string) *roundRobin {
	lb := &roundRobin{counts: make([]atomic.Int64, len(backends))}
	proxies := make([]*httputil.ReverseProxy, len(backends))
	for i, b := range backends {
		proxies[i] = httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: b})
		proxies[i].ErrorLog = nil
		proxies[i].ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "replica unreachable: "+err.Error(), http.StatusBadGateway)
		}
	}
	lb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(lb.next.Add(1)-1) % len(proxies)
		lb.counts[i].Add(1)
		proxies[i].ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)
	return lb
}

func (lb *roundRobin) served(i int) int64 { return lb.counts[i].Load() }

// startReplica runs the binary until the test ends, then interrupts it
// and expects a clean exit; its stderr is shown when the test fails.
func startReplica(t *testing.T, bin string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var errb syncBuffer
	cmd.Stderr, cmd.Stdout = &errb, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s exited with %v:\n%s", name, err, errb.String())
			}
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			t.Errorf("%s did not stop after an interrupt:\n%s", name, errb.String())
		}
		if t.Failed() {
			t.Logf("%s said:\n%s", name, errb.String())
		}
	})
}
