package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mandatehq/mandate/internal/rpcfault"
)

// crashPoints are the named points of the send path where a binary built
// with mandate_crashpoints kills itself (MANDATE_TEST_CRASH_AT):
//   - before-commit: inside the database transaction that charges the
//     approval and journals the signed transaction, before it commits;
//   - after-reserve: that transaction committed, nothing broadcast;
//   - after-broadcast: the node accepted it, the journal still says signed;
//   - before-wait: the journal says sent, nobody waits for the receipt.
//
// A point the process does not reach means it runs to the end.
var crashPoints = []string{"before-commit", "after-reserve", "after-broadcast", "before-wait"}

// rpcFaults are the node failures the first run meets through the fault
// proxy (see faultPlans for which calls): a transaction that reached the
// node but whose answer was lost, one that never reached it, a receipt or
// a nonce the sender cannot read.
var rpcFaults = []rpcFault{
	{"send dropped after forwarding", "eth_sendRawTransaction", rpcfault.DropAfterForward},
	{"send dropped before forwarding", "eth_sendRawTransaction", rpcfault.DropBeforeForward},
	{"send answered 500", "eth_sendRawTransaction", rpcfault.HTTP500},
	{"receipt answered garbage", "eth_getTransactionReceipt", rpcfault.Garbage},
	{"nonce answered an error", "eth_getTransactionCount", rpcfault.RPCError(-32000, "upstream unavailable")},
}

// rpcFault is a fault the proxy puts on calls of one method.
type rpcFault struct {
	name, method string
	fault        rpcfault.Fault
}

// faultPlans are the trials of the RPC faults: each on every call of its
// method, and on its first call only, which lets a sender that retries
// within the process get through.
func faultPlans() []trialPlan {
	var plans []trialPlan
	for i := range rpcFaults {
		f := &rpcFaults[i]
		plans = append(plans,
			trialPlan{name: f.name + " (every call)", fault: f},
			trialPlan{name: f.name + " (first call only)", fault: f, nth: 1})
	}
	return plans
}

// crashTrials is how many random-moment kills go test runs per database
// (MANDATE_TEST_CRASH_TRIALS overrides it); the named crash points and the
// RPC faults run once each on top.
const crashTrials = 16

// Kill `mandate --json tools call wallet_transfer` with SIGKILL at random
// moments and at each named crash point of the send path, and break its
// RPC calls through a fault proxy; then rerun the same command, same
// idempotency key, with nothing broken. Every rerun must converge: exit 0
// with the transfer mined, the recipient paid exactly once, exactly one
// live charge for the key in the ledger, the journal's nonces contiguous
// with at most one mined transaction each, nothing left open, and the
// chain's nonce equal to the mined rows. On SQLite and (with
// MANDATE_TEST_POSTGRES) PostgreSQL.
//
// MANDATE_TEST_CRASH_SEED replays a run's random moments (the seed is
// logged); see BenchmarkCrashInjection for hundreds of trials.
func TestCrashInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs dozens of killed processes")
	}
	rig := newCrashRig(t)
	trials := crashTrials
	if s := os.Getenv("MANDATE_TEST_CRASH_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			t.Fatalf("MANDATE_TEST_CRASH_TRIALS=%q is not a count", s)
		}
		trials = n
	}
	for _, db := range rig.databases(t) {
		t.Run(db.name, func(t *testing.T) {
			// The databases run side by side: a rerun that hangs waits
			// out its bound idle, and the other database's trials go on.
			t.Parallel()
			c := rig.calibrate(t, db, crashWorkers)
			c.checksCatch(t)
			// The plans most likely to hang go first, so random kills
			// fill the other workers while they wait out their bound.
			var plans []trialPlan
			for _, p := range crashPoints {
				plans = append(plans, trialPlan{name: "crash at " + p, crashAt: p})
			}
			plans = append(plans, faultPlans()...)
			for i := range trials {
				plans = append(plans, trialPlan{name: fmt.Sprintf("killed at random #%d", i+1), killAfter: c.randomMoment()})
			}
			results := c.runAll(t, plans, crashWorkers)
			var converge []time.Duration
			for i, r := range results {
				t.Logf("%s: %s", plans[i].name, r.summary())
				for _, p := range r.problems {
					t.Errorf("%s: %s", plans[i].name, p)
				}
				if len(r.problems) > 0 {
					t.Logf("%s:\n%s", plans[i].name, r.transcript())
				}
				if r.converged() {
					converge = append(converge, r.rerunTook)
				}
			}
			p50, p99 := durationPercentile(converge, 50), durationPercentile(converge, 99)
			t.Logf("%s: %d trials, %d correct (%s); reruns converged in p50 %s, p99 %s",
				db.name, len(results), countCorrectTrials(results), outcomeSummary(results), p50.Round(time.Millisecond), p99.Round(time.Millisecond))
		})
	}
}

// crashWorkers is how many trials go test runs at once: each trial is a
// few short processes that mostly wait on the node and the database.
const crashWorkers = 3

// BenchmarkCrashInjection runs one trial per iteration, cycling through
// the named crash points, the RPC faults and (every other trial) a kill at
// a random moment, one at a time so the rerun's time is its own. It
// reports trials, outcomes by class (target: every trial correct) and the
// time the rerun takes to converge, p50 and p99.
//
//	go test ./cmd/mandate/ -run '^$' -bench CrashInjection -benchtime 300x
func BenchmarkCrashInjection(b *testing.B) {
	rig := newCrashRig(b)
	for _, db := range rig.databases(b) {
		b.Run(db.name, func(b *testing.B) {
			c := rig.calibrate(b, db, 1)
			var results []trialResult
			var converge []time.Duration
			i := 0
			for b.Loop() {
				plan := c.cyclePlan(i)
				i++
				r := c.run(plan, c.rig.wallet(b, c.db.dsn))
				results = append(results, r)
				if len(r.problems) > 0 {
					b.Logf("%s: %v\n%s", plan.name, r.problems, r.transcript())
				}
				if r.converged() {
					converge = append(converge, r.rerunTook)
				}
			}
			b.ReportMetric(float64(len(results)), "trials")
			b.ReportMetric(float64(countCorrectTrials(results)), "correct")
			for _, cl := range outcomeClasses {
				n := 0
				for _, r := range results {
					if r.class() == cl {
						n++
					}
				}
				if cl != "correct" && n > 0 {
					b.ReportMetric(float64(n), cl)
				}
			}
			killed := 0
			for _, r := range results {
				if r.killed {
					killed++
				}
			}
			b.ReportMetric(float64(killed), "killed")
			for _, st := range trialStages {
				n := 0
				for _, r := range results {
					if r.killed && r.stage == st {
						n++
					}
				}
				if n > 0 {
					b.ReportMetric(float64(n), "killed-"+st)
				}
			}
			b.ReportMetric(durationPercentile(converge, 50).Seconds(), "retry-p50-s")
			b.ReportMetric(durationPercentile(converge, 99).Seconds(), "retry-p99-s")
		})
	}
}

// checksCatch shows the end-state checks failing on states known to be
// wrong, so a run where every trial is correct means something: a key
// paid twice under two keys, and a transfer killed after journaling and
// never retried.
func (c *crashCase) checksCatch(t *testing.T) {
	t.Helper()
	expect := func(what string, res trialResult, classes ...string) {
		t.Helper()
		got := map[string]bool{}
		for _, p := range res.problems {
			got[p.class] = true
		}
		for _, cl := range classes {
			if !got[cl] {
				t.Errorf("the checks miss %s: no %s problem among %v\n%s", what, cl, res.problems, res.transcript())
			}
		}
		t.Logf("the checks see %s: %d problems, classes %v", what, len(res.problems), classes)
	}

	w := c.rig.wallet(t, c.db.dsn)
	res := trialResult{key: "checks-twice-1", amount: 7, wallet: w.addr, to: w.to}
	args := `{"to":"%s","token":"USDC","amount":"7","idempotency_key":"%s"}`
	res.first, _, _ = w.runCLI(c.rig.rpc, fmt.Sprintf(args, w.to.Hex(), res.key), nil, 0)
	res.rerun, _, _ = w.runCLI(c.rig.rpc, fmt.Sprintf(args, w.to.Hex(), "checks-twice-2"), nil, 0)
	if res.first.code != 0 || res.rerun.code != 0 {
		t.Fatalf("two clean transfers under two keys failed:\n%s", res.transcript())
	}
	res.problems = c.check(w, &res)
	expect("a payment made twice under two keys", res, "paid-twice", "charge-wrong", "journal-wrong")

	w = c.rig.wallet(t, c.db.dsn)
	res = trialResult{key: "checks-killed", amount: 7, wallet: w.addr, to: w.to}
	res.first, _, _ = w.runCLI(c.rig.rpc, fmt.Sprintf(args, w.to.Hex(), res.key), []string{"MANDATE_TEST_CRASH_AT=after-reserve"}, 0)
	if res.first.signal != syscall.SIGKILL {
		t.Fatalf("the transfer crashing after-reserve was not killed:\n%s", res.transcript())
	}
	res.rerun = res.first // never retried
	res.problems = c.check(w, &res)
	expect("a transfer killed after journaling and never retried", res, "rerun-failed", "unpaid", "row-open", "journal-wrong")
}

// cyclePlan is the benchmark's i-th trial: every other one a kill at a
// random moment, the others cycling through the crash points and the
// fault plans.
func (c *crashCase) cyclePlan(i int) trialPlan {
	if i%2 == 0 {
		return trialPlan{name: "killed at random", killAfter: c.randomMoment()}
	}
	faults := faultPlans()
	k := (i / 2) % (len(crashPoints) + len(faults))
	if k < len(crashPoints) {
		return trialPlan{name: "crash at " + crashPoints[k], crashAt: crashPoints[k]}
	}
	return faults[k-len(crashPoints)]
}

// runAll runs the plans on up to workers trials at a time and returns
// their results in plan order.
func (c *crashCase) runAll(tb testing.TB, plans []trialPlan, workers int) []trialResult {
	out := make([]trialResult, len(plans))
	wallets := make([]*sharedWallet, len(plans))
	for i := range plans {
		wallets[i] = c.rig.wallet(tb, c.db.dsn)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				out[i] = c.run(plans[i], wallets[i])
			}
		})
	}
	for i := range plans {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func durationPercentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

func countCorrectTrials(rs []trialResult) int {
	n := 0
	for _, r := range rs {
		if len(r.problems) == 0 {
			n++
		}
	}
	return n
}

// classes summarises outcomes as "class: n" in outcomeClasses order.
func outcomeSummary(rs []trialResult) string {
	s := ""
	for _, cl := range outcomeClasses {
		n := 0
		for _, r := range rs {
			if r.class() == cl {
				n++
			}
		}
		if n > 0 {
			if s != "" {
				s += ", "
			}
			s += fmt.Sprintf("%s %d", cl, n)
		}
	}
	return s
}

// newCrashRig is the shared rig with a seeded random source for the kill
// moments.
func newCrashRig(tb testing.TB) *crashRig {
	tb.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MANDATE_TEST_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			tb.Fatalf("MANDATE_TEST_CRASH_SEED=%q is not an unsigned integer", s)
		}
		seed = v
	}
	tb.Logf("crash moments seeded with MANDATE_TEST_CRASH_SEED=%d", seed)
	return &crashRig{sharedRig: newSharedRig(tb), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}
