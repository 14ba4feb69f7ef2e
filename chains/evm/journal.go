package evm

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// TxStatus is where a journaled transaction stands.
type TxStatus string

const (
	TxSigned   TxStatus = "signed"   // written before broadcast; may or may not have left
	TxSent     TxStatus = "sent"     // accepted by the node
	TxMined    TxStatus = "mined"    // in a block, succeeded
	TxReverted TxStatus = "reverted" // in a block, reverted
	TxReplaced TxStatus = "replaced" // superseded by a higher-fee copy (ReplacedBy)
	TxFailed   TxStatus = "failed"   // refused by the node; never left, its nonce was reused
)

// Final reports whether the status will not change any more.
func (s TxStatus) Final() bool {
	return s == TxMined || s == TxReverted || s == TxReplaced || s == TxFailed
}

// TxRecord is one transaction in the journal.
type TxRecord struct {
	Hash       string // 0x-prefixed
	Chain      string // the chain's key: decimal chain id, "/", genesis block hash (Client.ChainKey)
	From       string // checksummed address
	Nonce      uint64
	Key        string // idempotency key; unique per (Chain, From) when set
	ApprovalID string // the approval that authorised it
	Action     string // policies.ActionDigest of the approved intent: what a retry under Key must repeat
	Raw        []byte // the signed transaction (RLP / typed envelope)
	Status     TxStatus
	ReplacedBy string // hash of the replacement, for TxReplaced
	Error      string // why it failed or reverted
	Block      uint64 // block number once mined
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// LogValue logs a record without Raw: the signed bytes carry a signature,
// and signatures stay out of logs.
func (r TxRecord) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("hash", r.Hash), slog.String("chain", r.Chain), slog.String("from", r.From),
		slog.Uint64("nonce", r.Nonce), slog.String("status", string(r.Status)),
	}
	if r.Key != "" {
		attrs = append(attrs, slog.String("key", r.Key))
	}
	if r.ReplacedBy != "" {
		attrs = append(attrs, slog.String("replaced_by", r.ReplacedBy))
	}
	if r.Error != "" {
		attrs = append(attrs, slog.String("error", r.Error))
	}
	if r.Block != 0 {
		attrs = append(attrs, slog.Uint64("block", r.Block))
	}
	return slog.GroupValue(attrs...)
}

// Journal stores every transaction before it is broadcast, so a crash
// between signing and broadcasting loses nothing and a restart can resume.
// memory.Store implements it over SQLite or PostgreSQL.
type Journal interface {
	// Insert records a signed transaction. It fails with ErrDuplicateKey if
	// rec.Key is set and already used for the same chain and sender.
	Insert(ctx context.Context, rec TxRecord) error
	// Update sets the status (and ReplacedBy, Error, Block) of a transaction.
	// TxSent moves a row on only from TxSigned (or TxSent): senders in other
	// processes settle the same rows, and a rebroadcast's "sent" must never
	// overwrite the "mined" the row's own sender recorded. On a row already
	// further along it does nothing and returns nil.
	Update(ctx context.Context, rec TxRecord) error
	// ByKey returns the first transaction sent under an idempotency key.
	ByKey(ctx context.Context, chain, from, key string) (TxRecord, bool, error)
	// KeyedElsewhere returns a transaction journaled under key for from on
	// another chain than chain (one that shares its id, before a devnet
	// restart): its attempt happened there, and the key is free here.
	KeyedElsewhere(ctx context.Context, chain, from, key string) (TxRecord, bool, error)
	// ByHash returns a transaction of chain by hash.
	ByHash(ctx context.Context, chain, hash string) (TxRecord, bool, error)
	// Open lists a sender's transactions whose status is not final, by nonce.
	Open(ctx context.Context, chain, from string) ([]TxRecord, error)
	// MaxNonce returns the highest nonce journaled for a sender whose status
	// is not TxFailed, and false when there is none.
	MaxNonce(ctx context.Context, chain, from string) (uint64, bool, error)
}

// NonceLocker is a Journal that several senders of one wallet may share —
// goroutines, processes, replicas on one database — and that serialises
// their nonce assignment. memory.Store's journal implements it with the
// database's own locks (SQLite's write lock; a PostgreSQL advisory lock per
// chain and sender), so processes on one database never take the same
// nonce; MemJournal implements it within one process. A Wallet over a
// Journal that is not a NonceLocker serialises its own sends only.
type NonceLocker interface {
	// LockNonces runs fn holding the lock on the nonces of from on chain.
	// j reads and writes inside the lock, seeing what earlier holders
	// committed: a transactional journal commits fn's writes when fn
	// returns nil and discards them when it returns an error. If the lock
	// is not granted before ctx's deadline, LockNonces returns an error
	// wrapping ErrNonceLockTimeout and does not call fn.
	LockNonces(ctx context.Context, chain, from string, fn func(ctx context.Context, j Journal) error) error
}

// ErrNonceLockTimeout is wrapped by the error NonceLocker.LockNonces returns
// when another sender held the lock past the caller's deadline, and by
// Send's error then: nothing was signed and no nonce was used.
var ErrNonceLockTimeout = errors.New("evm: timed out waiting for the wallet's nonce lock")

// ErrDuplicateKey is returned by Journal.Insert for a reused idempotency key.
var ErrDuplicateKey = errDuplicateKey{}

type errDuplicateKey struct{}

func (errDuplicateKey) Error() string { return "evm: idempotency key already used" }

// ErrDuplicateHash is returned (wrapped) by Journal.Insert for a transaction
// hash already journaled. The wallet meets it when a chain was reset (a
// devnet restarted over the same database) and the very same transaction is
// signed again.
var ErrDuplicateHash = errors.New("evm: transaction hash already journaled")
