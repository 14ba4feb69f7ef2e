// Package memory is Mandate's durable store: the spend ledger and decision
// audit behind policies.Ledger, and the transaction journal behind
// evm.Journal, over SQLite (the default, pure Go, no cgo) or PostgreSQL.
//
// Open picks the backend from a DSN ("sqlite:PATH" or a postgres:// URL),
// brings the schema up to date and returns a Store:
//
//	store, err := memory.Open(ctx, "sqlite:mandate.db")
//	eng := policies.NewEngine(pol, store.Ledger())
//
// The ledger's one hard promise is that concurrent commits never both pass a
// limit that only one of them fits, whether they race in one process, in
// several processes on one SQLite file, or in replicas on one PostgreSQL
// database. SQLite gets there by serialising writers (BEGIN IMMEDIATE on a
// single write connection); PostgreSQL by transaction-scoped advisory locks
// on the buckets a commit touches, taken in a global order.
//
// Store.Chats is the agent's conversation memory: messages per chat with a
// token-budgeted window that never splits a tool call from its results,
// full-text recall (SQLite FTS5, PostgreSQL tsvector), facts, a rolling
// summary and optional embeddings tagged with their model and dimension.
// Every query names its chat; nothing crosses from one chat to another.
//
// Amounts are arbitrary-size integers. They are stored as canonical decimal
// text and summed in Go with math/big, because SQLite has no big-integer
// arithmetic and a database must never turn money into a float.
package memory
