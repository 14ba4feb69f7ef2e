//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/mandatehq/mandate/memory/memtest"
)

// A database or node that fails under a real `mandate tools call
// wallet_transfer` process, at start or in the middle of the call: the
// process exits 1 (never 2, never by a signal) with one line on stderr
// saying what failed, where, and what to do, besides the line giving the
// idempotency key the CLI made. The database is intact afterwards: no
// charge without its journal row, nothing journaled by a call that was
// refused at start, and the same call rerun with the printed key once the
// fault is gone pays the recipient exactly once.
//
// Faults mid-run are injected while a proxy in front of the devnet holds
// one of the process's RPC calls: eth_estimateGas (before anything is
// charged or signed) or eth_sendRawTransaction (charged, signed and
// journaled, not yet sent). A read-only file is a chmod, which binds root
// too because the process is started without CAP_DAC_OVERRIDE; a full
// disk is RLIMIT_FSIZE set on the running process, which makes every
// write to a file fail as a full disk does; a read-only file system is the
// immutable attribute, where the test may set it.
func TestInfrastructureFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	rig := newSharedRig(t)

	t.Run("database read-only at start", func(t *testing.T) {
		w := rig.wallet(t, sqliteDSN(t))
		w.mustSend(t, 1)
		path := w.dbPath()
		before := fileSum(t, path)
		readOnly(t, path)
		r := w.call(t, 2, callOpts{})
		r.wantFailure(t, "is read-only", path, "MANDATE_DB")
		if fileSum(t, path) != before {
			t.Fatal("the read-only database file changed")
		}
		writable(t, path)
		w.settled(t)
	})

	t.Run("database read-only before the charge", func(t *testing.T) {
		w := rig.wallet(t, sqliteDSN(t))
		w.mustSend(t, 1)
		path := w.dbPath()
		r := w.call(t, 2, callOpts{hold: "eth_estimateGas", fault: func(int) { readOnly(t, path) }})
		r.wantFailure(t, path, "MANDATE_DB", r.key)
		writable(t, path)
		w.settled(t)
		w.retry(t, r)
	})

	t.Run("database read-only after the charge", func(t *testing.T) {
		w := rig.wallet(t, sqliteDSN(t))
		w.mustSend(t, 1)
		path := w.dbPath()
		r := w.call(t, 2, callOpts{hold: "eth_sendRawTransaction", fault: func(int) { readOnly(t, path) }})
		r.wantNoCrash(t)
		writable(t, path)
		w.settled(t)
		w.retry(t, r)
	})

	t.Run("disk full before the charge", func(t *testing.T) {
		w := rig.wallet(t, sqliteDSN(t))
		w.mustSend(t, 1)
		r := w.call(t, 2, callOpts{hold: "eth_estimateGas", fault: func(pid int) { noFileWrites(t, pid) }})
		r.wantFailure(t, w.dbPath(), "MANDATE_DB", r.key)
		w.settled(t)
		w.retry(t, r)
	})

	t.Run("disk full after the charge", func(t *testing.T) {
		w := rig.wallet(t, sqliteDSN(t))
		w.mustSend(t, 1)
		r := w.call(t, 2, callOpts{hold: "eth_sendRawTransaction", fault: func(pid int) { noFileWrites(t, pid) }})
		r.wantNoCrash(t)
		w.settled(t)
		w.retry(t, r)
	})

	// The file system refusing writes to files the process has open (as
	// after a remount read-only): SQLite's WAL index, a shared mapping,
	// then faulted with SIGBUS on the next store, and the Go runtime died
	// of it, most often in the checkpoint on close after "Sent".
	t.Run("file system read-only under the process", func(t *testing.T) {
		for i := range 4 {
			w := rig.wallet(t, sqliteDSN(t))
			w.mustSend(t, 1)
			dir := filepath.Dir(w.dbPath())
			hold := "eth_sendRawTransaction"
			if i%2 == 1 {
				hold = "eth_estimateGas"
			}
			r := w.call(t, 2, callOpts{hold: hold, fault: func(int) { immutable(t, dir) }})
			r.wantNoCrash(t)
			if hold == "eth_estimateGas" {
				r.wantFailure(t, w.dbPath(), r.key)
			}
			mutable(t, dir)
			w.settled(t)
			w.retry(t, r)
		}
	})

	t.Run("RPC down at start", func(t *testing.T) {
		w := rig.wallet(t, sqliteDSN(t))
		w.mustSend(t, 1)
		r := w.call(t, 2, callOpts{rpc: closedURL(t)})
		r.wantFailure(t, "not reachable", "MANDATE_RPC_URL")
		w.settled(t)
	})

	t.Run("RPC down before the charge", func(t *testing.T) {
		w := rig.wallet(t, sqliteDSN(t))
		w.mustSend(t, 1)
		var p *holdProxy
		r := w.call(t, 2, callOpts{hold: "eth_estimateGas", proxy: &p, down: true})
		r.wantFailure(t, "not reachable", "MANDATE_RPC_URL")
		if p.Calls("eth_sendRawTransaction") != 0 {
			t.Fatal("a transaction was sent through a node that was down")
		}
		w.settled(t)
		w.retry(t, r)
	})

	t.Run("PostgreSQL down", func(t *testing.T) {
		w := rig.wallet(t, "postgres://mandate:secret@"+closedAddr(t)+"/mandate?sslmode=disable")
		r := w.call(t, 1, callOpts{})
		r.wantFailure(t, "is unreachable", "MANDATE_DB", "connection refused")
		if strings.Contains(r.stderr, "secret") {
			t.Fatalf("the message shows the database password: %s", r.stderr)
		}
	})

	t.Run("PostgreSQL read-only", func(t *testing.T) {
		dsn, ok := memtest.PostgresDSN(t)
		if !ok {
			t.Skip("no PostgreSQL")
		}
		w := rig.wallet(t, dsn)
		w.mustSend(t, 1)
		setPostgresReadOnly(t, dsn, true)
		r := w.call(t, 2, callOpts{})
		r.wantFailure(t, "is read-only", "MANDATE_DB", r.key)
		setPostgresReadOnly(t, dsn, false)
		w.settled(t)
		w.retry(t, r)
	})

	t.Run("json", func(t *testing.T) {
		w := rig.wallet(t, sqliteDSN(t))
		w.mustSend(t, 1)
		readOnly(t, w.dbPath())
		r := w.call(t, 2, callOpts{json: true})
		var out struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
			Fault string `json:"fault"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 1 || out.OK || out.Fault != "database_read_only" ||
			!strings.Contains(out.Error, "read-only") || strings.TrimSpace(r.stderr) != "" {
			t.Fatalf("--json with a read-only database: exit %d, stdout %q (%v), stderr %q; want exit 1, one JSON object with fault database_read_only, nothing on stderr", r.code, r.stdout, err, r.stderr)
		}
	})
}

// Without an idempotency key in its arguments, `tools call` of a tool that
// takes one makes one, says it on stderr before anything is sent (under
// --json too, where stdout stays one JSON object that also carries it),
// and rerunning the call with that key sends nothing again. A key given
// is used as it is; a dry run and a tool that takes no key get none.
func TestToolsCallMakesIdempotencyKey(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs real processes")
	}
	rig := newSharedRig(t)
	w := rig.wallet(t, sqliteDSN(t))

	r := w.call(t, 1, callOpts{json: true})
	var out struct {
		OK   bool   `json:"ok"`
		Key  string `json:"idempotency_key"`
		Data struct {
			Intent struct {
				Key string `json:"idempotency_key"`
			} `json:"intent"`
			Tx reportedTx `json:"tx"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 || !out.OK {
		t.Fatalf("transfer: exit %d, stdout %q (%v), stderr %q", r.code, r.stdout, err, r.stderr)
	}
	if !regexp.MustCompile(`^cli-[0-9a-f]{16}$`).MatchString(r.key) || out.Key != r.key || out.Data.Intent.Key != r.key {
		t.Fatalf("key on stderr %q, in the output %q, in the intent %q; want one cli-<16 hex> key in all three\nstderr: %s", r.key, out.Key, out.Data.Intent.Key, r.stderr)
	}
	want := fmt.Sprintf(`mandate: idempotency key %s; to retry this exact call safely, rerun it with "idempotency_key":"%s"`, r.key, r.key)
	if strings.TrimSpace(r.stderr) != want {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}
	if again := w.call(t, 2, callOpts{}); again.key == r.key {
		t.Fatalf("two calls got the same key %s", r.key)
	}

	retry := w.run(t, "tools", "call", "wallet_transfer", w.args(1, r.key))
	if retry.code != 0 || retry.key != "" || strings.Contains(retry.stderr, "idempotency key cli-") {
		t.Fatalf("rerun with the key: exit %d, stderr %q; want exit 0 and no new key", retry.code, retry.stderr)
	}
	if got := w.received(t); got.Cmp(big.NewInt(3_000_000)) != 0 {
		t.Fatalf("recipient holds %s USDC base units after 1 + 2 and a rerun of the first, want 3000000", got)
	}

	dry := w.run(t, "tools", "call", "wallet_transfer", w.args(5, ""), "--dry-run")
	noKey := w.run(t, "tools", "call", "token_approve", fmt.Sprintf(`{"token":"USDC","spender":"%s","amount":"1"}`, w.to.Hex()))
	for name, p := range map[string]infraResult{"dry run": dry, "token_approve": noKey} {
		if strings.Contains(p.stderr, "idempotency key") || strings.Contains(p.stderr, "idempotency_key") {
			t.Errorf("%s made a key: %s", name, p.stderr)
		}
	}
	if dry.code != 0 {
		t.Fatalf("dry run: exit %d\n%s", dry.code, dry.stderr)
	}
}

func sqliteDSN(t *testing.T) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "db", "mandate.db")
}

func (w *sharedWallet) dbPath() string { return strings.TrimPrefix(w.dsn, "sqlite:") }

// args are wallet_transfer's arguments paying amount USDC, with key if
// not empty.
func (w *sharedWallet) args(amount int64, key string) string {
	k := ""
	if key != "" {
		k = `,"idempotency_key":"` + key + `"`
	}
	return fmt.Sprintf(`{"to":"%s","token":"USDC","amount":"%d"%s}`, w.to.Hex(), amount, k)
}

type callOpts struct {
	json  bool
	rpc   string        // MANDATE_RPC_URL instead of the devnet's
	hold  string        // an RPC method to hold at its first call, through a proxy
	proxy **holdProxy   // set to that proxy
	fault func(pid int) // what happens while the call is held; then it goes through
	down  bool          // instead, the node goes down while the call is held
}

type infraResult struct {
	procResult
	amount int64
	key    string // the idempotency key the CLI printed, if any
}

// call runs one `mandate tools call wallet_transfer` of amount USDC and
// counts the amount as the one the recipient is owed if it goes through.
func (w *sharedWallet) call(t *testing.T, amount int64, o callOpts) infraResult {
	t.Helper()
	var p *holdProxy
	rpc := w.rig.rpc
	switch {
	case o.rpc != "":
		rpc = o.rpc
	case o.hold != "":
		p = newHoldProxy(t, w.rig.rpc, o.hold)
		rpc = p.url()
		if o.proxy != nil {
			*o.proxy = p
		}
	}
	args := []string{"tools", "call", "wallet_transfer", w.args(amount, "")}
	if o.json {
		args = append([]string{"--json"}, args...)
	}
	cmd := w.command(rpc, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr // pipes: a file size limit does not apply to them
	if err := startWithoutDACOverride(cmd); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var waitErr error
	if p != nil {
		select {
		case <-p.held:
			if o.down {
				p.down()
			} else {
				o.fault(cmd.Process.Pid)
				p.release()
			}
			waitErr = <-exited
		case waitErr = <-exited:
			t.Fatalf("the process exited before it called %s: %v\n%s%s", o.hold, waitErr, stdout.String(), stderr.String())
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("the process did not call %s within two minutes\n%s%s", o.hold, stdout.String(), stderr.String())
		}
	} else {
		waitErr = <-exited
	}
	r := infraResult{procResult: result(cmd, waitErr, &stdout, &stderr), amount: amount}
	if m := keyLine.FindStringSubmatch(r.stderr); m != nil {
		r.key = m[1]
	}
	w.amounts = append(w.amounts, amount)
	return r
}

// run runs mandate with args against the devnet, restrictions and all.
func (w *sharedWallet) run(t *testing.T, args ...string) infraResult {
	t.Helper()
	cmd := w.command(w.rig.rpc, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := startWithoutDACOverride(cmd); err != nil {
		t.Fatal(err)
	}
	r := infraResult{procResult: result(cmd, cmd.Wait(), &stdout, &stderr)}
	if m := keyLine.FindStringSubmatch(r.stderr); m != nil {
		r.key = m[1]
	}
	return r
}

func (w *sharedWallet) command(rpc string, args ...string) *exec.Cmd {
	env := []string{
		"HOME=" + w.home, "XDG_CONFIG_HOME=" + w.home,
		"MANDATE_RPC_URL=" + rpc, "MANDATE_PRIVATE_KEY=" + w.key,
		"MANDATE_POLICY=" + w.rig.policy, "MANDATE_DB=" + w.dsn,
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "MANDATE_") && k != "HOME" && k != "XDG_CONFIG_HOME" {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(w.rig.bin, args...)
	cmd.Env, cmd.Dir = env, w.home
	return cmd
}

func result(cmd *exec.Cmd, err error, stdout, stderr *bytes.Buffer) procResult {
	r := procResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		r.signal = ws.Signal()
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		r.stderr += "\nwait: " + err.Error()
	}
	return r
}

// mustSend makes a transfer that has to go through, which also creates the
// database and its schema.
func (w *sharedWallet) mustSend(t *testing.T, amount int64) {
	t.Helper()
	if r := w.call(t, amount, callOpts{}); r.code != 0 {
		t.Fatalf("transfer before the fault: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// wantNoCrash: the process ended by exiting 0 or 1, not by a signal or the
// Go runtime's fatal error (exit 2), and a failure said what it was in one
// line.
func (r infraResult) wantNoCrash(t *testing.T) {
	t.Helper()
	crashed := r.signal != 0 || r.code == 2 || strings.Contains(r.stderr, "fatal error") ||
		strings.Contains(r.stderr, "SIGBUS") || strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ")
	if crashed || (r.code != 0 && r.code != 1) {
		t.Fatalf("process crashed: exit %d, signal %v\nstdout: %s\nstderr: %s", r.code, r.signal, r.stdout, r.stderr)
	}
	if r.code == 1 {
		r.wantFailure(t)
	}
}

// wantFailure: exit 1 and, besides the key's line, one line on stderr
// that starts with "mandate: " and holds every one of words.
func (r infraResult) wantFailure(t *testing.T, words ...string) {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		if !keyLine.MatchString(l) {
			lines = append(lines, l)
		}
	}
	ok := r.code == 1 && r.signal == 0 && len(lines) == 1 && strings.HasPrefix(lines[0], "mandate: ")
	for _, w := range words {
		ok = ok && strings.Contains(lines[0], w)
	}
	if !ok {
		t.Fatalf("exit %d, signal %v, stderr:\n%s\nwant exit 1 and one line (besides the key's) holding %q", r.code, r.signal, r.stderr, words)
	}
	t.Logf("stderr: %s", lines[0])
}

// settled checks what the database and the chain hold: every live charge
// has its journal row, every journaled transaction its charge, the
// recipient got exactly what the calls that exited 0 paid (a failed call
// may not have paid; its retry settles it), and SQLite finds its file
// intact.
func (w *sharedWallet) settled(t *testing.T) {
	t.Helper()
	db := w.open(t)
	defer db.Close()
	wallet := strings.ToLower(w.addr.Hex())
	var orphanCharges, orphanRows int
	q := `SELECT COUNT(*) FROM decisions d WHERE d.wallet_key = $1 AND d.decision = 'approve' AND d.released_at_ns IS NULL
		AND NOT EXISTS (SELECT 1 FROM tx_journal j WHERE j.approval_id = d.approval_id)`
	if err := db.QueryRow(q, wallet).Scan(&orphanCharges); err != nil {
		t.Fatal(err)
	}
	q = `SELECT COUNT(*) FROM tx_journal j WHERE j.sender_key = $1 AND j.approval_id <> ''
		AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.approval_id = j.approval_id AND d.decision = 'approve')`
	if err := db.QueryRow(q, wallet).Scan(&orphanRows); err != nil {
		t.Fatal(err)
	}
	if orphanCharges != 0 || orphanRows != 0 {
		t.Fatalf("%d live charges without a journal row, %d journal rows without their approval", orphanCharges, orphanRows)
	}
	if strings.HasPrefix(w.dsn, "sqlite:") {
		var ok string
		if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
			t.Fatalf("integrity check: %q, %v", ok, err)
		}
	}
}

// retry reruns a failed or faulted call with the key it printed, nothing
// broken now: it exits 0 and the recipient holds every amount paid so
// far exactly once.
func (w *sharedWallet) retry(t *testing.T, r infraResult) {
	t.Helper()
	if r.key == "" {
		t.Fatalf("the call printed no idempotency key to retry with:\n%s", r.stderr)
	}
	again := w.run(t, "tools", "call", "wallet_transfer", w.args(r.amount, r.key))
	if again.code != 0 {
		t.Fatalf("retry with key %s: exit %d\n%s%s", r.key, again.code, again.stdout, again.stderr)
	}
	sum := big.NewInt(0)
	for _, a := range w.amounts {
		sum.Add(sum, big.NewInt(a*1_000_000))
	}
	if got := w.received(t); got.Cmp(sum) != 0 {
		t.Fatalf("recipient holds %s USDC base units after the retry, want %s", got, sum)
	}
	w.settled(t)
}

func (w *sharedWallet) open(t *testing.T) *sql.DB {
	t.Helper()
	driver, src := "pgx", w.dsn
	if path, ok := strings.CutPrefix(w.dsn, "sqlite:"); ok {
		driver, src = "sqlite", path
	}
	db, err := sql.Open(driver, src)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// readOnly takes write permission away from the database's files and
// directory; writable gives it back.
func readOnly(t *testing.T, path string) { chmodDB(t, path, 0o400, 0o500) }
func writable(t *testing.T, path string) { chmodDB(t, path, 0o600, 0o700) }

func chmodDB(t *testing.T, path string, file, dir os.FileMode) {
	t.Helper()
	matches, _ := filepath.Glob(path + "*")
	for _, f := range matches {
		if err := os.Chmod(f, file); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Dir(path), dir); err != nil {
		t.Fatal(err)
	}
	if dir&0o200 == 0 {
		t.Cleanup(func() { _ = os.Chmod(filepath.Dir(path), 0o700) })
	}
}

// Linux capabilities and prctl/ioctl numbers the restrictions below use.
const (
	prCapbsetDrop    = 24
	capDACOverride   = 1
	capDACReadSearch = 2
	capFowner        = 3
	fsIocGetflags    = 0x80086601
	fsIocSetflags    = 0x40086602
	fsImmutableFl    = 0x10
)

// startWithoutDACOverride starts cmd so that file permissions bind it even
// when the test runs as root (as CI does): the process is started from an
// OS thread whose capability bounding set lacks CAP_DAC_OVERRIDE,
// CAP_DAC_READ_SEARCH and CAP_FOWNER, so the root it runs as after exec
// holds none of them. That thread is never unlocked, so it exits with its
// goroutine, and the Go runtime starts no other thread from a locked one:
// the rest of the test keeps its capabilities.
func startWithoutDACOverride(cmd *exec.Cmd) error {
	if os.Geteuid() != 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		for _, c := range []uintptr{capDACOverride, capDACReadSearch, capFowner} {
			if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prCapbsetDrop, c, 0); e != 0 {
				errc <- fmt.Errorf("drop capability %d for the mandate process: %w (the test needs CAP_SETPCAP when run as root)", c, e)
				return
			}
		}
		errc <- cmd.Start()
	}()
	return <-errc
}

// noFileWrites sets the running process's file size limit to 0: every
// write to a regular file fails (EFBIG; the Go runtime ignores SIGXFSZ),
// as on a full disk. Pipes, and so its stdout and stderr here, are not
// limited.
func noFileWrites(t *testing.T, pid int) {
	t.Helper()
	var old syscall.Rlimit
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE, 0, uintptr(unsafe.Pointer(&old)), 0, 0); e != 0 {
		t.Fatalf("read the file size limit of process %d: %v", pid, e)
	}
	lim := syscall.Rlimit{Cur: 0, Max: old.Max}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE, uintptr(unsafe.Pointer(&lim)), 0, 0, 0); e != 0 {
		t.Fatalf("limit the file size of process %d: %v", pid, e)
	}
}

// immutable sets the immutable attribute on dir and the files in it: no
// process, root included, can write them, even through a descriptor it
// already holds, as on a file system remounted read-only. The test is
// skipped where the attribute cannot be set (no CAP_LINUX_IMMUTABLE, a
// file system without it). mutable clears it; a cleanup does too.
func immutable(t *testing.T, dir string) {
	t.Helper()
	t.Cleanup(func() { setImmutable(dir, false) })
	if err := setImmutable(dir, true); err != nil {
		setImmutable(dir, false)
		t.Skipf("cannot make the database's files immutable here: %v", err)
	}
}

func mutable(t *testing.T, dir string) {
	t.Helper()
	if err := setImmutable(dir, false); err != nil {
		t.Fatal(err)
	}
}

func setImmutable(dir string, on bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	paths := []string{dir}
	for _, e := range entries {
		paths = append(paths, filepath.Join(dir, e.Name()))
	}
	var errs []error
	for _, p := range paths {
		errs = append(errs, setFlag(p, fsImmutableFl, on))
	}
	return errors.Join(errs...)
}

func setFlag(path string, flag int32, on bool) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var flags int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocGetflags, uintptr(unsafe.Pointer(&flags))); e != 0 {
		return fmt.Errorf("%s: get flags: %w", path, e)
	}
	if on {
		flags |= flag
	} else {
		flags &^= flag
	}
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocSetflags, uintptr(unsafe.Pointer(&flags))); e != 0 {
		return fmt.Errorf("%s: set flags: %w", path, e)
	}
	return nil
}

func setPostgresReadOnly(t *testing.T, dsn string, on bool) {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var name string
	if err := conn.QueryRowContext(ctx, "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	// This session is read-only too once the database is.
	if _, err := conn.ExecContext(ctx, "SET default_transaction_read_only = off"); err != nil {
		t.Fatal(err)
	}
	stmt := fmt.Sprintf(`ALTER DATABASE %q SET default_transaction_read_only = %t`, name, on)
	if _, err := conn.ExecContext(ctx, stmt); err != nil {
		t.Fatal(err)
	}
}

// closedAddr is a local address nothing listens on: connecting to it is
// refused.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func closedURL(t *testing.T) string { return "http://" + closedAddr(t) }

// holdProxy forwards JSON-RPC over HTTP to a node and holds the first
// call of one method until the test has done what it wanted meanwhile:
// then it forwards that call (release) or goes down, refusing connections
// from then on and dropping the held one unanswered (down).
type holdProxy struct {
	srv      *httptest.Server
	upstream string
	method   string
	held     chan struct{}
	resume   chan bool

	mu    sync.Mutex
	armed bool
	calls map[string]int
}

func newHoldProxy(t *testing.T, upstream, method string) *holdProxy {
	p := &holdProxy{upstream: upstream, method: method, held: make(chan struct{}), resume: make(chan bool, 1), armed: true, calls: map[string]int{}}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		select {
		case p.resume <- false:
		default:
		}
		p.srv.Close()
	})
	return p
}

func (p *holdProxy) url() string { return p.srv.URL }
func (p *holdProxy) release()    { p.resume <- true }

func (p *holdProxy) down() {
	p.srv.Listener.Close()
	p.srv.CloseClientConnections()
	p.resume <- false
}

// Calls counts the calls of method that reached the proxy.
func (p *holdProxy) Calls(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[method]
}

func (p *holdProxy) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	hold := false
	p.mu.Lock()
	for _, m := range methods(body) {
		p.calls[m]++
		if m == p.method && p.armed {
			p.armed, hold = false, true
		}
	}
	p.mu.Unlock()
	if hold {
		close(p.held)
		if !<-p.resume {
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
				}
			}
			return
		}
	}
	resp, err := http.Post(p.upstream, "application/json", bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// methods are the JSON-RPC methods a request body calls, batch or not.
func methods(body []byte) []string {
	type call struct {
		Method string `json:"method"`
	}
	var one call
	if json.Unmarshal(body, &one) == nil {
		return []string{one.Method}
	}
	var batch []call
	_ = json.Unmarshal(body, &batch)
	out := make([]string, len(batch))
	for i, c := range batch {
		out[i] = c.Method
	}
	return out
}
