package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/chains/evm/devnet/devnettest"
	"github.com/mandatehq/mandate/memory/memtest"
)

// Twenty `mandate tools call wallet_transfer` processes on one wallet and
// one database, on SQLite and (with MANDATE_TEST_POSTGRES) PostgreSQL:
// every transfer is sent, at distinct and contiguous nonces, and the
// recipient gets the sum. Then a process killed between reserving its nonce
// and broadcasting: the others still all go through, the killed one's
// journaled transaction is sent by the next of them, and the nonces stay
// contiguous.
func TestSharedWalletProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs forty processes")
	}
	rig := newSharedRig(t)
	for _, db := range rig.databases(t) {
		t.Run(db.name, func(t *testing.T) {
			t.Run("twenty processes", func(t *testing.T) {
				w := rig.wallet(t, db.dsn)
				seen := map[uint64]bool{}
				for i, r := range w.transfers(t, 20, nil) {
					tx, err := r.tx()
					if r.code != 0 || err != nil || tx.Status != "mined" || seen[tx.Nonce] {
						t.Errorf("process %d: exit %d, tx %+v (%v), nonce reported before: %t\n%s%s", i, r.code, tx, err, seen[tx.Nonce], r.stdout, r.stderr)
					}
					seen[tx.Nonce] = true
				}
				w.check(t, 20, 0)
			})
			t.Run("one killed after reserving", func(t *testing.T) {
				w := rig.wallet(t, db.dsn)
				crashed := w.transfers(t, 1, []string{"MANDATE_TEST_CRASH_AT=after-reserve"})[0]
				if crashed.signal != syscall.SIGKILL || !strings.Contains(crashed.stderr, "crash point reached") {
					t.Fatalf("the crashing process was not killed at its crash point: exit %d, signal %v\n%s", crashed.code, crashed.signal, crashed.stderr)
				}
				rows := w.rows(t)
				if len(rows) != 1 || rows[0].status != "signed" || rows[0].nonce != 0 {
					t.Fatalf("journal after the crash: %+v, want one signed row at nonce 0", rows)
				}
				if n := rig.pendingNonce(t, w.addr); n != 0 {
					t.Fatalf("pending nonce %d after the crash: the reserved transaction was broadcast", n)
				}
				for i, r := range w.transfers(t, 19, nil) {
					if r.code != 0 {
						t.Errorf("process %d after the crash: exit %d\n%s%s", i, r.code, r.stdout, r.stderr)
					}
				}
				// The killed process's transfer was approved, signed and
				// journaled: the next process sent it, so it counts.
				w.check(t, 20, 1)
			})
		})
	}
}

// BenchmarkSharedWalletProcesses runs rounds of twenty concurrent
// `mandate tools call wallet_transfer` processes on one wallet and one
// database and reports transfers sent per second (wall clock, from the
// first process's start to the last one's exit, each process waiting for
// its receipt), nonce clashes (processes refused because another took their
// nonce; target 0) and failed processes of any cause.
//
//	go test ./cmd/mandate/ -run '^$' -bench SharedWalletProcesses -benchtime 3x
func BenchmarkSharedWalletProcesses(b *testing.B) {
	rig := newSharedRig(b)
	for _, db := range rig.databases(b) {
		b.Run(db.name, func(b *testing.B) {
			var elapsed time.Duration
			clashes, failed := 0, 0
			for b.Loop() {
				w := rig.wallet(b, db.dsn)
				start := time.Now()
				for _, r := range w.transfers(b, 20, nil) {
					if r.code == 0 {
						continue
					}
					failed++
					if clash(r.stdout + r.stderr) {
						clashes++
					}
				}
				elapsed += time.Since(start)
			}
			b.ReportMetric(float64(20*b.N-failed)/elapsed.Seconds(), "transfers/s")
			b.ReportMetric(float64(clashes)/float64(b.N), "clashes/round")
			b.ReportMetric(float64(failed)/float64(b.N), "failed/round")
		})
	}
}

// clash recognises a transfer refused because its nonce was taken, in
// what the process printed.
func clash(output string) bool {
	s := strings.ToLower(output)
	for _, m := range []string{"already journaled", "underpriced", "nonce too low", "nonce has already been used", "already used"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// sharedRig is a mandate binary and a devnet served over HTTP, shared by
// the subtests; each takes a fresh wallet and recipient.
type sharedRig struct {
	bin    string
	d      *devnet.Devnet
	rpc    string
	policy string
}

// newSharedRig builds the binary with the mandate_crashpoints tag (which
// adds only the crash hook that MANDATE_TEST_CRASH_AT arms) and serves a
// devnet.
func newSharedRig(tb testing.TB) *sharedRig {
	tb.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := tb.TempDir()
	r := &sharedRig{bin: filepath.Join(dir, "mandate")}
	build := exec.Command(goTool, "build", "-tags", "mandate_crashpoints", "-o", r.bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	r.d = devnettest.New(tb)
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	if r.rpc, err = r.d.Serve(ctx, "127.0.0.1:0"); err != nil {
		tb.Fatal(err)
	}
	r.policy = filepath.Join(dir, "policy.yaml")
	body := fmt.Sprintf(`version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "%s", decimals: 6}
limits:
  per_tx: {USDC: "100"}
  daily: {USDC: "100000"}
`, r.d.Address(devnet.USDC).Hex())
	if err := os.WriteFile(r.policy, []byte(body), 0o600); err != nil {
		tb.Fatal(err)
	}
	return r
}

type database struct{ name, dsn string }

// databases is a fresh SQLite file and, with MANDATE_TEST_POSTGRES, a fresh
// PostgreSQL database.
func (r *sharedRig) databases(tb testing.TB) []database {
	out := []database{{"sqlite", "sqlite:" + filepath.Join(tb.TempDir(), "mandate.db")}}
	if dsn, ok := memtest.PostgresDSN(tb); ok {
		out = append(out, database{"postgres", dsn})
	}
	return out
}

func (r *sharedRig) pendingNonce(tb testing.TB, a common.Address) uint64 {
	tb.Helper()
	n, err := r.d.Client().PendingNonceAt(context.Background(), a)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// sharedWallet is one funded account used by every process of a subtest,
// paying one fresh recipient.
type sharedWallet struct {
	rig     *sharedRig
	dsn     string
	addr    common.Address
	key     string
	to      common.Address
	home    string
	amounts []int64 // USDC paid by every process started, in order
}

func (r *sharedRig) wallet(tb testing.TB, dsn string) *sharedWallet {
	tb.Helper()
	acct, _ := devnettest.Account(tb, r.d)
	to, err := crypto.GenerateKey() // an address that holds nothing yet
	if err != nil {
		tb.Fatal(err)
	}
	return &sharedWallet{rig: r, dsn: dsn, addr: acct.Address, key: acct.PrivateKey, to: crypto.PubkeyToAddress(to.PublicKey), home: tb.TempDir()}
}

type procResult struct {
	code           int
	signal         syscall.Signal
	stdout, stderr string
}

// transfers runs n processes at once, each paying the recipient a distinct
// whole number of USDC, and returns how each ended.
func (w *sharedWallet) transfers(tb testing.TB, n int, extraEnv []string) []procResult {
	tb.Helper()
	env := []string{
		"HOME=" + w.home, "XDG_CONFIG_HOME=" + w.home,
		"MANDATE_RPC_URL=" + w.rig.rpc, "MANDATE_PRIVATE_KEY=" + w.key,
		"MANDATE_POLICY=" + w.rig.policy, "MANDATE_DB=" + w.dsn,
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "MANDATE_") && k != "HOME" && k != "XDG_CONFIG_HOME" {
			env = append(env, kv)
		}
	}
	env = append(env, extraEnv...)
	out := make([]procResult, n)
	cmds := make([]*exec.Cmd, n)
	bufs := make([][2]bytes.Buffer, n)
	for i := range n {
		amount := int64(len(w.amounts) + 1)
		w.amounts = append(w.amounts, amount)
		args := fmt.Sprintf(`{"to":"%s","token":"USDC","amount":"%d"}`, w.to.Hex(), amount)
		cmd := exec.Command(w.rig.bin, "--json", "tools", "call", "wallet_transfer", args)
		cmd.Env, cmd.Dir = env, w.home
		cmd.Stdout, cmd.Stderr = &bufs[i][0], &bufs[i][1]
		cmds[i] = cmd
	}
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cmd.Wait()
			out[i] = procResult{code: cmd.ProcessState.ExitCode(), stdout: bufs[i][0].String(), stderr: bufs[i][1].String()}
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				out[i].signal = ws.Signal()
			}
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				out[i].stderr += "\nwait: " + err.Error()
			}
		}()
	}
	wg.Wait()
	return out
}

// reportedTx is the transaction a process reports on stdout (--json).
type reportedTx struct {
	Hash   string `json:"hash"`
	Nonce  uint64 `json:"nonce"`
	Status string `json:"status"`
}

func (r procResult) tx() (reportedTx, error) {
	var out struct {
		OK   bool `json:"ok"`
		Data struct {
			Tx reportedTx `json:"tx"`
		} `json:"data"`
	}
	err := json.Unmarshal([]byte(r.stdout), &out)
	if err == nil && !out.OK {
		err = errors.New("not ok")
	}
	return out.Data.Tx, err
}

type journalRow struct {
	nonce  uint64
	status string
	hash   string
}

// rows reads the wallet's journal straight from the database.
func (w *sharedWallet) rows(tb testing.TB) []journalRow {
	tb.Helper()
	driver, src := "pgx", w.dsn
	if path, ok := strings.CutPrefix(w.dsn, "sqlite:"); ok {
		driver, src = "sqlite", path
	}
	db, err := sql.Open(driver, src)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	q := "SELECT nonce, status, hash FROM tx_journal WHERE sender_key = $1 ORDER BY nonce, id"
	rs, err := db.Query(q, strings.ToLower(w.addr.Hex()))
	if err != nil {
		tb.Fatal(err)
	}
	defer rs.Close()
	var out []journalRow
	for rs.Next() {
		var r journalRow
		if err := rs.Scan(&r.nonce, &r.status, &r.hash); err != nil {
			tb.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// check asserts the end state: n journal rows at nonces 0..n-1, none failed
// (no clash), every transaction in a block, the chain's nonce n, and the
// recipient paid the sum of every transfer. The first unwaited rows (a
// killed process's, sent by another) may still read "sent".
func (w *sharedWallet) check(tb testing.TB, n, unwaited int) {
	tb.Helper()
	ctx := context.Background()
	rows := w.rows(tb)
	nonces := make([]uint64, len(rows))
	for i, r := range rows {
		nonces[i] = r.nonce
	}
	if len(rows) != n || !sort.SliceIsSorted(nonces, func(i, j int) bool { return nonces[i] < nonces[j] }) {
		tb.Fatalf("journal holds %d rows at nonces %v, want %d", len(rows), nonces, n)
	}
	for i, r := range rows {
		if r.nonce != uint64(i) {
			tb.Fatalf("journaled nonces %v are not 0..%d, each once", nonces, n-1)
		}
		want := r.status == "mined" || (i < unwaited && r.status == "sent")
		if !want {
			tb.Errorf("row at nonce %d is %s", r.nonce, r.status)
		}
		if rc, err := w.rig.d.Client().TransactionReceipt(ctx, common.HexToHash(r.hash)); err != nil || rc.Status != 1 {
			tb.Errorf("transaction at nonce %d is not in a block, or reverted: %v", r.nonce, err)
		}
	}
	if got, err := w.rig.d.Client().NonceAt(ctx, w.addr, nil); err != nil || got != uint64(n) {
		tb.Fatalf("chain nonce %d (%v), want %d", got, err, n)
	}
	sum := big.NewInt(0)
	for _, a := range w.amounts {
		sum.Add(sum, big.NewInt(a*1_000_000))
	}
	if got := w.received(tb); got.Cmp(sum) != 0 {
		tb.Fatalf("recipient holds %s USDC base units, want %s", got, sum)
	}
}

// received is the recipient's USDC balance in base units.
func (w *sharedWallet) received(tb testing.TB) *big.Int {
	tb.Helper()
	data := append(crypto.Keccak256([]byte("balanceOf(address)"))[:4], common.LeftPadBytes(w.to.Bytes(), 32)...)
	usdc := w.rig.d.Address(devnet.USDC)
	out, err := w.rig.d.Client().CallContract(context.Background(), ethereum.CallMsg{To: &usdc, Data: data}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return new(big.Int).SetBytes(out)
}
