package memory

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// The schema is managed by numbered migrations recorded in
// schema_migrations, not by gorm's AutoMigrate, because:
//   - the ledger depends on partial unique indexes (idempotency keys, approval
//     IDs) and per-backend types that struct tags cannot express portably;
//   - replicas starting together must not race on DDL: the whole upgrade runs
//     in one transaction under a lock (an advisory lock on PostgreSQL, the
//     write lock on SQLite), and DDL is transactional on both backends, so a
//     failed upgrade leaves the previous schema intact;
//   - AutoMigrate only adds; later changes (backfills, renames) need an
//     ordered, recorded history, and an old binary must refuse a newer
//     schema instead of silently writing into it.
//
// Times are stored as integer Unix nanoseconds (UTC): exact, sortable and
// identical on both backends, where SQLite has no time type and PostgreSQL's
// rounds to microseconds. Amounts are canonical decimal text.

// migration is one schema step. Statements are written once for both
// backends where they can be; {{id}} and {{blob}} expand to each backend's
// types. What only one backend has (SQLite's FTS5 tables and triggers,
// PostgreSQL's tsvector columns and GIN indexes) goes in sqlite or postgres,
// run after stmts in the same transaction.
type migration struct {
	version  int
	name     string
	stmts    []string
	sqlite   []string
	postgres []string
	// backfill runs last, in the same transaction: data the new schema
	// derives from rows already there.
	backfill func(tx *gorm.DB) error
}

var migrations = []migration{{
	version: 1,
	name:    "ledger, decisions audit and transaction journal",
	stmts: []string{
		// Every decision: approvals (which may charge spends), denials, asks.
		`CREATE TABLE decisions (
			id {{id}},
			approval_id TEXT NOT NULL DEFAULT '',
			wallet TEXT NOT NULL,
			chain TEXT NOT NULL DEFAULT '',
			idem_key TEXT NOT NULL DEFAULT '',
			kind TEXT NOT NULL DEFAULT '',
			digest TEXT NOT NULL DEFAULT '',
			intent TEXT NOT NULL DEFAULT '',
			decision TEXT NOT NULL,
			reasons TEXT NOT NULL DEFAULT '[]',
			prices TEXT NOT NULL DEFAULT '[]',
			at_ns BIGINT NOT NULL,
			released_at_ns BIGINT,
			release_reason TEXT NOT NULL DEFAULT ''
		)`,
		// An approval ID is committed once. An ask may carry the ID its later
		// approval will use, so only approvals are unique.
		`CREATE UNIQUE INDEX decisions_approval ON decisions (approval_id)
			WHERE approval_id <> '' AND decision = 'approve'`,
		// An idempotency key is consumed by an approval, not by a denial or an
		// ask (the ask's approval must still be able to commit under it).
		`CREATE UNIQUE INDEX decisions_key ON decisions (wallet, idem_key)
			WHERE idem_key <> '' AND decision = 'approve'`,
		`CREATE INDEX decisions_wallet_at ON decisions (wallet, at_ns)`,
		`CREATE INDEX decisions_at ON decisions (at_ns)`,
		// What approvals charge. at_ns copies the decision's time so the
		// window sum reads one index.
		`CREATE TABLE spends (
			id {{id}},
			decision_id BIGINT NOT NULL REFERENCES decisions (id) ON DELETE CASCADE,
			bucket TEXT NOT NULL,
			amount TEXT NOT NULL,
			at_ns BIGINT NOT NULL,
			voided_at_ns BIGINT
		)`,
		`CREATE INDEX spends_live ON spends (bucket, at_ns) WHERE voided_at_ns IS NULL`,
		`CREATE INDEX spends_decision ON spends (decision_id)`,
		// Every signed transaction, written before it is broadcast.
		`CREATE TABLE tx_journal (
			id {{id}},
			hash TEXT NOT NULL,
			chain TEXT NOT NULL,
			sender TEXT NOT NULL,
			nonce BIGINT NOT NULL,
			idem_key TEXT NOT NULL DEFAULT '',
			approval_id TEXT NOT NULL DEFAULT '',
			raw {{blob}},
			status TEXT NOT NULL,
			replaced_by TEXT NOT NULL DEFAULT '',
			error_text TEXT NOT NULL DEFAULT '',
			block_number BIGINT NOT NULL DEFAULT 0,
			created_at_ns BIGINT NOT NULL,
			updated_at_ns BIGINT NOT NULL
		)`,
		`CREATE UNIQUE INDEX tx_journal_hash ON tx_journal (hash)`,
		`CREATE UNIQUE INDEX tx_journal_key ON tx_journal (chain, sender, idem_key) WHERE idem_key <> ''`,
		`CREATE INDEX tx_journal_sender_nonce ON tx_journal (chain, sender, nonce)`,
	},
}, {
	version: 2,
	name:    "compare EVM addresses case-insensitively",
	stmts: []string{
		// An EVM address's letter case is only a checksum: 0xAb… and 0xab…
		// are one wallet, so they share idempotency keys and nonces. The
		// *_key columns hold the compared form (see walletKey, senderKey);
		// wallet and sender keep what the caller wrote. Base58 (Solana) never
		// starts with "0", so the rule below leaves it alone.
		`ALTER TABLE decisions ADD COLUMN wallet_key TEXT NOT NULL DEFAULT ''`,
		`UPDATE decisions SET wallet_key = CASE
			WHEN length(wallet) = 42 AND lower(substr(wallet, 1, 2)) = '0x' THEN lower(wallet)
			ELSE wallet END`,
		`DROP INDEX decisions_key`,
		`CREATE UNIQUE INDEX decisions_key ON decisions (wallet_key, idem_key)
			WHERE idem_key <> '' AND decision = 'approve'`,
		`DROP INDEX decisions_wallet_at`,
		`CREATE INDEX decisions_wallet_at ON decisions (wallet_key, at_ns)`,
		`ALTER TABLE tx_journal ADD COLUMN sender_key TEXT NOT NULL DEFAULT ''`,
		`UPDATE tx_journal SET sender_key = lower(sender)`,
		`DROP INDEX tx_journal_key`,
		`CREATE UNIQUE INDEX tx_journal_key ON tx_journal (chain, sender_key, idem_key) WHERE idem_key <> ''`,
		`DROP INDEX tx_journal_sender_nonce`,
		`CREATE INDEX tx_journal_sender_nonce ON tx_journal (chain, sender_key, nonce)`,
	},
}, {
	version: 3,
	name:    "conversation memory: messages, full-text recall, facts, summaries, embeddings",
	stmts: []string{
		// Messages are append-only. tool_calls is JSON text, NULL when the
		// message calls no tool, so Recent can find tool-call groups from
		// the index alone.
		`CREATE TABLE chat_messages (
			id {{id}},
			chat TEXT NOT NULL,
			role TEXT NOT NULL,
			content TEXT NOT NULL DEFAULT '',
			tool_calls TEXT,
			tool_call_id TEXT NOT NULL DEFAULT '',
			tool_name TEXT NOT NULL DEFAULT '',
			tokens INTEGER NOT NULL,
			at_ns BIGINT NOT NULL
		)`,
		`CREATE INDEX chat_messages_chat ON chat_messages (chat, id)`,
		// One row per chat, kept by Append: how many messages it holds, which
		// Recall weighs against the whole table to pick its plan, without
		// counting a long chat's index on every query.
		`CREATE TABLE chat_sessions (
			chat TEXT PRIMARY KEY,
			messages BIGINT NOT NULL,
			first_at_ns BIGINT NOT NULL,
			last_at_ns BIGINT NOT NULL
		)`,
		`CREATE TABLE chat_facts (
			chat TEXT NOT NULL,
			name TEXT NOT NULL,
			value TEXT NOT NULL,
			updated_at_ns BIGINT NOT NULL,
			PRIMARY KEY (chat, name)
		)`,
		`CREATE TABLE chat_summaries (
			chat TEXT PRIMARY KEY,
			summary TEXT NOT NULL,
			up_to BIGINT NOT NULL,
			updated_at_ns BIGINT NOT NULL
		)`,
		// One vector per message and model. dim is stored, not derived from
		// the blob's length, so Nearest filters on it in the index; chat is
		// copied from the message so Nearest never joins.
		`CREATE TABLE chat_embeddings (
			message_id BIGINT NOT NULL REFERENCES chat_messages (id) ON DELETE CASCADE,
			chat TEXT NOT NULL,
			model TEXT NOT NULL,
			dim INTEGER NOT NULL,
			vec {{blob}} NOT NULL,
			PRIMARY KEY (message_id, model)
		)`,
		`CREATE INDEX chat_embeddings_chat ON chat_embeddings (chat, model, dim)`,
	},
	// SQLite: a contentless FTS5 index kept by triggers (the text lives once,
	// in chat_messages). chat_tag holds chatTag(chat), a single token, so
	// a recall query ANDs its chat into the MATCH and FTS5 intersects
	// doclists instead of ranking every chat's matches and filtering after.
	// See recallIndexChars for the substr.
	sqlite: []string{
		`CREATE VIRTUAL TABLE chat_messages_fts USING fts5(
			body, chat_tag, content='', tokenize='porter unicode61 remove_diacritics 2')`,
		`CREATE TRIGGER chat_messages_fts_insert AFTER INSERT ON chat_messages BEGIN
			INSERT INTO chat_messages_fts (rowid, body, chat_tag)
			VALUES (new.id, substr(new.content, 1, 65536), 'c' || hex(new.chat) || '0');
		END`,
		`CREATE TRIGGER chat_messages_fts_delete AFTER DELETE ON chat_messages BEGIN
			INSERT INTO chat_messages_fts (chat_messages_fts, rowid, body, chat_tag)
			VALUES ('delete', old.id, substr(old.content, 1, 65536), 'c' || hex(old.chat) || '0');
		END`,
		`CREATE TRIGGER chat_messages_fts_update AFTER UPDATE OF content, chat ON chat_messages BEGIN
			INSERT INTO chat_messages_fts (chat_messages_fts, rowid, body, chat_tag)
			VALUES ('delete', old.id, substr(old.content, 1, 65536), 'c' || hex(old.chat) || '0');
			INSERT INTO chat_messages_fts (rowid, body, chat_tag)
			VALUES (new.id, substr(new.content, 1, 65536), 'c' || hex(new.chat) || '0');
		END`,
	},
	// PostgreSQL: a stored tsvector (English stemming and stop words, like
	// the porter tokenizer on SQLite) with a GIN index.
	postgres: []string{
		`ALTER TABLE chat_messages ADD COLUMN content_tsv tsvector
			GENERATED ALWAYS AS (to_tsvector('english', left(content, 65536))) STORED`,
		`CREATE INDEX chat_messages_tsv ON chat_messages USING GIN (content_tsv)`,
	},
}, {
	version: 4,
	name:    "standing orders",
	stmts: []string{
		// Tokens are the JSON of policies.Token as resolved when the order
		// was placed; amounts are base units as decimal text (exact at any
		// size); times are unix nanoseconds like everywhere else here.
		`CREATE TABLE orders (
			id {{id}},
			chain TEXT NOT NULL,
			wallet TEXT NOT NULL,
			wallet_key TEXT NOT NULL,
			kind TEXT NOT NULL,
			from_token TEXT NOT NULL,
			to_token TEXT NOT NULL,
			amount TEXT NOT NULL,
			trig TEXT NOT NULL,
			slippage_bps INTEGER,
			every_ns BIGINT NOT NULL DEFAULT 0,
			runs INTEGER NOT NULL DEFAULT 0,
			done INTEGER NOT NULL DEFAULT 0,
			attempt INTEGER NOT NULL DEFAULT 0,
			next_at_ns BIGINT NOT NULL DEFAULT 0,
			status TEXT NOT NULL,
			note TEXT NOT NULL DEFAULT '',
			last_tx TEXT NOT NULL DEFAULT '',
			created_at_ns BIGINT NOT NULL,
			updated_at_ns BIGINT NOT NULL
		)`,
		`CREATE INDEX orders_wallet ON orders (chain, wallet_key, status)`,
	},
}, {
	version: 5,
	name:    "co-signer reviews",
	stmts: []string{
		// One row per Safe transaction (chain, safeTxHash): the review's
		// answer, so the same transaction gets the same answer and at most
		// one signature. An approval is never overwritten.
		`CREATE TABLE cosigner_reviews (
			chain TEXT NOT NULL,
			safe_tx_hash TEXT NOT NULL,
			safe TEXT NOT NULL,
			nonce BIGINT NOT NULL,
			decision TEXT NOT NULL,
			reasons TEXT NOT NULL,
			intents TEXT NOT NULL,
			signature TEXT NOT NULL DEFAULT '',
			at_ns BIGINT NOT NULL,
			PRIMARY KEY (chain, safe_tx_hash)
		)`,
	},
}, {
	version: 6,
	name:    "retries under a key; chains told apart by genesis",
	stmts: []string{
		// An approval whose attempt signed nothing is superseded by the
		// retry under its key, which then owns the key.
		`ALTER TABLE decisions ADD COLUMN superseded_by TEXT NOT NULL DEFAULT ''`,
		`DROP INDEX decisions_key`,
		`CREATE UNIQUE INDEX decisions_key ON decisions (wallet_key, idem_key)
			WHERE idem_key <> '' AND decision = 'approve' AND superseded_by = ''`,
		// The journal's chain names the chain by id and genesis block, and
		// the same signed bytes may be journaled on two chains that share
		// an id (a devnet restarted over the same database).
		// What a row's approval asked for (policies.ActionDigest), so a
		// retry under its key that asks for something else is refused.
		`ALTER TABLE tx_journal ADD COLUMN action TEXT NOT NULL DEFAULT ''`,
		`DROP INDEX tx_journal_hash`,
		`CREATE UNIQUE INDEX tx_journal_hash ON tx_journal (hash, chain)`,
		// An order names its chain by id and genesis block too ('' for one
		// placed before, until a chain adopts it: see orders.Store.Adopt).
		`ALTER TABLE orders ADD COLUMN genesis TEXT NOT NULL DEFAULT ''`,
	},
}, {
	version: 7,
	name:    "a chat bot's update offset",
	stmts: []string{
		// The next update a bot (by its numeric id, never its token) asks
		// its platform for, so a restart neither repeats nor skips one.
		`CREATE TABLE bot_state (
			bot TEXT PRIMARY KEY,
			update_offset BIGINT NOT NULL,
			updated_at_ns BIGINT NOT NULL
		)`,
	},
}, {
	version: 8,
	name:    "a chat bot's update inbox, chat leases and approval buttons",
	stmts: []string{
		// Every update a bot received, stored before it is confirmed to the
		// platform (a webhook's 2xx, the next getUpdates), so none is lost,
		// and handled from here in order per chat by whichever replica
		// holds the chat's lease. The primary key drops a redelivery.
		`CREATE TABLE bot_updates (
			bot TEXT NOT NULL,
			update_id BIGINT NOT NULL,
			chat BIGINT NOT NULL,
			payload TEXT NOT NULL,
			state TEXT NOT NULL DEFAULT 'new',
			attempts INTEGER NOT NULL DEFAULT 0,
			received_at_ns BIGINT NOT NULL,
			done_at_ns BIGINT,
			PRIMARY KEY (bot, update_id)
		)`,
		`CREATE INDEX bot_updates_pending ON bot_updates (bot, chat, update_id) WHERE state = 'new'`,
		`CREATE INDEX bot_updates_done ON bot_updates (bot, done_at_ns) WHERE state <> 'new'`,
		// Which replica handles a chat now, until when.
		`CREATE TABLE bot_leases (
			bot TEXT NOT NULL,
			chat BIGINT NOT NULL,
			holder TEXT NOT NULL DEFAULT '',
			until_ns BIGINT NOT NULL DEFAULT 0,
			PRIMARY KEY (bot, chat)
		)`,
		// An Approve / Reject question: settled once, by whichever replica
		// the first press reached.
		`CREATE TABLE bot_approvals (
			id TEXT PRIMARY KEY,
			bot TEXT NOT NULL,
			state TEXT NOT NULL DEFAULT '',
			settled_by TEXT NOT NULL DEFAULT '',
			question TEXT NOT NULL,
			shown TEXT NOT NULL DEFAULT '[]',
			expires_at_ns BIGINT NOT NULL,
			created_at_ns BIGINT NOT NULL,
			settled_at_ns BIGINT
		)`,
		`CREATE INDEX bot_approvals_expires ON bot_approvals (bot, expires_at_ns)`,
	},
}, {
	version: 9,
	name:    "a hash chain over the decisions audit",
	stmts: []string{
		// One link per event of the audit (a decision, a later change of
		// its release or supersession), per wallet or Safe, each carrying
		// the hash of the one before: see audit.go.
		`CREATE TABLE audit_chain (
			id {{id}},
			wallet_key TEXT NOT NULL,
			seq BIGINT NOT NULL,
			event TEXT NOT NULL,
			decision_id BIGINT NOT NULL,
			content TEXT NOT NULL,
			prev_hash TEXT NOT NULL,
			hash TEXT NOT NULL,
			at_ns BIGINT NOT NULL
		)`,
		`CREATE UNIQUE INDEX audit_chain_seq ON audit_chain (wallet_key, seq)`,
		`CREATE INDEX audit_chain_decision ON audit_chain (decision_id)`,
	},
	backfill: backfillAudit,
}, {
	version: 10,
	name:    "spend counters per bucket and hour",
	stmts: []string{
		// The live spends of a bucket in one hour, kept with the spends
		// (see counters.go): a daily limit reads 25 of these and one
		// hour's rows, not a day of spends.
		`CREATE TABLE spend_counters (
			bucket TEXT NOT NULL,
			hour BIGINT NOT NULL,
			amount TEXT NOT NULL,
			PRIMARY KEY (bucket, hour)
		)`,
	},
	backfill: backfillCounters,
}}

// SchemaVersion is the schema version this build writes.
var SchemaVersion = migrations[len(migrations)-1].version

// schemaVersion reads the schema's version without a write lock; ok is
// false when there is no schema yet or it cannot be read (then migrateTo
// takes the lock and finds out).
func (s *Store) schemaVersion(ctx context.Context) (version int, ok bool) {
	exists := "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
	if s.backend == backendPostgres {
		exists = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
	}
	var n int
	if err := s.read(ctx).Raw(exists).Scan(&n).Error; err != nil || n == 0 {
		return 0, false
	}
	if err := s.read(ctx).Raw("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&version).Error; err != nil {
		return 0, false
	}
	return version, true
}

// migrateLockKey is the PostgreSQL advisory lock that serialises schema
// upgrades across replicas ("mandate:schema" in ASCII).
const migrateLockKey int64 = 0x6d616e6461746573

func (s *Store) expand(stmt string) string {
	r := strings.NewReplacer(
		"{{id}}", "INTEGER PRIMARY KEY AUTOINCREMENT",
		"{{blob}}", "BLOB",
	)
	if s.backend == backendPostgres {
		r = strings.NewReplacer(
			"{{id}}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
			"{{blob}}", "BYTEA",
		)
	}
	return r.Replace(stmt)
}

// migrate brings the schema up to SchemaVersion in one transaction, and
// refuses a database whose schema is newer than this build.
func (s *Store) migrate(ctx context.Context) error { return s.migrateTo(ctx, SchemaVersion) }

// migrateTo applies the migrations up to version target; tests use it to
// build an older schema.
func (s *Store) migrateTo(ctx context.Context, target int) error {
	// A database already at the target needs no write: reading the version
	// first lets a process open a store while another holds the write lock
	// (a reader waits only while a commit writes the file, never for a
	// transaction to end).
	if current, ok := s.schemaVersion(ctx); ok && current == target {
		return nil
	}
	applied := 0
	err := s.write(ctx, func(tx *gorm.DB) error {
		if s.backend == backendPostgres {
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrateLockKey).Error; err != nil {
				return err
			}
		}
		if err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			name TEXT NOT NULL,
			applied_at_ns BIGINT NOT NULL
		)`).Error; err != nil {
			return err
		}
		var current int
		if err := tx.Raw("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current).Error; err != nil {
			return err
		}
		if current > SchemaVersion {
			return fmt.Errorf("database schema version %d is newer than this build's %d; upgrade mandate", current, SchemaVersion)
		}
		for _, m := range migrations {
			if m.version <= current || m.version > target {
				continue
			}
			stmts := append(slices.Clip(m.stmts), m.sqlite...)
			if s.backend == backendPostgres {
				stmts = append(slices.Clip(m.stmts), m.postgres...)
			}
			for _, stmt := range stmts {
				if err := tx.Exec(s.expand(stmt)).Error; err != nil {
					return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
				}
			}
			if m.backfill != nil {
				if err := m.backfill(tx); err != nil {
					return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
				}
			}
			if err := tx.Exec("INSERT INTO schema_migrations (version, name, applied_at_ns) VALUES (?, ?, ?)",
				m.version, m.name, time.Now().UnixNano()).Error; err != nil {
				return err
			}
			applied++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("memory: migrate schema: %w", err)
	}
	if applied > 0 {
		s.log.InfoContext(ctx, "database schema migrated", "backend", s.backend.String(), "version", target, "steps", applied)
	}
	return nil
}
