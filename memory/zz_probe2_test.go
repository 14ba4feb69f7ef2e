package memory

import (
	"context"
	"testing"
	"time"
)

func TestZZProbe2(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:/tmp/probe/recall.db")
	if err != nil { t.Fatal(err) }
	defer s.Close()
	db := s.read(ctx)
	tag := "chat_tag : " + ftsPhrase(chatTag("bench:recall"))
	run := func(name, sql string, args ...any) {
		var n []float64
		var best time.Duration = time.Hour
		for range 5 {
			t0 := time.Now()
			if err := db.Raw(sql, args...).Scan(&n).Error; err != nil { t.Fatal(name, err) }
			best = min(best, time.Since(t0))
		}
		t.Logf("%-70s %v %v", name, best, len(n))
	}
	for _, q := range []string{`body:"ledger"`, `body:"seed"`, `body:"phrase"`} {
		run("df "+q, `SELECT count(*) FROM (SELECT rowid FROM chat_messages_fts WHERE chat_messages_fts MATCH ? LIMIT 2000)`, q)
	}
	for _, q := range []string{
		`(` + tag + ` AND body : ("ledger" AND "seed" AND "phrase"))`,
		`(` + tag + ` AND body : ("ledger" AND "seed")) NOT body : ("phrase")`,
		`(body : ("ledger" AND "seed")) NOT body : ("phrase")`,
		`(body : ("ledger" AND "seed" AND "phrase"))`,
		`(` + tag + ` AND body : ("ledger")) NOT body : ("seed" OR "phrase")`,
	} {
		run(q[len(q)-min(len(q), 70):], `SELECT rowid FROM chat_messages_fts WHERE chat_messages_fts MATCH ? ORDER BY rowid DESC LIMIT 10`, q)
	}
	for _, q := range []string{"ledger seed phrase", "bridge fees arbitrum", "alice recipient memo", "what was the slippage on that swap"} {
		var best time.Duration = time.Hour
		for range 5 {
			t0 := time.Now()
			s.Chats().Recall(ctx, "bench:recall", q, 10)
			best = min(best, time.Since(t0))
		}
		t.Log(q, best)
	}
}
