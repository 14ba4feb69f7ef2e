package memory

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMigrateIdempotentAndRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.migrate(ctx); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	var versions []int
	if err := s.db.Raw("SELECT version FROM schema_migrations ORDER BY version").Scan(&versions).Error; err != nil {
		t.Fatal(err)
	}
	if len(versions) != len(migrations) || versions[len(versions)-1] != SchemaVersion {
		t.Fatalf("schema_migrations = %v, want one row per migration up to %d", versions, SchemaVersion)
	}
	if err := s.db.Exec("INSERT INTO schema_migrations (version, name, applied_at_ns) VALUES (?, 'from the future', 0)", SchemaVersion+1).Error; err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, dsn); err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Fatalf("Open on a newer schema = %v, want a refusal", err)
	}
}

func TestLockKeysSortedDistinct(t *testing.T) {
	k := lockKey("bucket", "a")
	if k != lockKey("bucket", "a") || k == lockKey("bucket", "b") || k == lockKey("bucketa") {
		t.Fatal("lockKey is not a stable, separated hash")
	}
}

// TestQueryPlans checks that the hot lookups use their indexes on SQLite,
// so the cost of a commit does not grow with the size of the audit.
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	windows, windowArgs := windowQuery([]window{{"a", time.Now()}, {"b", time.Now()}}, map[string]int64{})
	tests := []struct {
		query string
		args  []any
		index string
	}{
		{"SELECT amount FROM spends WHERE " + whereLiveSpends, []any{"b", 0}, "spends_live"},
		{windows, windowArgs, "spends_live"},
		{insertAfterHead, []any{"w", 2, "decision", 1, "{}", "h", "h2", 0, "w", 1, "h", "w", 1}, "audit_chain_seq"},
		{"SELECT approval_id FROM decisions WHERE " + whereKeyApproval + " ORDER BY id LIMIT 1", []any{"w", "k"}, "decisions_key"},
		{"SELECT * FROM decisions WHERE " + whereApproval + " LIMIT 1", []any{"a"}, "decisions_approval"},
		{"SELECT * FROM tx_journal WHERE " + whereTxKey + " ORDER BY id LIMIT 1", []any{"1", "0x", "k"}, "tx_journal_key"},
		{"SELECT nonce FROM tx_journal WHERE " + whereOpenNonces + " ORDER BY nonce", []any{"1", "0x", finalStatuses, 4}, "tx_journal_sender_nonce"},
	}
	for _, tc := range tests {
		var plan []struct {
			ID, Parent, Notused int
			Detail              string
		}
		if err := s.db.Raw("EXPLAIN QUERY PLAN "+tc.query, tc.args...).Scan(&plan).Error; err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		var details []string
		for _, p := range plan {
			details = append(details, p.Detail)
		}
		if !strings.Contains(strings.Join(details, "; "), "INDEX "+tc.index) {
			t.Errorf("%s\nplan %q does not use %s", tc.query, details, tc.index)
		}
	}
}

// Migration 2 backfills the compared forms of wallets and senders written
// under schema 1.
func TestMigrateBackfillsAddressKeys(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Rebuild an in-memory database at schema 1 on the same connection.
	for _, table := range []string{"spends", "decisions", "tx_journal", "schema_migrations",
		"chat_messages_fts", "chat_embeddings", "chat_messages", "chat_sessions", "chat_facts", "chat_summaries", "orders", "cosigner_reviews", "bot_state", "bot_updates", "bot_leases", "bot_approvals", "audit_chain", "spend_counters"} {
		if err := s.db.Exec("DROP TABLE " + table).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := s.migrateTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO decisions (approval_id, wallet, idem_key, decision, at_ns) VALUES ('a', '0xAbCd000000000000000000000000000000000001', 'k', 'approve', 1)`,
		`INSERT INTO decisions (approval_id, wallet, idem_key, decision, at_ns) VALUES ('b', 'So1anaBase58AddrXYZ', 'k', 'approve', 1)`,
		`INSERT INTO tx_journal (hash, chain, sender, nonce, idem_key, status, created_at_ns, updated_at_ns) VALUES ('0x1', '1', '0xAbCd000000000000000000000000000000000001', 4, 'jk', 'sent', 1, 1)`,
	} {
		if err := s.db.Exec(stmt).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := s.migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var keys []string
	if err := s.db.Raw("SELECT wallet_key FROM decisions ORDER BY id").Scan(&keys).Error; err != nil {
		t.Fatal(err)
	}
	if want := []string{"0xabcd000000000000000000000000000000000001", "So1anaBase58AddrXYZ"}; strings.Join(keys, ",") != strings.Join(want, ",") {
		t.Errorf("wallet_key = %v, want %v", keys, want)
	}
	first, ok, err := firstApproval(s.db, "0xABCD000000000000000000000000000000000001", "k")
	if err != nil || !ok || first.ApprovalID != "a" {
		t.Errorf("firstApproval after backfill = %+v, %v, %v", first, ok, err)
	}
	if n, ok, err := s.Journal().MaxNonce(ctx, "1", "0xabcd000000000000000000000000000000000001"); err != nil || !ok || n != 4 {
		t.Errorf("MaxNonce after backfill = %d, %v, %v", n, ok, err)
	}
}

// Migration 9 links the decisions written before the audit chain existed,
// releases included, so the chain verifies whole from the upgrade on.
func TestMigrateBackfillsAuditChain(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, table := range []string{"audit_chain", "spend_counters"} {
		if err := s.db.Exec("DROP TABLE " + table).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := s.db.Exec("DELETE FROM schema_migrations WHERE version >= 9").Error; err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`INSERT INTO decisions (approval_id, wallet, wallet_key, chain, idem_key, kind, digest, intent, decision, reasons, prices, at_ns) VALUES ('a', '0xAb', '0xab', '1', '', 'transfer', 'd', '{}', 'approve', '[]', '[]', 1)`,
		`INSERT INTO spends (decision_id, bucket, amount, at_ns) VALUES (1, 'ETH', '7', 1)`,
		`INSERT INTO decisions (approval_id, wallet, wallet_key, chain, idem_key, kind, digest, intent, decision, reasons, prices, at_ns, released_at_ns, release_reason) VALUES ('b', '0xAb', '0xab', '1', '', 'transfer', 'e', '{}', 'approve', '[]', '[]', 2, 3, 'never sent')`,
		`INSERT INTO spends (decision_id, bucket, amount, at_ns, voided_at_ns) VALUES (2, 'ETH', '8', 2, 3)`,
		`INSERT INTO decisions (approval_id, wallet, wallet_key, chain, idem_key, kind, digest, intent, decision, reasons, prices, at_ns) VALUES ('', '0xCd', '0xcd', '1', '', 'transfer', 'f', '{}', 'deny', '["no"]', '[]', 4)`,
	} {
		if err := s.db.Exec(stmt).Error; err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	if err := s.migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := s.VerifyAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Broken != nil || rep.Links != 4 || len(rep.Heads) != 2 {
		t.Fatalf("after the backfill: %+v (broken: %v)", rep, rep.Broken)
	}
	// Migration 10 counted the live spend (7), not the voided one (8).
	spent, err := s.Ledger().Spent(ctx, "ETH", time.Unix(0, 0))
	if err != nil || spent.String() != "7" {
		t.Fatalf("spent after the counters' backfill = %v, %v; want 7", spent, err)
	}
}
