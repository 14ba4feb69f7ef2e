package metrics_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mandatehq/mandate"
	"github.com/mandatehq/mandate/metrics"
)

// A runtime that reports to the collectors: an allowed and an over-limit
// transfer, and a call with a bad argument, each counted where an operator
// looks for it, with the journal's mined row and the ledger's commit.
func TestRuntimeReports(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	ctx := context.Background()
	m := metrics.New()
	rt, err := mandate.Open(ctx, mandate.Config{Devnet: true, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	to := "0x2222222222222222222222222222222222222222"
	call := func(args string) error {
		_, err := rt.Tools().Call(ctx, "wallet_transfer", json.RawMessage(args))
		return err
	}
	if err := call(`{"to":"` + to + `","token":"USDC","amount":"5"}`); err != nil {
		t.Fatal(err)
	}
	if err := call(`{"to":"` + to + `","token":"USDC","amount":"5000"}`); err == nil {
		t.Fatal("an over-limit transfer went through")
	}
	if err := call(`{"to":"nowhere","token":"USDC","amount":"5"}`); err == nil {
		t.Fatal("a bad address went through")
	}

	srv := httptest.NewServer(m.Handler(rt.Ready))
	defer srv.Close()
	body := get(t, srv.URL+"/metrics", http.StatusOK)
	for _, want := range []string{
		`mandate_decisions_total{outcome="approve"} 1`,
		`mandate_decisions_total{outcome="deny"} 1`,
		`mandate_decision_reasons_total{outcome="deny",rule="limits.per_tx.USDC"} 1`,
		`mandate_tool_calls_total{outcome="ok",tool="wallet_transfer"} 1`,
		`mandate_tool_calls_total{outcome="denied",tool="wallet_transfer"} 1`,
		`mandate_tool_calls_total{outcome="bad_input",tool="wallet_transfer"} 1`,
		`mandate_journal_transactions{status="mined"} 1`,
		// The transfer's journal row (with its charge) and its outcome,
		// and the denial's record: three durable commits, one write each.
		`mandate_db_commit_seconds_count 3`,
		`mandate_db_commit_writes_sum 3`,
		`mandate_nonce_lock_wait_seconds_count 1`,
		`mandate_decision_seconds_count 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
	get(t, srv.URL+"/healthz", http.StatusOK)
	if got := get(t, srv.URL+"/readyz", http.StatusOK); !strings.Contains(got, "ready") {
		t.Fatalf("/readyz = %q", got)
	}
	// The database gone: not ready, and it says why.
	rt.Store().Close()
	if got := get(t, srv.URL+"/readyz", http.StatusServiceUnavailable); !strings.Contains(got, "database") {
		t.Fatalf("/readyz with the database closed = %q", got)
	}
}

func get(t *testing.T, url string, status int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", url, resp.StatusCode, status, b)
	}
	return string(b)
}
