package evm_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"

	"github.com/mandatehq/mandate/chains/evm"
	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/chains/evm/safe"
	"github.com/mandatehq/mandate/policies"
)

// clefModule is the go-ethereum release Clef is built from. go-ethereum
// removed cmd/clef in v1.17.4, so the version this module uses has none;
// v1.17.3 is the last release with it. Its external API
// (account_list, account_signTransaction, account_signTypedData) is what
// NewExternalSigner speaks.
const clefModule = "github.com/ethereum/go-ethereum/cmd/clef@v1.17.3"

var (
	clefOnce sync.Once
	clefDir  string // holds the built binary; removed by TestMain
	clefBin  string
	clefErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if clefDir != "" {
		os.RemoveAll(clefDir)
	}
	os.Exit(code)
}

// buildClef builds Clef once per test binary with go install (a few
// minutes the first time on a cold build cache, seconds after).
func buildClef(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds go-ethereum's Clef and runs it as the external signer")
	}
	clefOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		if clefDir, clefErr = os.MkdirTemp("", "mandate-clef-"); clefErr != nil {
			return
		}
		cmd := exec.Command(goTool, "install", clefModule)
		cmd.Dir = clefDir // outside this module: its go.mod pins another go-ethereum
		cmd.Env = append(os.Environ(), "GOBIN="+clefDir, "GOFLAGS=", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			clefErr = fmt.Errorf("go install %s (needs that module, from the module proxy or the module cache): %v\n%s", clefModule, err, out)
			return
		}
		clefBin = filepath.Join(clefDir, "clef")
	})
	if clefErr != nil {
		t.Fatal(clefErr)
	}
	return clefBin
}

// rulesFor are Clef rules that approve listing, every transaction except
// those to blocked, and EIP-712 typed data; everything else is rejected.
// A rule must answer Approve or Reject: anything else sends Clef to its
// console prompt, which nobody answers here.
func rulesFor(blocked common.Address) string {
	return fmt.Sprintf(`
function ApproveListing(req) { return "Approve" }
function ApproveTx(req) {
	if (req.transaction.to && req.transaction.to.toLowerCase() == "%s") { return "Reject" }
	return "Approve"
}
function ApproveSignData(req) {
	if (req.content_type == "data/typed") { return "Approve" }
	return "Reject"
}
function OnSignerStartup(info) {}
function OnApprovedTx(resp) {}
`, strings.ToLower(blocked.Hex()))
}

// clefProc is a running Clef holding one account.
type clefProc struct {
	url   string
	audit string // Clef's audit log: one line per request and per answer
}

// Passwords of the test's Clef (Clef wants at least 10 characters).
const (
	clefMasterPass  = "clef master seed password"
	clefAccountPass = "clef account password"
)

// startClef runs Clef unattended, as an operator would set it up: the key
// in Clef's keystore, a master seed (clef init), the account's password in
// Clef's encrypted credential store (clef setpw), the rules file attested
// (clef attest), and the daemon with --rules on an HTTP port of its own
// choosing. The master password is the one line written to its standard
// input. It is stopped (interrupt) when the test ends.
func startClef(t *testing.T, key string, rules string) *clefProc {
	t.Helper()
	bin := buildClef(t)
	dir := t.TempDir()
	ksDir, cfgDir := filepath.Join(dir, "keystore"), filepath.Join(dir, "config")
	ks, err := evm.OpenKeystore(ksDir, evm.WithLightScrypt())
	if err != nil {
		t.Fatal(err)
	}
	addr, err := ks.Import(key, clefAccountPass)
	if err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(dir, "rules.js")
	if err := os.WriteFile(rulesFile, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(rules))
	clef := func(stdin string, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--configdir", cfgDir, "--suppress-bootwarn", "--lightkdf"}, args...)...)
		cmd.Dir, cmd.Stdin = dir, strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("clef %s: %v\n%s", args[0], err, out)
		}
	}
	clef(clefMasterPass+"\n"+clefMasterPass+"\n", "init")
	clef(clefAccountPass+"\n"+clefAccountPass+"\n"+clefMasterPass+"\n", "setpw", addr.Hex())
	clef(clefMasterPass+"\n", "attest", hex.EncodeToString(sum[:]))

	p := &clefProc{audit: filepath.Join(dir, "audit.log")}
	cmd := exec.Command(bin, "--configdir", cfgDir, "--keystore", ksDir, "--chainid", fmt.Sprint(devnet.ChainID),
		"--suppress-bootwarn", "--lightkdf", "--nousb", "--ipcdisable", "--http", "--http.addr", "127.0.0.1", "--http.port", "0",
		"--rules", rulesFile, "--auditlog", p.audit, "--4bytedb-custom", filepath.Join(dir, "4byte.json"))
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = outW, outW
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	outW.Close()
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		stdin.Close()
	})
	// Stdin stays open: Clef reads its master password from it and, were
	// a rule not to answer, would prompt there rather than exit.
	if _, err := fmt.Fprintln(stdin, clefMasterPass); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var out strings.Builder
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(outR)
		rulesOn := false
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			out.WriteString(line + "\n")
			mu.Unlock()
			if strings.Contains(line, "Rule engine configured") {
				rulesOn = true
			}
			if i := strings.Index(line, "url="); i >= 0 && strings.Contains(line, "HTTP endpoint opened") && rulesOn {
				ready <- strings.TrimSpace(line[i+len("url="):])
			}
		}
	}()
	output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	select {
	case p.url = <-ready:
	case <-exited:
		t.Fatalf("clef exited before serving:\n%s", output())
	case <-time.After(2 * time.Minute):
		t.Fatalf("clef did not open its HTTP endpoint with its rules on within 2 minutes:\n%s", output())
	}
	return p
}

// requests counts the requests of method (List, SignTransaction,
// SignTypedData) in Clef's audit log, whatever their outcome.
func (p *clefProc) requests(t *testing.T, method string) int {
	t.Helper()
	b, err := os.ReadFile(p.audit)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "msg="+method+" ") && strings.Contains(line, "type=request") {
			n++
		}
	}
	return n
}

// answers returns the data of Clef's answers to method, in order.
func (p *clefProc) answers(t *testing.T, method string) []string {
	t.Helper()
	b, err := os.ReadFile(p.audit)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "msg="+method+" ") && strings.Contains(line, "type=response") {
			if _, data, ok := strings.Cut(line, " data="); ok {
				out = append(out, strings.Fields(data)[0])
			}
		}
	}
	return out
}

// clefRig is a fresh funded account on the shared devnet whose key only a
// Clef holds, the Signer and a wallet signing through that Clef, and a
// policy engine (ETH up to 1 per transaction, Safe transactions allowed).
type clefRig struct {
	d      *devnet.Devnet
	clef   *clefProc
	s      evm.Signer
	w      *evm.Wallet
	eng    *policies.Engine
	ledger *policies.MemLedger
}

func newClefRig(t *testing.T, rules string) *clefRig {
	t.Helper()
	buildClef(t) // first: a short run skips before starting the devnet
	ctx := context.Background()
	r := &clefRig{d: devnettest.Shared(t), ledger: policies.NewMemLedger()}
	acct, _ := devnettest.Account(t, r.d)
	r.clef = startClef(t, acct.PrivateKey, rules)
	var err error
	if r.s, err = evm.NewExternalSigner(ctx, r.clef.url, acct.Address); err != nil {
		t.Fatal(err)
	}
	c, err := evm.NewClient(ctx, r.d.RPC())
	if err != nil {
		t.Fatal(err)
	}
	if r.w, err = evm.NewWallet(c, r.s, evm.WithPollInterval(10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	pol, err := policies.Parse([]byte("version: 1\nchains: [1337]\nlimits:\n  per_tx: {ETH: \"1\"}\n  daily: {ETH: \"10\"}\nsafe: {self_calls: false, refund: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r.eng = policies.NewEngine(pol, r.ledger)
	return r
}

func randomAddress(t *testing.T) common.Address {
	var a common.Address
	if _, err := rand.Read(a[:]); err != nil {
		t.Fatal(err)
	}
	return a
}

func eth(s string) *big.Int {
	v, err := policies.ParseUnits(s, 18)
	if err != nil {
		panic(err)
	}
	return v
}

// A transfer the policy approved is signed by Clef — the key is in Clef's
// keystore only — and mined on the devnet; Clef's audit log holds the very
// bytes the wallet journaled and broadcast.
func TestClefSignsTransfer(t *testing.T) {
	ctx := context.Background()
	r := newClefRig(t, rulesFor(common.Address{}))
	p, w, eng := r.clef, r.w, r.eng
	to := randomAddress(t)
	in, err := w.TransferIntent(ctx, to, policies.Token{}, eth("0.25"))
	if err != nil {
		t.Fatal(err)
	}
	ap, err := eng.Decide(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := w.Send(ctx, ap)
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.Wait(ctx, rec.Hash)
	if err != nil || got.Status != evm.TxMined {
		t.Fatalf("%+v, %v", got, err)
	}
	if bal, err := w.Client().Balance(ctx, to); err != nil || bal.Cmp(eth("0.25")) != 0 {
		t.Fatalf("recipient has %v (%v), want 0.25 ETH", bal, err)
	}
	if n := p.requests(t, "SignTransaction"); n != 1 {
		t.Fatalf("clef was asked to sign %d times, want 1", n)
	}
	if a := p.answers(t, "SignTransaction"); len(a) != 1 || a[0] != hex.EncodeToString(rec.Raw) {
		t.Fatalf("clef answered %v, the wallet sent %x", a, rec.Raw)
	}
}

// What the policy denies, and approvals the wallet refuses (spent, or
// whose call is not what the intent says), never reach Clef: its audit log
// shows no signing request until an approved transfer, and then one.
func TestClefNeverSeesWhatIsNotApproved(t *testing.T) {
	ctx := context.Background()
	r := newClefRig(t, rulesFor(common.Address{}))
	p, w, eng := r.clef, r.w, r.eng
	to := randomAddress(t)

	tooMuch, err := w.TransferIntent(ctx, to, policies.Token{}, eth("5"))
	if err != nil {
		t.Fatal(err)
	}
	ap, err := eng.Decide(ctx, tooMuch)
	if _, ok := errors.AsType[*policies.Denied](err); !ok {
		t.Fatalf("5 ETH over a 1 ETH limit: %v", err)
	}
	if _, err := w.Send(ctx, ap); !errors.Is(err, policies.ErrNoApproval) {
		t.Fatalf("send of a denied intent: %v", err)
	}

	// The fields say 0.1 ETH to one address, the call pays another: the
	// policy reads both and denies it.
	lying, err := w.TransferIntent(ctx, to, policies.Token{}, eth("0.1"))
	if err != nil {
		t.Fatal(err)
	}
	lying.Tx = &policies.Call{To: randomAddress(t).Hex(), Value: eth("0.1")}
	ap, err = eng.Decide(ctx, lying)
	if _, ok := errors.AsType[*policies.Denied](err); !ok {
		t.Fatalf("a call other than the intent's: %v", err)
	}
	if _, err := w.Send(ctx, ap); !errors.Is(err, policies.ErrNoApproval) {
		t.Fatalf("send of a denied intent: %v", err)
	}

	// An approval for another account's transfer is refused by this
	// wallet, and left unspent for the wallet it is for.
	other := policies.Transfer{Header: policies.Header{Chain: w.Chain(), From: randomAddress(t).Hex()}, To: to.Hex(),
		Token: policies.Token{Symbol: "ETH", Decimals: 18}, Amount: eth("0.1"), Tx: &policies.Call{To: to.Hex(), Value: eth("0.1")}}
	ap, err = eng.Decide(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Send(ctx, ap); !errors.Is(err, policies.ErrApprovalMismatch) || !ap.Valid() {
		t.Fatalf("send of another account's approval: %v (still valid: %t)", err, ap.Valid())
	}
	if n := p.requests(t, "SignTransaction"); n != 0 {
		t.Fatalf("clef was asked to sign %d times before anything was approved", n)
	}

	ok, err := w.TransferIntent(ctx, to, policies.Token{}, eth("0.1"))
	if err != nil {
		t.Fatal(err)
	}
	ap, err = eng.Decide(ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Send(ctx, ap); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Send(ctx, ap); !errors.Is(err, policies.ErrApprovalUsed) {
		t.Fatalf("second send of one approval: %v", err)
	}
	if n := p.requests(t, "SignTransaction"); n != 1 {
		t.Fatalf("clef was asked to sign %d times, want 1 (the approved transfer)", n)
	}
}

// A transfer the policy approved but Clef's rules reject is not sent: the
// error says the signer refused, on one line; nothing is journaled and the
// approval's charge is given back.
func TestClefRulesRefuse(t *testing.T) {
	ctx := context.Background()
	blocked := randomAddress(t)
	r := newClefRig(t, rulesFor(blocked))
	p, w, eng, ledger := r.clef, r.w, r.eng, r.ledger
	in, err := w.TransferIntent(ctx, blocked, policies.Token{}, eth("0.1"))
	if err != nil {
		t.Fatal(err)
	}
	ap, err := eng.Decide(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Send(ctx, ap)
	if !errors.Is(err, evm.ErrSignerRefused) || !strings.Contains(err.Error(), "request denied") ||
		!strings.Contains(err.Error(), strings.TrimSuffix(p.url, "/")) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %v; want the signer's refusal, naming it, on one line", err)
	}
	t.Log(err)
	if n := p.requests(t, "SignTransaction"); n != 1 {
		t.Fatalf("clef was asked %d times, want 1", n)
	}
	if open, err := w.Journal().Open(ctx, w.JournalChain(), w.Address().Hex()); err != nil || len(open) != 0 {
		t.Fatalf("journal holds %d open rows (%v), want none", len(open), err)
	}
	if s, _ := ledger.Spent(ctx, "default/1337/native", time.Time{}); s.Sign() != 0 {
		t.Fatalf("still charged %s after Clef refused", s)
	}
}

// NewExternalSigner fails at once, on one line, for an account Clef does
// not hold, a signer that is not there, and one whose rules refuse to list.
func TestExternalSignerErrors(t *testing.T) {
	buildClef(t)
	ctx := context.Background()
	d := devnettest.Shared(t)
	acct, _ := devnettest.Account(t, d)
	p := startClef(t, acct.PrivateKey, rulesFor(common.Address{}))
	if _, err := evm.NewExternalSigner(ctx, p.url, acct.Address); err != nil {
		t.Fatalf("held account: %v", err)
	}
	stranger := randomAddress(t)
	_, err := evm.NewExternalSigner(ctx, p.url, stranger)
	if !errors.Is(err, evm.ErrAccountNotHeld) || !strings.Contains(err.Error(), stranger.Hex()) {
		t.Fatalf("account not held: %v", err)
	}
	t.Log(err)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String()
	l.Close()
	_, err = evm.NewExternalSigner(ctx, down, acct.Address)
	if !errors.Is(err, evm.ErrSignerUnreachable) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("signer down: %v", err)
	}
	t.Log(err)

	if _, err := evm.NewExternalSigner(ctx, "unix:///tmp/clef.ipc", acct.Address); err == nil || !strings.Contains(err.Error(), "http://host:port") {
		t.Fatalf("not an HTTP URL: %v", err)
	}

	noList := strings.Replace(rulesFor(common.Address{}), `function ApproveListing(req) { return "Approve" }`, `function ApproveListing(req) { return "Reject" }`, 1)
	p2 := startClef(t, acct.PrivateKey, noList)
	_, err = evm.NewExternalSigner(ctx, p2.url, acct.Address)
	if !errors.Is(err, evm.ErrSignerRefused) || !strings.Contains(err.Error(), "list its accounts") {
		t.Fatalf("listing refused: %v", err)
	}
	t.Log(err)
}

// A Safe owned by Clef's account confirms a transaction through Clef's
// typed-data signing (its rules see the SafeTx as EIP-712 data), and the
// Safe on the devnet executes it with that signature.
func TestClefConfirmsSafeTransaction(t *testing.T) {
	ctx := context.Background()
	r := newClefRig(t, rulesFor(common.Address{}))
	d, p, w, eng := r.d, r.clef, r.w, r.eng
	owner := w.Address()
	safeAddr, err := d.NewSafe(ctx, []common.Address{owner}, 1, eth("1"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := w.Client()
	v, err := safe.ReadVersion(ctx, c, safeAddr)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := safe.Nonce(ctx, c, safeAddr)
	if err != nil {
		t.Fatal(err)
	}
	to := randomAddress(t)
	tx := safe.Tx{Safe: safeAddr, ChainID: big.NewInt(devnet.ChainID), To: to, Value: eth("0.1"), Nonce: new(big.Int).SetUint64(nonce),
		SafeTxGas: new(big.Int), BaseGas: new(big.Int), GasPrice: new(big.Int)}
	in, err := safe.Decoder{Version: v}.Decode(tx)
	if err != nil {
		t.Fatal(err)
	}
	if onChain, err := safe.ChainHash(ctx, c, tx); err != nil || onChain.Hex() != in.SafeTxHash {
		t.Fatalf("the Safe hashes it to %s (%v), we to %s", onChain.Hex(), err, in.SafeTxHash)
	}
	ap, err := eng.Decide(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := evm.SignSafeTx(ctx, r.s, ap, safe.Hasher(v))
	if err != nil {
		t.Fatal(err)
	}
	if n := p.requests(t, "SignTypedData"); n != 1 {
		t.Fatalf("clef was asked to sign typed data %d times, want 1", n)
	}
	call, err := safe.ExecCall(tx, sig)
	if err != nil {
		t.Fatal(err)
	}
	_, executor := devnettest.Account(t, d)
	devnettest.Send(t, d, executor, common.HexToAddress(call.To), call.Value, call.Data)
	if bal, err := c.Balance(ctx, to); err != nil || bal.Cmp(eth("0.1")) != 0 {
		t.Fatalf("recipient has %v (%v), want 0.1 ETH: the Safe did not execute", bal, err)
	}
	if n, _ := safe.Nonce(ctx, c, safeAddr); n != nonce+1 {
		t.Fatalf("Safe nonce %d, want %d", n, nonce+1)
	}
}
