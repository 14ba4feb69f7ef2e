// Package metrics exposes what an operator watches a Mandate process by, in
// the Prometheus format, with its health and readiness probes.
//
// It holds no state of its own beyond the collectors: the policy engine, the
// store and the tool registry report to it through their observer hooks
// (policies.Observer, memory.Observer, tools.Registry.Observe), and the
// journal's states and the model backends' health are read at scrape time,
// so a scrape during a burst costs one small query and slows no decision.
package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mandatehq/mandate/llm"
)

// Metrics is one process's collectors. Its methods are the observer hooks
// of the engine, the store and the tool registry.
type Metrics struct {
	reg             *prometheus.Registry
	decisions       *prometheus.CounterVec
	reasons         *prometheus.CounterVec
	decisionLatency prometheus.Histogram
	ledgerCommit    prometheus.Histogram
	ledgerGroup     prometheus.Histogram
	nonceWait       prometheus.Histogram
	toolCalls       *prometheus.CounterVec
	toolLatency     *prometheus.HistogramVec
}

// New makes the collectors, with the Go runtime's and the process's.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mandate_decisions_total", Help: "Policy decisions by outcome (approve, deny, ask, error).",
		}, []string{"outcome"}),
		reasons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mandate_decision_reasons_total", Help: "Rules behind denials and asks, by outcome and rule.",
		}, []string{"outcome", "rule"}),
		decisionLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mandate_decision_seconds", Help: "Time to make one policy decision, its ledger write included.",
			Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10),
		}),
		ledgerCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mandate_db_commit_seconds", Help: "Time of one durable database commit (ledger charges, decision records, journal rows, reviews).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		ledgerGroup: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mandate_db_commit_writes", Help: "Writes carried by one durable commit: more than one when group commit gathered them.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128},
		}),
		nonceWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "mandate_nonce_lock_wait_seconds", Help: "Time a sender waited for its wallet's nonce lock.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mandate_tool_calls_total", Help: "Tool calls by tool and outcome (ok, denied, bad_input, error).",
		}, []string{"tool", "outcome"}),
		toolLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mandate_tool_call_seconds", Help: "Time of one tool call, by tool.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
		}, []string{"tool"}),
	}
	m.reg.MustRegister(m.decisions, m.reasons, m.decisionLatency, m.ledgerCommit, m.ledgerGroup, m.nonceWait,
		m.toolCalls, m.toolLatency, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the collectors are, for a program that adds its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Decided implements policies.Observer.
func (m *Metrics) Decided(outcome string, rules []string, took time.Duration) {
	m.decisions.WithLabelValues(outcome).Inc()
	for _, r := range rules {
		m.reasons.WithLabelValues(outcome, r).Inc()
	}
	m.decisionLatency.Observe(took.Seconds())
}

// Committed implements memory.Observer.
func (m *Metrics) Committed(took time.Duration, writes int) {
	m.ledgerCommit.Observe(took.Seconds())
	m.ledgerGroup.Observe(float64(writes))
}

// NonceWaited implements memory.Observer.
func (m *Metrics) NonceWaited(took time.Duration) { m.nonceWait.Observe(took.Seconds()) }

// ToolCalled is the tool registry's observer (tools.Registry.Observe).
func (m *Metrics) ToolCalled(tool, outcome string, took time.Duration) {
	m.toolCalls.WithLabelValues(tool, outcome).Inc()
	m.toolLatency.WithLabelValues(tool).Observe(took.Seconds())
}

// JournalStater counts the transaction journal's rows by status
// (memory.Store is one).
type JournalStater interface {
	JournalStates(ctx context.Context) (map[string]int64, error)
}

// WatchJournal reports j's rows by status at each scrape.
func (m *Metrics) WatchJournal(j JournalStater) {
	m.reg.MustRegister(&journalCollector{j: j, desc: prometheus.NewDesc("mandate_journal_transactions",
		"Transactions in the journal by status (signed, sent, mined, reverted, replaced, failed).", []string{"status"}, nil)})
}

type journalCollector struct {
	j    JournalStater
	desc *prometheus.Desc
}

func (c *journalCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *journalCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	states, err := c.j.JournalStates(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for status, n := range states {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), status)
	}
}

// Backends is a model router whose backends' health can be read
// (*llm.Router is one).
type Backends interface {
	Health() []llm.BackendHealth
}

// WatchLLM reports the model backends' health, requests, failures (each a
// failover to the next backend, or the call's error when none was left) and
// latency at each scrape.
func (m *Metrics) WatchLLM(b Backends) {
	m.reg.MustRegister(&llmCollector{b: b,
		up:       prometheus.NewDesc("mandate_llm_backend_up", "1 when the backend takes requests, 0 in cooldown or misconfigured.", []string{"backend", "state"}, nil),
		requests: prometheus.NewDesc("mandate_llm_requests_total", "Attempts sent to the backend (hedges and probes included).", []string{"backend"}, nil),
		failures: prometheus.NewDesc("mandate_llm_failures_total", "Attempts that failed for a reason of the backend's: each moved the call on to the next backend.", []string{"backend"}, nil),
		latency:  prometheus.NewDesc("mandate_llm_latency_seconds", "Latency to the first token over the backend's recent successes.", []string{"backend", "quantile"}, nil),
	})
}

type llmCollector struct {
	b                               Backends
	up, requests, failures, latency *prometheus.Desc
}

func (c *llmCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.requests
	ch <- c.failures
	ch <- c.latency
}

func (c *llmCollector) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.b.Health() {
		up := 0.0
		if h.State == llm.StateOK {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, h.Name, string(h.State))
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(h.Requests), h.Name)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(h.Failures), h.Name)
		if h.Samples > 0 {
			ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, h.P50.Seconds(), h.Name, "0.5")
			ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, h.P95.Seconds(), h.Name, "0.95")
		}
	}
}

// Handler serves /metrics, /healthz (the process answers) and /readyz
// (ready returns nil: the database and the chains answer).
func (m *Metrics) Handler(ready func(ctx context.Context) error) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if ready != nil {
			if err := ready(ctx); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte("not ready: " + err.Error() + "\n"))
				return
			}
		}
		w.Write([]byte("ready\n"))
	})
	return mux
}

// Serve listens on addr and serves Handler until ctx ends. It returns once
// listening fails or the server has stopped; the listener is open when
// Listen returns, so a caller may print where it serves.
func (m *Metrics) Serve(ctx context.Context, l net.Listener, ready func(ctx context.Context) error) error {
	srv := &http.Server{Handler: m.Handler(ready), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
