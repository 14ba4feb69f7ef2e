//go:build linux

package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// `mandate orders watch --metrics ADDR`, as an operator runs it: /metrics
// in the Prometheus format, /healthz and /readyz, while it watches; and a
// taken address refused before anything starts.
func TestOrdersWatchMetrics(t *testing.T) {
	bin := buildMandate(t)
	cleanEnv(t)
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "orders", "watch", "--devnet", "--metrics", "127.0.0.1:0")
	cmd.Env = os.Environ()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cancel()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, rest, ok := strings.Cut(sc.Text(), "metrics at "); ok {
				found <- strings.TrimSuffix(strings.Fields(rest)[0], "/metrics")
			}
		}
		close(found)
	}()
	var base string
	select {
	case base = <-found:
	case <-time.After(2 * time.Minute):
		t.Fatal("orders watch did not say where its metrics are within 2 minutes")
	}
	if base == "" {
		t.Fatal("orders watch exited before serving its metrics")
	}
	for path, want := range map[string]string{
		"/metrics": "# TYPE mandate_decision_seconds histogram",
		"/healthz": "ok",
		"/readyz":  "ready",
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if code, _, errs := cli(t, "", "orders", "watch", "--devnet", "--metrics", l.Addr().String()); code != 2 || !strings.Contains(errs, "--metrics") {
		t.Fatalf("a taken metrics address: exit %d %s", code, errs)
	}
}
