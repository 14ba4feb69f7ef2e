package memory

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
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
	tests := []struct {
		query string
		args  []any
		index string
	}{
		{"SELECT amount FROM spends WHERE " + whereLiveSpends, []any{"b", 0}, "spends_live"},
		{"SELECT approval_id FROM decisions WHERE " + whereKeyApproval + " ORDER BY id LIMIT 1", []any{"w", "k"}, "decisions_key"},
		{"SELECT * FROM decisions WHERE " + whereApproval + " LIMIT 1", []any{"a"}, "decisions_approval"},
		{"SELECT * FROM tx_journal WHERE " + whereTxKey + " ORDER BY id LIMIT 1", []any{"1", "0x", "k"}, "tx_journal_key"},
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
