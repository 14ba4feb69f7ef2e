package memory

import (
	"context"
	"errors"
	"os"
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// The locks a group remembers are exactly the locks its transaction holds
// on the server: one taken in a savepoint that rolled back is forgotten
// (PostgreSQL gave it back), one taken in a savepoint that was released is
// kept, and another session cannot take any that is remembered.
func TestGroupLocksFollowSavepoints(t *testing.T) {
	dsn := os.Getenv("MANDATE_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("PostgreSQL is not configured (MANDATE_TEST_POSTGRES)")
	}
	open := func() *gorm.DB {
		db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if d, err := db.DB(); err == nil {
				d.Close()
			}
		})
		return db
	}
	db, other := open(), open()
	if d, err := other.DB(); err == nil {
		d.SetMaxOpenConns(1) // a session lock is released on the connection that took it
	}
	// Untracked, every savepoint is opened; tracked (a store's write
	// transaction), a write opened first thing shares the savepoint around
	// it, and rolling back to that one must give back its locks too.
	for _, tracked := range []bool{false, true} {
		t.Run(map[bool]string{false: "untracked", true: "tracked"}[tracked], func(t *testing.T) {
			lockedSavepoints(t, db, other, tracked)
		})
	}
}

func lockedSavepoints(t *testing.T, db, other *gorm.DB, tracked bool) {
	locks := &groupLocks{}
	ctx := context.WithValue(context.Background(), groupedKey{}, locks)
	rolledBack, kept, nested, shared := lockKey("test", t.Name(), "a"), lockKey("test", t.Name(), "b"), lockKey("test", t.Name(), "c"), lockKey("test", t.Name(), "d")
	tx := db.WithContext(ctx).Begin()
	defer tx.Rollback()
	if tracked {
		track(tx, true)
	}
	failed := errors.New("this write fails")
	if err := savepoint(ctx, tx, func(tx *gorm.DB) error {
		if err := pgAdvisoryLock(tx, rolledBack); err != nil {
			return err
		}
		return failed
	}); !errors.Is(err, failed) {
		t.Fatalf("savepoint = %v, want the write's failure", err)
	}
	if err := savepoint(ctx, tx, func(tx *gorm.DB) error {
		if err := pgAdvisoryLock(tx, kept); err != nil {
			return err
		}
		// A nested write that fails takes its lock back with it.
		err := savepoint(ctx, tx, func(tx *gorm.DB) error {
			if err := pgAdvisoryLock(tx, nested); err != nil {
				return err
			}
			return failed
		})
		if !errors.Is(err, failed) {
			t.Errorf("nested savepoint = %v, want the write's failure", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := savepoint(ctx, tx, func(tx *gorm.DB) error {
		err := savepoint(ctx, tx, func(tx *gorm.DB) error {
			if err := pgAdvisoryLock(tx, shared); err != nil {
				return err
			}
			return failed
		})
		if !errors.Is(err, failed) {
			t.Errorf("first nested savepoint = %v, want the write's failure", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if locks.has(rolledBack) || locks.has(nested) || locks.has(shared) || !locks.has(kept) || len(locks.held) != 1 {
		t.Fatalf("remembered %v; want only the released savepoint's lock", locks.held)
	}
	free := func(key int64) bool {
		t.Helper()
		var got bool
		if err := other.Raw("SELECT pg_try_advisory_lock(?)", key).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got {
			other.Exec("SELECT pg_advisory_unlock(?)", key)
		}
		return got
	}
	if free(kept) {
		t.Fatal("another session took a lock the group remembers holding")
	}
	if !free(rolledBack) || !free(nested) || !free(shared) {
		t.Fatal("a lock taken in a rolled-back savepoint is still held: forgetting it would be safe, but the test's premise is wrong")
	}
}
