package memory

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
)

// Recall is full-text search over one chat's past messages.
//
// SQLite uses FTS5 (compiled into the pure-Go modernc driver) with the
// porter stemmer over unicode61 and bm25 ranking; PostgreSQL a stored
// English tsvector with a GIN index and ts_rank. Both index the first
// recallIndexChars characters of a message: PostgreSQL cannot hold a
// tsvector over 1 MB, and both backends must find the same things.
//
// The query is what a person typed, never a query language. It is split
// into words in Go, English stop words are dropped, and each word becomes a
// quoted FTS5 phrase or its own plainto_tsquery, so quotes, AND/OR/NOT/NEAR,
// *, ^, :, -, parentheses and the like match as text (or not at all) and can
// neither fail the query nor change its meaning. The words are ORed, not
// ANDed as plainto_tsquery or websearch_to_tsquery would: a recall query
// is a question ("what did we say about the USDC swap"), and requiring every
// word of it would find nothing; ranking puts messages with more of the
// words, and rarer ones, first.
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
	var (
		rows []messageRow
		err  error
	)
	db := c.s.read(ctx)
	switch c.s.backend {
	case backendSQLite:
		var ids []int64
		ids, err = c.recallSQLite(ctx, chat, terms, k)
		if err == nil {
			var out []Message
			out, err = c.byIDs(ctx, chat, ids)
			if err == nil {
				return out, nil
			}
		}
	case backendPostgres:
		q := make([]string, len(terms))
		args := make([]any, 0, len(terms)+2)
		for i, t := range terms {
			q[i] = "plainto_tsquery('english', ?)"
			args = append(args, t)
		}
		args = append(args, chat, k)
		// ts_rank normalisation 1 divides by 1 + log(length), so a long tool
		// result does not outrank the short message that was about the thing.
		err = db.Raw(`WITH q AS (SELECT `+strings.Join(q, " || ")+` AS q)
			SELECT `+messageCols+` FROM chat_messages, q
			WHERE chat = ? AND content_tsv @@ q.q
			ORDER BY ts_rank(content_tsv, q.q, 1) DESC, id DESC LIMIT ?`, args...).Scan(&rows).Error
	}
	if err != nil {
		return nil, fmt.Errorf("memory: recall in %s: %w", chat, err)
	}
	return messages(rows), nil
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

// SQLite ranking.
//
// FTS5's bm25() was measured too slow for a long chat: before scoring a
// single row it counts every row holding each query word (its idf), and
// then it scores every match, about 2 µs each in the pure-Go build, so a
// word found in 10% of 100,000 messages costs some 20 ms. Recall instead
// ranks by BM25 with k1 = 0: a message scores the sum of the idf of the
// query words it contains, and term frequency and message length do not
// count (chat messages are short, so they barely would). That score has
// few distinct values, one per subset of the query words, so the top k
// come from evaluating subsets in descending score, each as an FTS5 query
// for "these words and none of the others" read newest first and stopped
// after k rows: a bounded amount of index walking whatever the words'
// frequencies. idf comes from a count of each word's rows capped at
// dfCap: words above it are "common" and rank alike.
const (
	dfCap          = 256
	maxSubsetTerms = 6 // the rarest words of a longer query; 63 subsets at most
)

func (c *Chats) recallSQLite(ctx context.Context, chat string, terms []string, k int) ([]int64, error) {
	db := c.s.read(ctx)
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
		var df int64
		if err := db.Raw(`SELECT count(*) FROM (SELECT rowid FROM chat_messages_fts
			WHERE chat_messages_fts MATCH ? LIMIT ?)`, "body : "+ftsPhrase(t), dfCap).Scan(&df).Error; err != nil {
			return nil, err
		}
		if df == 0 {
			continue // in no message of any chat
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
	slices.SortStableFunc(subsets, func(a, b subset) int { return cmp.Compare(b.score, a.score) })

	type hit struct {
		id    int64
		score float64
	}
	var hits []hit
	// A chat that is a small part of the table is searched through its tag,
	// so FTS5 intersects with the chat's rows instead of walking everyone's.
	// A chat that is most of it is searched without: ANDing a tag that
	// nearly every row carries costs FTS5 a walk of the whole tag doclist
	// (measured 5× slower on a 100,000-message chat), and the join below
	// drops the few rows of other chats instead.
	var size int64
	if err := db.Raw("SELECT COALESCE(MAX(messages), 0) FROM chat_sessions WHERE chat = ?", chat).Scan(&size).Error; err != nil {
		return nil, err
	}
	useTag := size*4 < n
	tag := "chat_tag : " + ftsPhrase(chatTag(chat))
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
		q := "body : (" + ftsJoin(in, "AND") + ")"
		if useTag {
			q = "(" + tag + " AND " + q + ")"
		}
		if len(out) > 0 {
			q += " NOT body : (" + ftsJoin(out, "OR") + ")"
		}
		// CROSS JOIN keeps FTS5 the outer loop, read newest first and
		// stopped by the LIMIT; the planner left alone may instead walk the
		// chat's index and run the MATCH once per message.
		var ids []int64
		if err := db.Raw(`SELECT f.rowid FROM chat_messages_fts f CROSS JOIN chat_messages m ON m.id = f.rowid
			WHERE f.chat_messages_fts MATCH ? AND m.chat = ? ORDER BY f.rowid DESC LIMIT ?`,
			q, chat, k).Scan(&ids).Error; err != nil {
			return nil, err
		}
		for _, id := range ids {
			hits = append(hits, hit{id, sub.score})
		}
	}
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
	return ids, nil
}
