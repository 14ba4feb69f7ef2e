package memory

import (
	"context"
	"fmt"
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
		// The subquery ranks inside FTS5, restricted to the chat by its tag
		// token, and the join re-checks the chat itself: the tag is an index
		// accelerator, the chat column is the isolation.
		err = db.Raw(`SELECT m.id, m.chat, m.role, m.content, m.tool_calls, m.tool_call_id, m.tool_name, m.tokens, m.at_ns
			FROM (SELECT rowid AS id, bm25(chat_messages_fts, 1.0, 0.0) AS score
				FROM chat_messages_fts WHERE chat_messages_fts MATCH ? ORDER BY score LIMIT ?) r
			JOIN chat_messages m ON m.id = r.id
			WHERE m.chat = ?
			ORDER BY r.score, m.id DESC`, ftsQuery(chat, terms), k, chat).Scan(&rows).Error
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

// ftsQuery is the FTS5 MATCH expression for terms within chat. Every term
// is a double-quoted string (queryTerms leaves no quote in it), which FTS5
// reads as a phrase of literal tokens whatever it contains.
func ftsQuery(chat string, terms []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `chat_tag : "%s" AND body : (`, chatTag(chat))
	for i, t := range terms {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString(`"` + strings.ReplaceAll(t, `"`, `""`) + `"`)
	}
	b.WriteString(")")
	return b.String()
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
