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
	s.db.Exec(`CREATE VIRTUAL TABLE IF NOT EXISTS temp.v USING fts5vocab(main, chat_messages_fts, 'row')`)
	db := s.db.WithContext(ctx)
	tag := chatTag("bench:recall")
	run := func(name, sql string, args ...any) {
		var n []float64
		var best time.Duration = time.Hour
		for range 5 {
			t0 := time.Now()
			if err := db.Raw(sql, args...).Scan(&n).Error; err != nil { t.Fatal(name, err) }
			best = min(best, time.Since(t0))
		}
		t.Logf("%-40s %v %v", name, best, n[:min(3, len(n))])
	}
	run("vocab", `SELECT doc FROM temp.v WHERE term IN ('swap', 'slippag')`)
	k0 := `SELECT s FROM (SELECT rowid, SUM(w) s FROM (
		SELECT rowid, 2.3 w FROM chat_messages_fts WHERE chat_messages_fts MATCH ?
		UNION ALL SELECT rowid, 3.1 w FROM chat_messages_fts WHERE chat_messages_fts MATCH ?) GROUP BY rowid ORDER BY s DESC, rowid DESC LIMIT 10)`
	run("k1=0 notag", k0, `body:"swap"`, `body:"slippage"`)
	run("k1=0 tag", k0, `chat_tag:"`+tag+`" AND body:"swap"`, `chat_tag:"`+tag+`" AND body:"slippage"`)
	run("k1=0 3 notag", `SELECT s FROM (SELECT rowid, SUM(w) s FROM (
		SELECT rowid, 2.3 w FROM chat_messages_fts WHERE chat_messages_fts MATCH ?
		UNION ALL SELECT rowid, 3.1 w FROM chat_messages_fts WHERE chat_messages_fts MATCH ?
		UNION ALL SELECT rowid, 3.1 w FROM chat_messages_fts WHERE chat_messages_fts MATCH ?) GROUP BY rowid ORDER BY s DESC, rowid DESC LIMIT 10)`, `body:"bridge"`, `body:"fees"`, `body:"arbitrum"`)
	run("join chat", `SELECT count(*) FROM chat_messages_fts f JOIN chat_messages m ON m.id = f.rowid WHERE f.chat_messages_fts MATCH ? AND m.chat = ?`, `body:("swap" OR "slippage")`, "bench:recall")
	for _, w := range []int{99990, 99000, 98000, 95000} {
		run("bm25 window", `SELECT count(*) FROM (SELECT rowid, bm25(chat_messages_fts, 1.0, 0.0) s FROM chat_messages_fts WHERE chat_messages_fts MATCH ? AND rowid > ? ORDER BY s LIMIT 10)`, `body : ("slippage" OR "swap")`, w)
	}
}
