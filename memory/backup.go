package memory

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// ErrBackupPostgres is Backup's error on PostgreSQL, whose own tools
// (pg_dump, or a base backup with WAL archiving) make a consistent copy.
var ErrBackupPostgres = errors.New("memory: a PostgreSQL database is backed up with pg_dump (or a base backup), not by mandate")

// Backup writes a consistent copy of a SQLite database to path while the
// store is in use, by SQLite's VACUUM INTO: one read transaction, so the
// copy holds every commit before it began and none after. It runs on the
// store's writer connection (the read connections are read-only), so this
// process's writes wait for it; other processes' do not. The copy
// is a complete database, openable with "sqlite:"+path. path must not
// exist: a backup never overwrites.
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.backend == backendPostgres {
		return ErrBackupPostgres
	}
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("memory: backup: %s already exists; choose a new file", path)
	}
	if err := s.db.WithContext(ctx).Exec("VACUUM INTO ?", path).Error; err != nil {
		return fmt.Errorf("memory: backup to %s: %w", path, err)
	}
	return nil
}
