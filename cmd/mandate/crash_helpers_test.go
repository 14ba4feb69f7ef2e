package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/mandatehq/mandate/chains/evm/devnet"
	"github.com/mandatehq/mandate/internal/rpcfault"
)

// convergeBound is how long any one process of a trial may run: a rerun
// that has not converged by then is reported as hung, with what it printed.
const convergeBound = 60 * time.Second

// crashRig is the shared rig (binary, served devnet, policy) and the
// random source of kill moments, which concurrent trials share.
type crashRig struct {
	*sharedRig
	mu  sync.Mutex
	rng *rand.Rand
}

func (r *crashRig) intN(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rng.IntN(n)
}

// crashCase is the rig on one database, with a connection for reading the
// ledger and journal directly and the typical time of a clean transfer.
type crashCase struct {
	rig     *crashRig
	db      database
	sql     *sql.DB
	typical time.Duration
	seq     int
	seqMu   sync.Mutex
}

// calibrate opens the database for reading and runs clean trials
// (nothing killed, nothing broken), workers at a time as the trials will
// run, which must all be correct: they measure how long a transfer takes
// here, and random kills land within that.
func (r *crashRig) calibrate(tb testing.TB, db database, workers int) *crashCase {
	tb.Helper()
	driver, src := "pgx", db.dsn
	if path, ok := strings.CutPrefix(db.dsn, "sqlite:"); ok {
		driver, src = "sqlite", path+"?_pragma=busy_timeout(10000)"
	}
	h, err := sql.Open(driver, src)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	c := &crashCase{rig: r, db: db, sql: h}
	clean := make([]trialPlan, max(workers, 3))
	for i := range clean {
		clean[i] = trialPlan{name: "clean run"}
	}
	var took []time.Duration
	for _, res := range c.runAll(tb, clean, workers) {
		if len(res.problems) > 0 {
			tb.Fatalf("a clean transfer and its rerun, nothing killed or broken, already end wrong: %v\n%s", res.problems, res.transcript())
		}
		took = append(took, res.firstTook)
	}
	// The median: a transfer whose first receipt poll comes before the
	// block waits a whole poll interval, which would stretch the window
	// over time where there is nothing left to kill.
	c.typical = durationPercentile(took, 50)
	tb.Logf("%s: a clean transfer takes %s (median); random kills land in [0, %s)",
		db.name, c.typical.Round(time.Millisecond), c.killWindow().Round(time.Millisecond))
	return c
}

// killWindow is where random kills land: a little past a clean
// transfer's time, so that some first runs finish and the rerun only
// answers.
func (c *crashCase) killWindow() time.Duration { return c.typical * 5 / 4 }

func (c *crashCase) randomMoment() time.Duration {
	return time.Duration(c.rig.intN(int(c.killWindow()))) + 1
}

// trialPlan is how a trial's first run is disturbed: killed after
// killAfter, killed at the named crash point, or run through the fault
// proxy with fault on its method's calls. The zero plan disturbs nothing.
type trialPlan struct {
	name      string
	killAfter time.Duration
	crashAt   string
	fault     *rpcFault
	nth       int // with fault: only the nth call of its method (0: every call)
}

// trialProblem is one way a trial ended wrong, with its class.
type trialProblem struct{ class, msg string }

func (p trialProblem) String() string { return p.msg }

// outcomeClasses, in the order a trial's class is taken from its problems.
var outcomeClasses = []string{
	"correct", "rerun-hung", "rerun-failed", "paid-twice", "unpaid", "paid-wrong",
	"charge-wrong", "double-mined", "nonce-gap", "row-open", "journal-wrong", "chain-nonce",
	"first-run-crashed", "fault-not-fired", "harness-error",
}

type trialResult struct {
	key          string
	amount       int64
	wallet, to   common.Address
	first, rerun procResult
	firstTook    time.Duration
	rerunTook    time.Duration
	killed       bool // the first run died of SIGKILL, ours or its crash point's
	rerunHung    bool
	faultFired   int
	calls        map[string]int // through the proxy: calls of the faulted methods
	stage        string         // how far the first run got, see stage
	problems     []trialProblem
}

// converged says the rerun ended on its own with exit 0, whatever the
// checks found: its time is the time a retry takes to converge.
func (r trialResult) converged() bool {
	return !r.rerunHung && r.rerun.signal == 0 && r.rerun.code == 0
}

func (r trialResult) class() string {
	for _, cl := range outcomeClasses {
		for _, p := range r.problems {
			if p.class == cl {
				return cl
			}
		}
	}
	return "correct"
}

// transcript is what both runs did, for a failure's log.
func (r trialResult) transcript() string {
	rerun := describeRun(r.rerun)
	if r.rerunHung {
		rerun = fmt.Sprintf("hung, killed at the %s bound\n    stdout: %s\n    stderr: %s", convergeBound, outputTail(r.rerun.stdout), outputTail(r.rerun.stderr))
	}
	return fmt.Sprintf("  wallet %s, recipient %s, key %q, amount %d USDC\n  first run (%s, left %s): %s\n  rerun (%s): %s",
		r.wallet.Hex(), r.to.Hex(), r.key, r.amount, r.firstTook.Round(time.Millisecond), r.stage, describeRun(r.first),
		r.rerunTook.Round(time.Millisecond), rerun)
}

func describeRun(p procResult) string {
	how := fmt.Sprintf("exit %d", p.code)
	if p.signal != 0 {
		how = "died of " + signalName(p.signal)
	}
	return fmt.Sprintf("%s\n    stdout: %s\n    stderr: %s", how, outputTail(p.stdout), outputTail(p.stderr))
}

func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGKILL:
		return "SIGKILL"
	case syscall.SIGBUS:
		return "SIGBUS"
	case syscall.SIGSEGV:
		return "SIGSEGV"
	case syscall.SIGABRT:
		return "SIGABRT"
	}
	return fmt.Sprintf("signal %d (%s)", int(s), s)
}

func outputTail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 1500 {
		s = "…" + s[len(s)-1500:]
	}
	return strings.ReplaceAll(s, "\n", "\n            ")
}

// run is one trial on a fresh wallet and recipient: the first run of
// `mandate --json tools call wallet_transfer` under the plan's
// disturbance, then the same command, same key, undisturbed, then the
// checks of the end state. It never stops the test: everything wrong is in
// the result's problems, so concurrent trials can run it; w comes from
// sharedRig.wallet, on the test's goroutine (it may stop the test).
func (c *crashCase) run(plan trialPlan, w *sharedWallet) trialResult {
	c.seqMu.Lock()
	c.seq++
	seq := c.seq
	c.seqMu.Unlock()
	res := trialResult{
		key:    fmt.Sprintf("crash-%s-%d-%08x", c.db.name, seq, c.rig.intN(1<<30)),
		amount: int64(1 + c.rig.intN(100)), // the policy's per_tx limit is 100 USDC
		wallet: w.addr, to: w.to,
	}
	args := fmt.Sprintf(`{"to":"%s","token":"USDC","amount":"%d","idempotency_key":"%s"}`, w.to.Hex(), res.amount, res.key)

	rpcURL := c.rig.rpc
	var proxy *rpcfault.Proxy
	var rule *rpcfault.Rule
	if plan.fault != nil {
		p, err := rpcfault.New(c.rig.rpc)
		if err != nil {
			res.problems = append(res.problems, trialProblem{"harness-error", "fault proxy: " + err.Error()})
			return res
		}
		defer p.Close()
		proxy, rpcURL = p, p.URL()
	}
	if f := plan.fault; f != nil {
		if plan.nth > 0 {
			rule = proxy.On(f.method, f.fault, rpcfault.Skip(plan.nth-1), rpcfault.Times(1))
		} else {
			rule = proxy.On(f.method, f.fault)
		}
	}
	var extra []string
	if plan.crashAt != "" {
		extra = append(extra, "MANDATE_TEST_CRASH_AT="+plan.crashAt)
	}
	var firstHung bool
	res.first, res.firstTook, firstHung = w.runCLI(rpcURL, args, extra, plan.killAfter)
	if rule != nil {
		res.faultFired = rule.Fired()
	}
	if proxy != nil {
		res.calls = map[string]int{}
		for _, f := range rpcFaults {
			res.calls[f.method] = proxy.Calls(f.method)
		}
	}
	res.killed = res.first.signal == syscall.SIGKILL && !firstHung
	switch {
	case firstHung:
		res.problems = append(res.problems, trialProblem{"first-run-crashed",
			fmt.Sprintf("the first run did not finish within %s: it hung instead of failing with a message", convergeBound)})
	case res.first.signal != 0 && !res.killed:
		res.problems = append(res.problems, trialProblem{"first-run-crashed", "the first run died of " + signalName(res.first.signal)})
	case plan.crashAt == "" && plan.killAfter == 0 && res.first.code == exitUsage:
		res.problems = append(res.problems, trialProblem{"first-run-crashed",
			"the first run exited 2 (bad input) for a failure that is not the input's: " + lastOutputLine(res.first.stderr)})
	}
	if plan.crashAt != "" && res.killed && !strings.Contains(res.first.stderr, "crash point reached") {
		res.problems = append(res.problems, trialProblem{"harness-error", "the first run died of SIGKILL without reaching its crash point"})
	}
	if plan.fault != nil && res.faultFired == 0 {
		res.problems = append(res.problems, trialProblem{"fault-not-fired",
			fmt.Sprintf("the first run made %d %s calls, so the fault never fired: this variant tested nothing", res.calls[plan.fault.method], plan.fault.method)})
	}

	res.stage = c.stage(w)
	res.rerun, res.rerunTook, res.rerunHung = w.runCLI(c.rig.rpc, args, nil, 0)
	res.problems = append(res.problems, c.check(w, &res)...)
	return res
}

// trialStages are how far a first run got, as the database shows it.
var trialStages = []string{"nothing-decided", "released", "charged-unjournaled", "signed", "sent", "mined", "other"}

// stage reads how far a trial's first run got, before the rerun: nothing
// decided; an approval decided and released, nothing journaled; an
// approval charged but nothing journaled; the transaction journaled
// signed, sent or mined (the furthest row).
func (c *crashCase) stage(w *sharedWallet) string {
	var decided, live, signed, sent, mined int
	q := `SELECT
		(SELECT COUNT(*) FROM decisions WHERE wallet_key = $1 AND decision = 'approve'),
		(SELECT COUNT(*) FROM spends s JOIN decisions d ON d.id = s.decision_id WHERE d.wallet_key = $1 AND s.voided_at_ns IS NULL),
		(SELECT COUNT(*) FROM tx_journal WHERE sender_key = $1 AND status = 'signed'),
		(SELECT COUNT(*) FROM tx_journal WHERE sender_key = $1 AND status = 'sent'),
		(SELECT COUNT(*) FROM tx_journal WHERE sender_key = $1 AND status = 'mined')`
	if err := c.sql.QueryRow(q, strings.ToLower(w.addr.Hex())).Scan(&decided, &live, &signed, &sent, &mined); err != nil {
		return "other"
	}
	switch {
	case mined > 0:
		return "mined"
	case sent > 0:
		return "sent"
	case signed > 0:
		return "signed"
	case live > 0:
		return "charged-unjournaled"
	case decided == 0:
		return "nothing-decided"
	default:
		return "released"
	}
}

// summary is one line on a trial: how its first run ended and how far it
// got, and how the rerun ended.
func (r trialResult) summary() string {
	first := fmt.Sprintf("exit %d", r.first.code)
	if r.first.signal != 0 {
		first = "died of " + signalName(r.first.signal)
	}
	return fmt.Sprintf("first run %s after %s, left %s; rerun exit %d after %s; %s",
		first, r.firstTook.Round(time.Millisecond), r.stage, r.rerun.code, r.rerunTook.Round(time.Millisecond), r.class())
}

func lastOutputLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// runCLI runs the transfer once against rpcURL, SIGKILLing it after
// killAfter (0: never) and in any case at convergeBound, which it reports
// as hung.
func (w *sharedWallet) runCLI(rpcURL, args string, extraEnv []string, killAfter time.Duration) (procResult, time.Duration, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), convergeBound)
	defer cancel()
	env := []string{
		"HOME=" + w.home, "XDG_CONFIG_HOME=" + w.home,
		"MANDATE_RPC_URL=" + rpcURL, "MANDATE_PRIVATE_KEY=" + w.key,
		"MANDATE_POLICY=" + w.rig.policy, "MANDATE_DB=" + w.dsn,
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !strings.HasPrefix(k, "MANDATE_") && k != "HOME" && k != "XDG_CONFIG_HOME" {
			env = append(env, kv)
		}
	}
	env = append(env, extraEnv...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, w.rig.bin, "--json", "tools", "call", "wallet_transfer", args)
	cmd.Env, cmd.Dir = env, w.home
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return procResult{code: -1, stderr: "start: " + err.Error()}, 0, false
	}
	if killAfter > 0 {
		t := time.AfterFunc(killAfter, func() { cmd.Process.Kill() })
		defer t.Stop()
	}
	err := cmd.Wait()
	took := time.Since(start)
	out := procResult{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		out.signal = ws.Signal()
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		out.stderr += "\nwait: " + err.Error()
	}
	return out, took, ctx.Err() != nil
}

// check reads the end state of a trial after its rerun and says what is
// wrong with it: the rerun's answer, the recipient's balance, the
// ledger's charges for the key, the journal and the chain's nonce.
func (c *crashCase) check(w *sharedWallet, res *trialResult) []trialProblem {
	var ps []trialProblem
	add := func(class, format string, a ...any) { ps = append(ps, trialProblem{class, fmt.Sprintf(format, a...)}) }
	ctx := context.Background()
	want := new(big.Int).Mul(big.NewInt(res.amount), big.NewInt(1_000_000))

	// The rerun converged, and says so.
	var reported reportedTx
	switch {
	case res.rerunHung:
		add("rerun-hung", "the rerun under key %q did not finish within %s (killed): a retry must converge, with a message", res.key, convergeBound)
	case res.rerun.signal != 0:
		add("rerun-failed", "the rerun died of %s", signalName(res.rerun.signal))
	case res.rerun.code != 0:
		add("rerun-failed", "the rerun exited %d, want 0: %s", res.rerun.code, lastOutputLine(res.rerun.stderr+"\n"+res.rerun.stdout))
	default:
		tx, err := res.rerun.tx()
		switch {
		case err != nil:
			add("rerun-failed", "the rerun exited 0 but its --json answer does not read as a sent transaction (%v): %s", err, outputTail(res.rerun.stdout))
		case tx.Status != "mined":
			add("rerun-failed", "the rerun exited 0 reporting transaction %s as %q, want mined", tx.Hash, tx.Status)
		}
		reported = tx
	}

	// The recipient was paid exactly once.
	got, err := usdcBalance(ctx, c.rig.d, w.to)
	paid := got != nil && got.Sign() > 0
	switch {
	case err != nil:
		add("harness-error", "reading the recipient's balance: %v", err)
	case got.Sign() == 0:
		add("unpaid", "the recipient received nothing, want %s USDC base units", want)
	case got.Cmp(new(big.Int).Mul(want, big.NewInt(2))) == 0:
		add("paid-twice", "the recipient received %s USDC base units: the amount %s twice", got, want)
	case got.Cmp(want) != 0:
		add("paid-wrong", "the recipient received %s USDC base units, want exactly %s", got, want)
	}

	ps = append(ps, c.checkLedger(ctx, w, res.key, want, paid)...)
	ps = append(ps, c.checkJournal(ctx, w, res.key, reported.Hash)...)
	return ps
}

type ledgerDecision struct {
	id                  int64
	approval, key, kind string
	released            sql.NullInt64
	supersededBy        string
	live                map[string]*big.Int // bucket: live amount
	voided              int
}

func (d ledgerDecision) String() string {
	s := fmt.Sprintf("approval %s (decision %s, key %q", d.approval, d.kind, d.key)
	if d.released.Valid {
		s += ", released"
	}
	if d.supersededBy != "" {
		s += ", superseded by " + d.supersededBy
	}
	var live []string
	for b, v := range d.live {
		live = append(live, b+"="+v.String())
	}
	return s + fmt.Sprintf(", live spends [%s], %d voided)", strings.Join(live, " "), d.voided)
}

// checkLedger: the wallet's approvals are all under the trial's key, and
// exactly one of them, neither released nor superseded, still charges:
// the amount, once, to the token's bucket. paid says whether the
// recipient got anything, for the message.
func (c *crashCase) checkLedger(ctx context.Context, w *sharedWallet, key string, want *big.Int, paid bool) []trialProblem {
	var ps []trialProblem
	add := func(class, format string, a ...any) { ps = append(ps, trialProblem{class, fmt.Sprintf(format, a...)}) }
	walletKey := strings.ToLower(w.addr.Hex())
	rows, err := c.sql.QueryContext(ctx, `SELECT id, approval_id, idem_key, decision, released_at_ns, superseded_by
		FROM decisions WHERE wallet_key = $1 ORDER BY id`, walletKey)
	if err != nil {
		return []trialProblem{{"harness-error", "reading decisions: " + err.Error()}}
	}
	byID := map[int64]*ledgerDecision{}
	var order []*ledgerDecision
	for rows.Next() {
		d := &ledgerDecision{live: map[string]*big.Int{}}
		if err := rows.Scan(&d.id, &d.approval, &d.key, &d.kind, &d.released, &d.supersededBy); err != nil {
			rows.Close()
			return []trialProblem{{"harness-error", "reading decisions: " + err.Error()}}
		}
		byID[d.id] = d
		order = append(order, d)
	}
	rows.Close()
	spends, err := c.sql.QueryContext(ctx, `SELECT s.decision_id, s.bucket, s.amount, s.voided_at_ns
		FROM spends s JOIN decisions d ON d.id = s.decision_id WHERE d.wallet_key = $1`, walletKey)
	if err != nil {
		return []trialProblem{{"harness-error", "reading spends: " + err.Error()}}
	}
	for spends.Next() {
		var id int64
		var bucket, amount string
		var voided sql.NullInt64
		if err := spends.Scan(&id, &bucket, &amount, &voided); err != nil {
			spends.Close()
			return []trialProblem{{"harness-error", "reading spends: " + err.Error()}}
		}
		d := byID[id]
		if voided.Valid {
			d.voided++
			continue
		}
		v, ok := new(big.Int).SetString(amount, 10)
		if !ok {
			add("charge-wrong", "spend of approval %s in bucket %s has amount %q, not an integer", d.approval, bucket, amount)
			continue
		}
		if d.live[bucket] == nil {
			d.live[bucket] = new(big.Int)
		}
		d.live[bucket].Add(d.live[bucket], v)
	}
	spends.Close()

	tokenBucket := strings.ToLower(c.rig.d.Address(devnet.USDC).Hex())
	var charging []*ledgerDecision
	for _, d := range order {
		if d.kind == "approve" && d.key != key {
			add("charge-wrong", "ledger: %s is under another key than the trial's %q", d, key)
		}
		if len(d.live) == 0 {
			continue
		}
		charging = append(charging, d)
		if d.released.Valid || d.supersededBy != "" {
			add("charge-wrong", "ledger: %s still charges though it was released or superseded", d)
		}
	}
	unpaid := ""
	if !paid {
		unpaid = ", though the recipient was never paid"
	}
	switch len(charging) {
	case 1:
		d := charging[0]
		sum := new(big.Int)
		for b, v := range d.live {
			if strings.HasSuffix(strings.ToLower(b), "/"+tokenBucket) {
				sum.Add(sum, v)
			}
		}
		if sum.Cmp(want) != 0 {
			add("charge-wrong", "ledger: the live charge of %s to USDC is %s base units, want exactly %s", d, sum, want)
		}
		if !paid {
			add("charge-wrong", "ledger: %s charges%s: a charge without its payment", d, unpaid)
		}
	case 0:
		if paid {
			add("charge-wrong", "ledger: no approval under key %q still charges the transfer that was paid, so the daily limit undercounts it (decisions: %v)", key, order)
		} else {
			add("charge-wrong", "ledger: no approval under key %q still charges (decisions: %v), and nothing was paid: the transfer was never carried out", key, order)
		}
	default:
		add("charge-wrong", "ledger: %d approvals under key %q still charge%s, want exactly one: %v", len(charging), key, unpaid, charging)
	}
	return ps
}

type journalTrialRow struct {
	nonce                              uint64
	status, hash, key, replacedBy, err string
}

func (e journalTrialRow) String() string {
	s := fmt.Sprintf("%d:%s:%s", e.nonce, e.status, shortHash(e.hash))
	if e.key != "" {
		s += ":key"
	}
	if e.replacedBy != "" {
		s += "→" + shortHash(e.replacedBy)
	}
	return s
}

func shortHash(h string) string {
	if len(h) > 10 {
		return h[:10]
	}
	return h
}

// checkJournal: the wallet's journal holds the key's row, which leads
// (through replaced_by) to the mined transaction the rerun reported; its
// nonces run 0..n-1 with at most one mined transaction each; no row is
// left signed or sent for a later send to rebroadcast; and the chain's
// nonce is the number of mined rows, each with its receipt.
func (c *crashCase) checkJournal(ctx context.Context, w *sharedWallet, key, reported string) []trialProblem {
	var ps []trialProblem
	add := func(class, format string, a ...any) { ps = append(ps, trialProblem{class, fmt.Sprintf(format, a...)}) }
	rows, err := c.sql.QueryContext(ctx, `SELECT nonce, status, hash, idem_key, replaced_by, error_text
		FROM tx_journal WHERE sender_key = $1 ORDER BY nonce, id`, strings.ToLower(w.addr.Hex()))
	if err != nil {
		return []trialProblem{{"harness-error", "reading the journal: " + err.Error()}}
	}
	var js []journalTrialRow
	for rows.Next() {
		var e journalTrialRow
		if err := rows.Scan(&e.nonce, &e.status, &e.hash, &e.key, &e.replacedBy, &e.err); err != nil {
			rows.Close()
			return []trialProblem{{"harness-error", "reading the journal: " + err.Error()}}
		}
		js = append(js, e)
	}
	rows.Close()

	byHash := map[string]journalTrialRow{}
	minedAt := map[uint64][]string{}
	var keyed []journalTrialRow
	mined := 0
	next := uint64(0)
	for _, e := range js {
		byHash[strings.ToLower(e.hash)] = e
		if e.nonce > next {
			add("nonce-gap", "journal: nonces skip from %d to %d, want them contiguous from 0: %v", next, e.nonce, js)
		}
		next = max(next, e.nonce+1)
		switch e.status {
		case "mined", "reverted":
			minedAt[e.nonce] = append(minedAt[e.nonce], e.hash)
			mined++
			if e.status == "reverted" {
				add("journal-wrong", "journal: transaction %s at nonce %d reverted", e.hash, e.nonce)
			}
		case "signed", "sent":
			add("row-open", "journal: transaction %s at nonce %d is still %s after the rerun; a later send would rebroadcast or wait behind it: %v", e.hash, e.nonce, e.status, js)
		}
		if e.key == key {
			keyed = append(keyed, e)
		}
	}
	for n, hs := range minedAt {
		if len(hs) > 1 {
			add("double-mined", "journal: %d rows mined at nonce %d (%s)", len(hs), n, strings.Join(hs, ", "))
		}
	}
	switch {
	case len(keyed) != 1:
		add("journal-wrong", "journal: %d rows carry key %q, want exactly one: %v", len(keyed), key, js)
	default:
		e := keyed[0]
		for seen := map[string]bool{}; e.replacedBy != "" && !seen[e.hash]; {
			seen[e.hash] = true
			nx, ok := byHash[strings.ToLower(e.replacedBy)]
			if !ok {
				add("journal-wrong", "journal: row %s is replaced by %s, which the journal does not hold", e.hash, e.replacedBy)
				break
			}
			e = nx
		}
		if e.status != "mined" {
			add("journal-wrong", "journal: the key's transaction (followed through replaced_by) is %s at nonce %d (%s), want mined: %v", e.status, e.nonce, e.err, js)
		}
		if reported != "" && !strings.EqualFold(reported, e.hash) {
			add("journal-wrong", "the rerun reported transaction %s, but the key's transaction in the journal is %s", reported, e.hash)
		}
	}
	cl := c.rig.d.Client()
	for _, hs := range minedAt {
		for _, h := range hs {
			if r, err := cl.TransactionReceipt(ctx, common.HexToHash(h)); err != nil {
				add("journal-wrong", "journal: transaction %s is recorded mined but the chain has no receipt for it: %v", h, err)
			} else if r.Status != 1 {
				add("journal-wrong", "journal: transaction %s reverted on chain", h)
			}
		}
	}
	n, err := cl.NonceAt(ctx, w.addr, nil)
	switch {
	case err != nil:
		add("harness-error", "reading the chain nonce: %v", err)
	case n != uint64(mined):
		add("chain-nonce", "chain nonce of the wallet is %d, the journal holds %d mined rows: %v", n, mined, js)
	}
	return ps
}

// tokenBalance is who's USDC balance in base units, without failing a
// test from a worker goroutine.
func usdcBalance(ctx context.Context, d *devnet.Devnet, who common.Address) (*big.Int, error) {
	data := append(crypto.Keccak256([]byte("balanceOf(address)"))[:4], common.LeftPadBytes(who.Bytes(), 32)...)
	usdc := d.Address(devnet.USDC)
	out, err := d.Client().CallContract(ctx, ethereum.CallMsg{To: &usdc, Data: data}, nil)
	if err != nil {
		return nil, err
	}
	return new(big.Int).SetBytes(out), nil
}
