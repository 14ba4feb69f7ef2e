package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	_ "github.com/glebarez/go-sqlite"
)

// `mandate audit`: the decisions of real tool calls listed with filters,
// the chain verified whole, and a row edited by hand named by verify
// (exit 1), as is a head that a rewrite removed.
func TestAuditCommands(t *testing.T) {
	cleanEnv(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "audit.db")
	t.Setenv("MANDATE_DB", db)
	const to = "0x2222222222222222222222222222222222222222"
	if code, out, errs := cli(t, "", "--devnet", "tools", "call", "wallet_transfer", `{"to":"`+to+`","token":"USDC","amount":"5"}`); code != 0 {
		t.Fatalf("transfer: exit %d\n%s\n%s", code, out, errs)
	}
	if code, out, errs := cli(t, "", "--devnet", "tools", "call", "wallet_transfer", `{"to":"`+to+`","token":"USDC","amount":"5000"}`); code != 1 {
		t.Fatalf("over-limit transfer: exit %d\n%s\n%s", code, out, errs)
	}

	code, out, errs := cli(t, "", "--json", "audit", "list")
	if code != 0 {
		t.Fatalf("audit list: exit %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("audit list --json: %d lines, want 2:\n%s", len(lines), out)
	}
	var newest map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &newest); err != nil || newest["decision"] != "deny" || newest["kind"] != "transfer" {
		t.Fatalf("newest decision = %s (%v)", lines[0], err)
	}
	if code, out, _ = cli(t, "", "--json", "audit", "list", "--decision", "approve", "--tool", "wallet_transfer", "--token", "usdc", "--since", "1h"); code != 0 || strings.Count(out, "\n") != 1 {
		t.Fatalf("filtered list: exit %d\n%s", code, out)
	}
	if code, out, _ = cli(t, "", "--json", "audit", "list", "--token", "DAI"); code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("list of DAI decisions: exit %d\n%s", code, out)
	}
	if code, out, _ = cli(t, "", "audit", "list", "--csv"); code != 0 || !strings.HasPrefix(out, "at,wallet,chain,approval_id") || strings.Count(out, "\n") != 3 {
		t.Fatalf("csv: exit %d\n%s", code, out)
	}
	if code, _, errs = cli(t, "", "audit", "list", "--tool", "wallet_teleport"); code != 2 || !strings.Contains(errs, "wallet_transfer") {
		t.Fatalf("unknown tool: exit %d %s", code, errs)
	}
	if code, _, errs = cli(t, "", "audit", "list", "--since", "yesterday"); code != 2 || !strings.Contains(errs, "RFC 3339") {
		t.Fatalf("bad time: exit %d %s", code, errs)
	}

	code, out, errs = cli(t, "", "audit", "verify")
	if code != 0 || !strings.Contains(out, "the audit is whole") {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errs)
	}
	head := regexp.MustCompile(`head of \S+: ([0-9a-f]{64})`).FindStringSubmatch(out)
	if head == nil {
		t.Fatalf("verify printed no head:\n%s", out)
	}
	if code, _, errs = cli(t, "", "audit", "verify", "--head", head[1]); code != 0 {
		t.Fatalf("verify --head of the current head: exit %d %s", code, errs)
	}

	// A person with access to the database file edits it.
	s, err := sql.Open("sqlite", strings.TrimPrefix(db, "sqlite:"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tamper := func(stmt string) {
		t.Helper()
		if _, err := s.ExecContext(context.Background(), stmt); err != nil {
			t.Fatal(err)
		}
	}
	tamper(`UPDATE decisions SET decision = 'approve', reasons = '[]' WHERE decision = 'deny'`)
	code, out, errs = cli(t, "", "--json", "audit", "verify")
	var rep struct {
		OK     bool `json:"ok"`
		Broken struct {
			Record  int64  `json:"record"`
			Problem string `json:"problem"`
		} `json:"broken"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &rep) != nil || rep.OK || rep.Broken.Record != 2 || !strings.Contains(rep.Broken.Problem, "edited") {
		t.Fatalf("verify after an edit: exit %d\n%s\n%s", code, out, errs)
	}
	// Rewriting the chain from the edit on hides the edit from the chain
	// itself, but not from a head kept elsewhere.
	tamper(`DELETE FROM audit_chain WHERE seq = 2`)
	tamper(`DELETE FROM decisions WHERE id = (SELECT MAX(id) FROM decisions)`)
	s.Close()
	if code, out, errs = cli(t, "", "audit", "verify"); code != 0 {
		t.Fatalf("a chain cut short at its end verifies whole without a head: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs = cli(t, "", "audit", "verify", "--head", head[1]); code != 1 || !strings.Contains(errs, "no longer in any chain") {
		t.Fatalf("verify --head after the rewrite: exit %d %s", code, errs)
	}
}

// `mandate db backup`: a copy of the database that verifies, never over an
// existing file.
func TestDBBackup(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	t.Setenv("MANDATE_DB", "sqlite:"+filepath.Join(dir, "live.db"))
	if code, out, errs := cli(t, "", "--devnet", "tools", "call", "wallet_transfer", `{"to":"0x2222222222222222222222222222222222222222","token":"USDC","amount":"5"}`); code != 0 {
		t.Fatalf("transfer: exit %d\n%s\n%s", code, out, errs)
	}
	backup := filepath.Join(dir, "copy.db")
	if code, out, errs := cli(t, "", "db", "backup", backup); code != 0 || !strings.Contains(out, "backed up") {
		t.Fatalf("backup: exit %d\n%s\n%s", code, out, errs)
	}
	if code, _, errs := cli(t, "", "db", "backup", backup); code != 2 || !strings.Contains(errs, "already exists") {
		t.Fatalf("backup over a file: exit %d %s", code, errs)
	}
	t.Setenv("MANDATE_DB", "sqlite:"+backup)
	if code, out, errs := cli(t, "", "audit", "verify"); code != 0 || !strings.Contains(out, "1 records over 1 decisions") {
		t.Fatalf("verify the copy: exit %d\n%s\n%s", code, out, errs)
	}
}
