package memory

import (
	"context"
	"testing"
	"time"

	"github.com/mandatehq/mandate/orders"
)

// An order stored under schema 5 names its chain by id alone: after the
// upgrade no chain lists it until one adopts it.
func TestMigrateOrdersWithoutGenesis(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite::memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, table := range []string{"spends", "decisions", "tx_journal", "schema_migrations",
		"chat_messages_fts", "chat_embeddings", "chat_messages", "chat_sessions", "chat_facts", "chat_summaries", "orders", "cosigner_reviews", "bot_state", "bot_updates", "bot_leases", "bot_approvals", "audit_chain", "spend_counters"} {
		if err := s.db.Exec("DROP TABLE " + table).Error; err != nil {
			t.Fatal(err)
		}
	}
	if err := s.migrateTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	placed := time.Unix(1_800_000_000, 0)
	if err := s.db.Exec(`INSERT INTO orders (chain, wallet, wallet_key, kind, from_token, to_token, amount, trig, status, created_at_ns, updated_at_ns)
		VALUES ('1337', '0xAb00000000000000000000000000000000000001', '0xab00000000000000000000000000000000000001', 'stop', '{"symbol":"USDC"}', '{"symbol":"ETH"}', '5', 'ETH <= 1', 'open', ?, ?)`,
		placed.UnixNano(), placed.UnixNano()).Error; err != nil {
		t.Fatal(err)
	}
	if err := s.migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const wallet = "0xAb00000000000000000000000000000000000001"
	key := orders.ChainKey("1337", "0x00000000000000000000000000000000000000000000000000000000000000c1")
	if l, err := s.Orders().List(ctx, key, wallet, false); err != nil || len(l) != 0 {
		t.Fatalf("an order of schema 5 listed before any chain adopted it: %+v, %v", l, err)
	}
	if n, err := s.Orders().Elsewhere(ctx, key, wallet); err != nil || n != 1 {
		t.Errorf("orders elsewhere = %d, %v; want the unadopted one", n, err)
	}
	if n, err := s.Orders().Adopt(ctx, key, wallet, placed.Add(time.Second)); err != nil || n != 0 {
		t.Errorf("a chain that began after the order adopted %d (%v)", n, err)
	}
	if n, err := s.Orders().Adopt(ctx, key, wallet, placed.Add(-time.Hour)); err != nil || n != 1 {
		t.Fatalf("a chain older than the order adopted %d (%v), want 1", n, err)
	}
	l, err := s.Orders().List(ctx, key, wallet, true)
	if err != nil || len(l) != 1 || l[0].Amount.Int64() != 5 || l[0].Status != orders.Open || !l[0].CreatedAt.Equal(placed) {
		t.Fatalf("after adoption: %+v, %v", l, err)
	}
}
