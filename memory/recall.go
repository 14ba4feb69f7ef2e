package memory

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"

	"gorm.io/gorm"
)

// Recall is full-text search over one chat's past messages.
//
// SQLite uses FTS5 (compiled into the pure-Go modernc driver: no
// hand-written index was needed) with the porter stemmer over unicode61;
// PostgreSQL a stored English tsvector with a GIN index. Both index the
// first recallIndexChars characters of a message: PostgreSQL cannot hold a
// tsvector over 1 MB, and both backends must find the same things.
//
// The query is what a person typed, never a query language. It is split
// into words in Go, English stop words are dropped, and each word becomes a
// quoted FTS5 string or its own plainto_tsquery, so quotes, AND/OR/NOT/NEAR,
// *, ^, :, -, parentheses and the like match as text (or not at all) and can
// neither fail the query nor change its meaning.
//
// Ranking is BM25 with k1 = 0, the same on both backends: a message scores
// the sum of the idf of the query words it contains (a message with more of
// the words, and rarer ones, first; ties newest first), and term frequency
// and length do not count, which for chat messages they barely would. The
// words are ORed, not ANDed as plainto_tsquery or websearch_to_tsquery
// would: a recall query is a question ("what did we say about the USDC
// swap"), and requiring every word of it would find nothing.
//
// Why not the engines' own rankers: FTS5's bm25() first counts every row
// holding each query word, then scores every match, about 2 µs a row in
// the pure-Go build, so a word in 10% of a 100,000-message chat cost ~20 ms;
// ts_rank detoasts and scores every match (~75 ms there). A k1 = 0 score has
// one value per subset of the query words, so the top k come from
// evaluating subsets in descending score, each as an index query for "these
// words and none of the others" read newest first and stopped after k rows:
// bounded index work whatever the words' frequencies. idf comes from a
// count of each word's rows capped at dfCap (above it a word is "common",
// and common words rank alike), against the highest message ID as the row
// count: both cheap, both close enough for an idf.
const recallIndexChars = 65536

// Limits on what one Recall does, whatever it is given.
const (
	maxRecallTerms = 16  // distinct words of the query searched for
	maxRecallK     = 200 // messages returned
)

// Recall returns up to k past messages of chat that share words with
// query, best first (ties: newest first). It never returns another chat's
// messages. A query with no searchable words (empty, punctuation, only stop
// words) returns nothing.
func (c *Chats) Recall(ctx context.Context, chat, query string, k int) ([]Message, error) {
	if err := checkChat(chat); err != nil {
		return nil, fmt.Errorf("memory: recall: %w", err)
	}
	terms := queryTerms(query)
	if len(terms) == 0 || k <= 0 {
		return nil, nil
	}
	k = min(k, maxRecallK)
	var ix recallIndex = pgIndex{c.s.read(ctx), chat}
	if c.s.backend == backendSQLite {
		si, err := newSQLiteIndex(c.s.read(ctx), chat)
		if err != nil {
			return nil, fmt.Errorf("memory: recall in %s: %w", chat, err)
		}
		ix = si
	}
	ids, err := rank(c.s.read(ctx), ix, terms, k)
	if err != nil {
		return nil, fmt.Errorf("memory: recall in %s: %w", chat, err)
	}
	out, err := c.byIDs(ctx, chat, ids)
	if err != nil {
		return nil, fmt.Errorf("memory: recall in %s: %w", chat, err)
	}
	return out, nil
}

// ftsPhrase quotes a term as an FTS5 string, which FTS5 reads as a phrase
// of literal tokens whatever it contains (queryTerms leaves no quote in a
// term; doubling is the escape should one ever get there).
func ftsPhrase(t string) string { return `"` + strings.ReplaceAll(t, `"`, `""`) + `"` }

// ftsJoin is the phrases of terms joined by op ("AND", "OR").
func ftsJoin(terms []string, op string) string {
	q := make([]string, len(terms))
	for i, t := range terms {
		q[i] = ftsPhrase(t)
	}
	return strings.Join(q, " "+op+" ")
}

// chatTag is the token the FTS5 triggers index for a chat: 'c' || hex(chat)
// || '0'. Hex makes any chat id one token, injectively; the final digit
// keeps the porter stemmer (whose suffixes are all letters) from touching it.
func chatTag(chat string) string { return fmt.Sprintf("c%X0", chat) }

// queryTerms splits user text into distinct lower-case words of letters,
// digits and marks (what both full-text parsers treat as word characters),
// drops English stop words, and keeps the first maxRecallTerms.
func queryTerms(query string) []string {
	words := strings.FieldsFunc(strings.ToLower(cleanText(query)), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
	seen := map[string]bool{}
	var out []string
	for _, w := range words {
		if stopWords[w] || seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
		if len(out) == maxRecallTerms {
			break
		}
	}
	return out
}

// stopWords are dropped from recall queries on both backends. PostgreSQL's
// english configuration drops them anyway; dropping them in Go too keeps
// SQLite's results alike and spares it ranking nearly every message for
// "the". The list is the common core of the Snowball English list.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an and are as at be been but by can did do does for from had has have
		he her his how i if in into is it its me my no not of on or our she so than that the their them then
		there these they this those to was we were what when where which who whom why will with you your
		about after again all am any because before being both each few further here just more most nor
		once only other out over own same should some such too under until up very while yours ourselves s t`) {
		m[w] = true
	}
	return m
}()

// Limits of the ranking; see Recall's comment.
const (
	dfCap          = 256
	maxSubsetTerms = 6 // the rarest words of a longer query; 63 subsets at most
)

// recallIndex is what rank needs of a backend's full-text index.
type recallIndex interface {
	// df counts the messages of any chat that hold term, up to dfCap.
	df(term string) (int64, error)
	// subset returns the IDs of the chat's newest k messages that hold
	// every word of in and none of out, newest first.
	subset(in, out []string, k int) ([]int64, error)
}

// rank returns the IDs of the k best messages for terms, best first.
func rank(db *gorm.DB, ix recallIndex, terms []string, k int) ([]int64, error) {
	var n int64
	if err := db.Raw("SELECT COALESCE(MAX(id), 0) FROM chat_messages").Scan(&n).Error; err != nil {
		return nil, err
	}
	type term struct {
		text string
		idf  float64
	}
	var ts []term
	for _, t := range terms {
		df, err := ix.df(t)
		if err != nil {
			return nil, err
		}
		if df == 0 {
			continue // in no message of any chat, or a stop word to PostgreSQL
		}
		ts = append(ts, term{t, math.Log(1 + (float64(max(n, df))-float64(df)+0.5)/(float64(df)+0.5))})
	}
	slices.SortStableFunc(ts, func(a, b term) int { return cmp.Compare(b.idf, a.idf) })
	ts = ts[:min(len(ts), maxSubsetTerms)]

	type subset struct {
		mask  int
		score float64
	}
	subsets := make([]subset, 0, 1<<len(ts)-1)
	for mask := 1; mask < 1<<len(ts); mask++ {
		var sc float64
		for i, t := range ts {
			if mask&(1<<i) != 0 {
				sc += t.idf
			}
		}
		subsets = append(subsets, subset{mask, sc})
	}
	// More words first among equal scores: the subsets are disjoint, so
	// this only orders the queries.
	slices.SortStableFunc(subsets, func(a, b subset) int { return cmp.Compare(b.score, a.score) })

	var hits []hit
	seen := map[int64]bool{}
	for i, sub := range subsets {
		// Stop once k are found, but not inside a run of equal scores, whose
		// order is by recency across subsets.
		if len(hits) >= k && (i == 0 || sub.score < subsets[i-1].score) {
			break
		}
		var in, out []string
		for j, t := range ts {
			if sub.mask&(1<<j) != 0 {
				in = append(in, t.text)
			} else {
				out = append(out, t.text)
			}
		}
		ids, err := ix.subset(in, out, k)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			// Two words that stem alike make overlapping subsets; the first
			// (higher) score stands.
			if !seen[id] {
				seen[id] = true
				hits = append(hits, hit{id, sub.score})
			}
		}
	}
	ids := topIDs(hits, k)
	return ids, nil
}

// sqliteIndex queries the FTS5 table.
type sqliteIndex struct {
	db     *gorm.DB
	chat   string
	useTag bool
}

// newSQLiteIndex decides how to restrict FTS5 to the chat. A chat that is a
// small part of the table is searched through its tag, so FTS5 intersects
// with the chat's rows instead of walking everyone's. A chat that is most
// of it is searched without: ANDing a tag nearly every row carries costs
// FTS5 a walk of the whole tag doclist (measured 5× slower on a
// 100,000-message chat), and the join drops other chats' few rows instead.
func newSQLiteIndex(db *gorm.DB, chat string) (sqliteIndex, error) {
	var size, n int64
	if err := db.Raw(`SELECT COALESCE((SELECT messages FROM chat_sessions WHERE chat = ?), 0),
		COALESCE((SELECT MAX(id) FROM chat_messages), 0)`, chat).Row().Scan(&size, &n); err != nil {
		return sqliteIndex{}, err
	}
	return sqliteIndex{db: db, chat: chat, useTag: size*4 < n}, nil
}

func (x sqliteIndex) df(t string) (int64, error) {
	var df int64
	err := x.db.Raw(`SELECT count(*) FROM (SELECT rowid FROM chat_messages_fts
		WHERE chat_messages_fts MATCH ? LIMIT ?)`, "body : "+ftsPhrase(t), dfCap).Scan(&df).Error
	return df, err
}

func (x sqliteIndex) subset(in, out []string, k int) ([]int64, error) {
	q := "body : (" + ftsJoin(in, "AND") + ")"
	if x.useTag {
		q = "(chat_tag : " + ftsPhrase(chatTag(x.chat)) + " AND " + q + ")"
	}
	if len(out) > 0 {
		q += " NOT body : (" + ftsJoin(out, "OR") + ")"
	}
	// CROSS JOIN keeps FTS5 the outer loop, read newest first and stopped by
	// the LIMIT; left to itself the planner may walk the chat's index and
	// run the MATCH once per message instead.
	var ids []int64
	err := x.db.Raw(`SELECT f.rowid FROM chat_messages_fts f CROSS JOIN chat_messages m ON m.id = f.rowid
		WHERE f.chat_messages_fts MATCH ? AND m.chat = ? ORDER BY f.rowid DESC LIMIT ?`, q, x.chat, k).Scan(&ids).Error
	return ids, err
}

// pgIndex queries the tsvector column and its GIN index.
type pgIndex struct {
	db   *gorm.DB
	chat string
}

func (x pgIndex) df(t string) (int64, error) {
	var df int64
	err := x.db.Raw(`SELECT count(*) FROM (SELECT 1 FROM chat_messages
		WHERE content_tsv @@ plainto_tsquery('english', ?) LIMIT ?) d`, t, dfCap).Scan(&df).Error
	return df, err
}

func (x pgIndex) subset(in, out []string, k int) ([]int64, error) {
	q := make([]string, len(in))
	args := []any{x.chat}
	for i, t := range in {
		q[i] = "plainto_tsquery('english', ?)"
		args = append(args, t)
	}
	expr := strings.Join(q, " && ")
	if len(out) > 0 {
		q = q[:0]
		for _, t := range out {
			q = append(q, "plainto_tsquery('english', ?)")
			args = append(args, t)
		}
		expr = "(" + expr + ") && !!(" + strings.Join(q, " || ") + ")"
	}
	var ids []int64
	err := x.db.Raw(`SELECT id FROM chat_messages WHERE chat = ? AND content_tsv @@ (`+expr+`)
		ORDER BY id DESC LIMIT ?`, append(args, k)...).Scan(&ids).Error
	return ids, err
}

// hit is a candidate message and its score.
type hit struct {
	id    int64
	score float64
}

// topIDs returns the ids of the k best hits: highest score first, the
// newest message first among equal scores.
func topIDs(hits []hit, k int) []int64 {
	slices.SortFunc(hits, func(a, b hit) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
	ids := make([]int64, 0, min(k, len(hits)))
	for _, h := range hits[:min(k, len(hits))] {
		ids = append(ids, h.id)
	}
	return ids
}
