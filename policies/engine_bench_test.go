package policies

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

// benchPolicy is a realistic policy: 50 allowed recipients, an allowed
// router, a token allowlist, per-transaction and daily limits for ETH, USDC
// and DAI, USD limits and an ask threshold, a slippage bound and the
// no-weekend-swaps rule.
func benchPolicy(b *testing.B) *Policy {
	var sb strings.Builder
	sb.WriteString(`version: 1
chains: [1]
tokens:
  USDC: {chain: 1, address: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", decimals: 6}
  DAI: {chain: 1, address: "0x6B175474E89094C44Da98b954EedeAC495271d0F", decimals: 18}
  WETH: {chain: 1, address: "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", decimals: 18}
recipients:
  deny: ["0x000000000000000000000000000000000000dEaD"]
  allow:
`)
	for i := range 50 {
		fmt.Fprintf(&sb, "    - \"%s\"\n", benchRecipient(i))
	}
	sb.WriteString(`contracts: {allow: ["0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45"]}
limits:
  per_tx: {ETH: "1", USDC: "1000", DAI: "1000"}
  daily: {ETH: "3", USDC: "5000", DAI: "5000"}
  per_tx_usd: 2000
  daily_usd: 10000
swaps: {max_slippage_bps: 100, max_deadline_seconds: 1800}
ask: {above_usd: 1500}
rules:
  - {name: no-weekend-swaps, deny_if: 'intent.kind == "swap" && now.getDayOfWeek() in [0, 6]', reason: "no swaps at weekends"}
`)
	p, err := Parse([]byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func benchRecipient(i int) string { return fmt.Sprintf("0x%040x", 0x1000+i) }

// benchIntents are the decisions an agent makes all day: an ETH transfer,
// a USDC transfer and a swap, to and from allowed parties.
func benchIntents(now time.Time) map[string]func(i int) Intent {
	ethT := Transfer{Header: hdr(), To: benchRecipient(7), Token: eth, Amount: units("0.001", 18)}
	usdcT := Transfer{Header: hdr(), To: benchRecipient(42), Token: usdc, Amount: units("5", 6)}
	sw := swapETHForUSDC(now)
	sw.AmountIn, sw.Tx.Value = units("0.001", 18), units("0.001", 18)
	sw.Quoted, sw.MinOut = units("3", 6), units("2.97", 6)
	return map[string]func(i int) Intent{
		"transfer-eth":  func(int) Intent { return ethT },
		"transfer-usdc": func(int) Intent { return usdcT },
		"swap": func(i int) Intent {
			s := sw
			s.Deadline = benchClock(i).Unix() + 600
			return s
		},
	}
}

// benchStep is how far the clock moves per decision: the daily windows hold
// about 960 spends, as a busy agent's would, and old spends are pruned.
const benchStep = 90 * time.Second

// benchWarm is how many decisions an engine makes before the timer starts:
// many days' windows, more than the ledger's ring of entries, and several GC
// cycles, so the percentiles describe an engine in its steady state rather
// than a ledger filling up and a heap growing to its size (the growth's page
// faults cost about 10 µs each on a virtual machine).
const benchWarm = 20_000

// benchStart is a Monday midnight.
var benchStart = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)

// benchClock is the time of the i-th decision: benchStep apart, skipping
// weekends so the no-weekend-swaps rule lets every swap through.
func benchClock(i int) time.Time {
	const week, workweek = 7 * 24 * time.Hour, 5 * 24 * time.Hour
	o := time.Duration(i) * benchStep
	return benchStart.Add(o/workweek*week + o%workweek)
}

type benchPrices struct{}

var (
	ethUSD  = big.NewRat(3000, 1)
	oneUSD  = big.NewRat(1, 1)
	benchPr = map[string]Price{
		"ETH":  {USD: ethUSD, Source: "fixed"},
		"WETH": {USD: ethUSD, Source: "fixed"},
		"USDC": {USD: oneUSD, Source: "fixed"},
		"DAI":  {USD: oneUSD, Source: "fixed"},
	}
)

func (benchPrices) PriceUSD(_ context.Context, _ string, t Token) (Price, error) {
	if p, ok := benchPr[t.Symbol]; ok {
		return p, nil
	}
	return Price{}, fmt.Errorf("no price for %s", t.Symbol)
}

// reportLatency reports the median and 99th percentile of the per-decision
// durations (recording each op's duration is fine in a benchmark, never in
// a test).
func reportLatency(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkDecide(b *testing.B) {
	benchEngine(b, func(ctx context.Context, eng *Engine, in Intent) error {
		a, err := eng.Decide(ctx, in)
		if err == nil && !a.Valid() {
			err = errors.New("invalid approval")
		}
		return err
	})
}

func BenchmarkEvaluate(b *testing.B) {
	benchEngine(b, func(ctx context.Context, eng *Engine, in Intent) error {
		r, err := eng.Evaluate(ctx, in)
		if err == nil && r.Decision != DecisionApprove {
			err = fmt.Errorf("decision %s: %v", r.Decision, r.Reasons)
		}
		return err
	})
}

// benchEngine times op on the realistic policy for each intent kind,
// recording every operation's duration for the percentiles.
func benchEngine(b *testing.B, op func(context.Context, *Engine, Intent) error) {
	p := benchPolicy(b)
	start := benchStart
	for _, name := range []string{"transfer-eth", "transfer-usdc", "swap"} {
		b.Run(name, func(b *testing.B) {
			now := start
			eng := NewEngine(p, NewMemLedger(), WithPrices(benchPrices{}), WithClock(func() time.Time { return now }))
			mk := benchIntents(start)[name]
			ctx := context.Background()
			for i := range benchWarm {
				now = benchClock(i)
				if err := op(ctx, eng, mk(i)); err != nil {
					b.Fatalf("warm-up op %d: %v", i, err)
				}
			}
			d := make([]time.Duration, b.N)
			for i := range d {
				d[i] = 1 // fault the pages in now, not in the timed loop
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				now = benchClock(benchWarm + i)
				in := mk(benchWarm + i)
				t0 := time.Now()
				err := op(ctx, eng, in)
				d[i] = time.Since(t0)
				if err != nil {
					b.Fatalf("op %d: %v", i, err)
				}
			}
			b.StopTimer()
			reportLatency(b, d)
		})
	}
}

func BenchmarkMarshal(b *testing.B) {
	in := benchIntents(benchStart)["swap"](0)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(in); err != nil {
			b.Fatal(err)
		}
	}
}
