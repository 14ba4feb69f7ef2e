package memory

import (
	"context"

	"gorm.io/gorm"
)

// Tx is a store's write transaction as the savepoint tests drive it: the
// statements they run count as the store's own.
type Tx struct {
	tx *gorm.DB
}

// Exec runs a statement in the transaction.
func (t Tx) Exec(stmt string, args ...any) error { return t.tx.Exec(stmt, args...).Error }

// Savepoint runs fn as a nested write (see savepoint).
func (t Tx) Savepoint(ctx context.Context, fn func(Tx) error) error {
	return savepoint(ctx, t.tx, func(tx *gorm.DB) error { return fn(Tx{tx}) })
}

// WriteTx runs fn in one of s's write transactions, as the committer runs a
// group: fn's writes commit when it returns nil.
func WriteTx(ctx context.Context, s *Store, fn func(Tx) error) error {
	return s.writeTx(ctx, func(tx *gorm.DB) error { return fn(Tx{fresh(ctx, tx)}) })
}

// Scan runs a query in the transaction into dest.
func (t Tx) Scan(dest any, stmt string, args ...any) error {
	return t.tx.Raw(stmt, args...).Scan(dest).Error
}
