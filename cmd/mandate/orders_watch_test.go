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
)

// watchBound bounds each `mandate orders watch` run and each wait for the
// order it is to execute.
const watchBound = 2 * time.Minute

// A watcher killed after a stop order's swap sent its allowance and before
// the swap was signed leaves the order executing. Once the run is older
// than a run can last (its updated_at moved back, as time passing would),
// the next watcher gives it back and executes it under the same key: one
// allowance, one swap, the order filled once, the ledger charged for one
// swap, nothing left executing. On SQLite and (MANDATE_TEST_POSTGRES)
// PostgreSQL.
func TestOrderWatcherKilledAfterApproval(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs watchers against a served devnet")
	}
	rig := newSharedRig(t)
	policy := swapPolicy(t, rig.d)
	stop := blocks(t, rig.d)
	defer stop()
	for _, db := range rig.databases(t) {
		t.Run(db.name, func(t *testing.T) {
			acct, _ := devnettest.Account(t, rig.d)
			p := orderProc{bin: rig.bin, rpc: rig.rpc, key: acct.PrivateKey, policy: policy, dsn: db.dsn, home: t.TempDir()}
			h := openWatchDB(t, db.dsn)
			usdc := rig.d.Address(devnet.USDC)
			before := heldBalance(t, rig.d, usdc, acct.Address)

			id := p.place(t, `{"kind":"stop","from":"USDC","to":"ETH","amount":"50","trigger":"ETH >= 1"}`)
			key := fmt.Sprintf("order-%d-1", id)

			// The first watcher dies at its crash point: the allowance
			// sent, the swap not signed.
			r := p.watch(t, []string{"MANDATE_TEST_CRASH_AT=after-approve"}, nil)
			if r.signal != syscall.SIGKILL || !strings.Contains(r.stderr, "crash point reached") {
				t.Fatalf("the watcher was not killed at after-approve: exit %d, signal %v\n%s%s", r.code, r.signal, r.stdout, r.stderr)
			}
			if st := orderStatus(t, h, id); st != "executing" {
				t.Fatalf("after the kill the order is %q, want executing", st)
			}
			if rows := keyedRows(t, h, acct.Address, key); len(rows) != 1 || rows[0].key != key+"/approve" {
				t.Fatalf("journal after the kill: %+v, want only the allowance under %s/approve", rows, key)
			}
			if live := liveSpends(t, h, key, strings.ToLower(usdc.Hex())); live.Cmp(big.NewInt(50_000_000)) != 0 {
				t.Fatalf("live USDC spends under %s after the kill: %s, want the killed run's 50000000 (its allowance was sent)", key, live)
			}

			// Within the run's grace a watcher leaves it to the one that
			// claimed it (which might be slow, not gone): make the run
			// older than a run can last.
			backdate(t, h, id, 10*time.Minute)

			r = p.watch(t, nil, func() bool { return orderStatus(t, h, id) != "executing" && orderStatus(t, h, id) != "open" })
			if r.code != 0 {
				t.Fatalf("the second watcher: exit %d, signal %v\n%s%s", r.code, r.signal, r.stdout, r.stderr)
			}
			if st := orderStatus(t, h, id); st != "filled" {
				t.Fatalf("the order is %q after the second watcher, want filled\n%s", st, r.stderr)
			}
			rows := keyedRows(t, h, acct.Address, key)
			if len(rows) != 2 || rows[0].key != key+"/approve" || rows[1].key != key {
				t.Fatalf("journal: %+v, want the allowance then one swap under %s", rows, key)
			}
			for _, row := range rows {
				rc, err := rig.d.Client().TransactionReceipt(context.Background(), common.HexToHash(row.hash))
				if err != nil || rc.Status != 1 {
					t.Errorf("%s (%s) is not in a block, or reverted: %v", row.key, row.hash, err)
				}
			}
			if last := lastTx(t, h, id); !strings.EqualFold(last, rows[1].hash) {
				t.Errorf("the order records %s, want the swap %s", last, rows[1].hash)
			}
			if n, err := rig.d.Client().NonceAt(context.Background(), acct.Address, nil); err != nil || n != 2 {
				t.Errorf("the wallet sent %d transactions (%v), want the allowance and the swap", n, err)
			}
			if spent := new(big.Int).Sub(before, heldBalance(t, rig.d, usdc, acct.Address)); spent.Cmp(big.NewInt(50_000_000)) != 0 {
				t.Errorf("the wallet paid %s USDC base units, want one swap's 50000000", spent)
			}
			// The ledger: the killed run's approval superseded and
			// released, the retry's charged; 50 USDC counted once.
			if live := liveSpends(t, h, key, strings.ToLower(usdc.Hex())); live.Cmp(big.NewInt(50_000_000)) != 0 {
				t.Errorf("live USDC spends under %s: %s, want one swap's 50000000", key, live)
			}
			var executing int
			if err := h.QueryRow("SELECT COUNT(*) FROM orders WHERE status = 'executing'").Scan(&executing); err != nil || executing != 0 {
				t.Errorf("%d orders left executing (%v)", executing, err)
			}
		})
	}
}

// A devnet restarted over the same database is a new chain with the same
// id: the first chain's open order, whose trigger holds, is not listed,
// cancelled or executed on the second, whose own order is.
func TestOrdersNotCarriedToANewChain(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and serves two devnets")
	}
	rig := newSharedRig(t)
	policy := swapPolicy(t, rig.d)
	// A devnet's genesis block differs from another's by its timestamp, in
	// whole seconds: start the second in a later second.
	g1, err := rig.d.Client().HeaderByNumber(context.Background(), big.NewInt(0))
	if err != nil {
		t.Fatal(err)
	}
	for time.Now().Unix() <= int64(g1.Time) {
		time.Sleep(10 * time.Millisecond)
	}
	second := devnettest.New(t)
	if g2, err := second.Client().HeaderByNumber(context.Background(), big.NewInt(0)); err != nil || g2.Hash() == g1.Hash() {
		t.Fatalf("the second devnet has the first's genesis block %s (%v): it is not a new chain", g1.Hash(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rpc2, err := second.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := blocks(t, second)
	defer stop()
	for _, db := range rig.databases(t) {
		t.Run(db.name, func(t *testing.T) {
			// Extra accounts are derived by count: the same key on both.
			acct, _ := devnettest.Account(t, rig.d)
			if a2, _ := devnettest.Account(t, second); a2.Address != acct.Address {
				t.Fatalf("the devnets funded different accounts (%s, %s): the test needs one wallet on both", acct.Address, a2.Address)
			}
			h := openWatchDB(t, db.dsn)
			home := t.TempDir()
			first := orderProc{bin: rig.bin, rpc: rig.rpc, key: acct.PrivateKey, policy: policy, dsn: db.dsn, home: home}
			next := first
			next.rpc = rpc2

			old := first.place(t, `{"kind":"stop","from":"USDC","to":"ETH","amount":"20","trigger":"ETH >= 1"}`)
			placedAt := updatedAt(t, h, old)

			r := next.run(t, nil, "orders", "list")
			if r.code != 0 || strings.Contains(r.stdout, fmt.Sprintf("#%d ", old)) || !strings.Contains(r.stdout, "1 open order(s) placed on another chain") {
				t.Fatalf("orders list on the new chain: exit %d\n%s%s\nwant no order #%d and a note of the other chain's", r.code, r.stdout, r.stderr, old)
			}
			r = next.run(t, nil, "orders", "cancel", fmt.Sprint(old))
			if r.code != 2 || !strings.Contains(r.stderr, fmt.Sprintf("no order #%d", old)) {
				t.Fatalf("cancel of the other chain's order on the new chain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}

			// The watcher on the new chain executes its own order; the
			// older one would come first in its pass, were it listed.
			own := next.place(t, `{"kind":"stop","from":"USDC","to":"ETH","amount":"30","trigger":"ETH >= 1"}`)
			r = next.watch(t, nil, func() bool { return orderStatus(t, h, own) == "filled" })
			if r.code != 0 || orderStatus(t, h, own) != "filled" {
				t.Fatalf("the watcher on the new chain: exit %d, own order %s\n%s%s", r.code, orderStatus(t, h, own), r.stdout, r.stderr)
			}
			if st, at := orderStatus(t, h, old), updatedAt(t, h, old); st != "open" || at != placedAt {
				t.Errorf("the first chain's order is %s (updated %d, placed %d) after the new chain's watcher, want open and untouched", st, at, placedAt)
			}
			if rows := keyedRows(t, h, acct.Address, fmt.Sprintf("order-%d-", old)); len(rows) != 0 {
				t.Errorf("the first chain's order has journal rows: %+v", rows)
			}
			if n, _ := second.Client().NonceAt(context.Background(), acct.Address, nil); n != 2 {
				t.Errorf("the wallet sent %d transactions on the new chain, want its own order's allowance and swap", n)
			}
			if n, _ := rig.d.Client().NonceAt(context.Background(), acct.Address, nil); n != 0 {
				t.Errorf("the wallet sent %d transactions on the first chain", n)
			}
			// Back on the first chain, its order is there.
			r = first.run(t, nil, "orders", "list")
			if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("#%d open", old)) || strings.Contains(r.stdout, fmt.Sprintf("#%d ", own)) {
				t.Errorf("orders list on the first chain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
		})
	}
}

// swapPolicy writes a policy under which the devnet's swaps pass: the
// devnet's addresses are the same on every devnet.
func swapPolicy(t *testing.T, d *devnet.Devnet) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "swap-policy.yaml")
	body := fmt.Sprintf(`version: 1
chains: [1337]
tokens:
  USDC: {chain: 1337, address: "%s", decimals: 6}
  DAI: {chain: 1337, address: "%s", decimals: 18}
  WETH: {chain: 1337, address: "%s", decimals: 18}
limits:
  per_tx: {ETH: "1", WETH: "1", USDC: "1000", DAI: "1000"}
  daily: {ETH: "3", WETH: "3", USDC: "5000", DAI: "5000"}
approvals:
  max: {USDC: "1000", DAI: "1000", WETH: "1"}
  unlimited: false
swaps:
  max_slippage_bps: 100
  max_deadline_seconds: 1800
  max_loss_bps: 300
`, d.Address(devnet.USDC).Hex(), d.Address(devnet.DAI).Hex(), d.Address(devnet.WETH).Hex())
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// blocks mines an empty block on d every half second until stopped: a
// served devnet mines only when a transaction arrives, and a watcher acts
// on a trigger that holds at two blocks.
func blocks(t *testing.T, d *devnet.Devnet) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = d.AdjustTime(time.Second) // refused while transactions are pending; the next tick mines
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); wg.Wait() }) }
}

// orderProc runs `mandate` for one wallet on one chain and database.
type orderProc struct {
	bin, rpc, key, policy, dsn, home string
}

func (p orderProc) cmd(extraEnv []string, args ...string) *exec.Cmd {
	env := []string{
		"HOME=" + p.home, "XDG_CONFIG_HOME=" + p.home,
		"MANDATE_RPC_URL=" + p.rpc, "MANDATE_PRIVATE_KEY=" + p.key,
		"MANDATE_POLICY=" + p.policy, "MANDATE_DB=" + p.dsn,
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "MANDATE_") && k != "HOME" && k != "XDG_CONFIG_HOME" {
			env = append(env, kv)
		}
	}
	c := exec.Command(p.bin, args...)
	c.Env, c.Dir = append(env, extraEnv...), p.home
	return c
}

// run runs one command to its end, within watchBound.
func (p orderProc) run(t *testing.T, extraEnv []string, args ...string) procResult {
	t.Helper()
	return p.watchUntil(t, p.cmd(extraEnv, args...), nil)
}

// place places an order with `mandate tools call order_place` and returns
// its id.
func (p orderProc) place(t *testing.T, args string) int64 {
	t.Helper()
	r := p.run(t, nil, "--json", "tools", "call", "order_place", args)
	var out struct {
		OK   bool `json:"ok"`
		Data struct {
			ID int64 `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 || !out.OK || out.Data.ID <= 0 {
		t.Fatalf("order_place: exit %d (%v)\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	return out.Data.ID
}

// watch runs `mandate orders watch` until it exits by itself or done
// reports true, then interrupts it as Ctrl-C would and waits for it.
func (p orderProc) watch(t *testing.T, extraEnv []string, done func() bool) procResult {
	t.Helper()
	return p.watchUntil(t, p.cmd(extraEnv, "orders", "watch"), done)
}

func (p orderProc) watchUntil(t *testing.T, c *exec.Cmd, done func() bool) procResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	deadline := time.After(watchBound)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-exited:
			break wait
		case <-tick.C:
			if done != nil && done() {
				_ = c.Process.Signal(os.Interrupt)
				select {
				case err = <-exited:
				case <-time.After(watchBound):
					_ = c.Process.Kill()
					<-exited
					t.Fatalf("%s did not stop within %s of an interrupt\n%s%s", strings.Join(c.Args[1:], " "), watchBound, stdout.String(), stderr.String())
				}
				break wait
			}
		case <-deadline:
			_ = c.Process.Kill()
			<-exited
			t.Fatalf("%s did not finish within %s\n%s%s", strings.Join(c.Args[1:], " "), watchBound, stdout.String(), stderr.String())
		}
	}
	r := procResult{code: c.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	if ws, ok := c.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.signal = ws.Signal()
	}
	if exit := (*exec.ExitError)(nil); err != nil && !errors.As(err, &exit) {
		t.Fatalf("%s: %v", strings.Join(c.Args[1:], " "), err)
	}
	return r
}

// openWatchDB opens the test's database directly, to read what the processes
// wrote and to move an order's time back.
func openWatchDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	driver, src := "pgx", dsn
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		driver, src = "sqlite", path+"?_pragma=busy_timeout(10000)"
	}
	h, err := sql.Open(driver, src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func orderStatus(t *testing.T, h *sql.DB, id int64) string {
	t.Helper()
	var s string
	if err := h.QueryRow("SELECT status FROM orders WHERE id = $1", id).Scan(&s); err != nil {
		t.Fatalf("order %d: %v", id, err)
	}
	return s
}

func updatedAt(t *testing.T, h *sql.DB, id int64) int64 {
	t.Helper()
	var ns int64
	if err := h.QueryRow("SELECT updated_at_ns FROM orders WHERE id = $1", id).Scan(&ns); err != nil {
		t.Fatalf("order %d: %v", id, err)
	}
	return ns
}

func lastTx(t *testing.T, h *sql.DB, id int64) string {
	t.Helper()
	var s string
	if err := h.QueryRow("SELECT last_tx FROM orders WHERE id = $1", id).Scan(&s); err != nil {
		t.Fatalf("order %d: %v", id, err)
	}
	return s
}

// backdate moves an order's last update back by d, as if d had passed.
func backdate(t *testing.T, h *sql.DB, id int64, d time.Duration) {
	t.Helper()
	if _, err := h.Exec("UPDATE orders SET updated_at_ns = updated_at_ns - $1 WHERE id = $2", d.Nanoseconds(), id); err != nil {
		t.Fatal(err)
	}
}

type keyedRow struct{ key, hash, status string }

// keyedRows lists the wallet's journal rows whose key starts with prefix,
// in the order they were journaled.
func keyedRows(t *testing.T, h *sql.DB, wallet common.Address, prefix string) []keyedRow {
	t.Helper()
	rs, err := h.Query("SELECT idem_key, hash, status FROM tx_journal WHERE sender_key = $1 AND idem_key LIKE $2 ORDER BY id",
		strings.ToLower(wallet.Hex()), prefix+"%")
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []keyedRow
	for rs.Next() {
		var r keyedRow
		if err := rs.Scan(&r.key, &r.hash, &r.status); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// liveSpends sums the spends, not voided, that approvals under key charged
// to the bucket of token (any scope).
func liveSpends(t *testing.T, h *sql.DB, key, token string) *big.Int {
	t.Helper()
	rs, err := h.Query(`SELECT s.amount, s.bucket FROM spends s JOIN decisions d ON d.id = s.decision_id
		WHERE d.idem_key = $1 AND s.voided_at_ns IS NULL`, key)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	sum := new(big.Int)
	for rs.Next() {
		var amount, bucket string
		if err := rs.Scan(&amount, &bucket); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(strings.ToLower(bucket), "/"+token) {
			continue
		}
		v, ok := new(big.Int).SetString(amount, 10)
		if !ok {
			t.Fatalf("spend amount %q", amount)
		}
		sum.Add(sum, v)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return sum
}

func heldBalance(t *testing.T, d *devnet.Devnet, token, owner common.Address) *big.Int {
	t.Helper()
	data := append(crypto.Keccak256([]byte("balanceOf(address)"))[:4], common.LeftPadBytes(owner.Bytes(), 32)...)
	c, err := d.Client().CallContract(context.Background(), ethereum.CallMsg{To: &token, Data: data}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return new(big.Int).SetBytes(c)
}
