package memory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// gormLogger routes gorm's output to slog. It reports only what an operator
// should act on (failed and slow statements) at warn level, and it logs
// statements with placeholders instead of arguments: arguments are user
// data, and the rule is that nothing stored may leak into a log.
type gormLogger struct {
	l    *slog.Logger
	slow time.Duration
}

var (
	_ logger.Interface  = gormLogger{}
	_ gorm.ParamsFilter = gormLogger{}
)

func newGormLogger(l *slog.Logger, slow time.Duration) logger.Interface {
	if l == nil {
		return logger.Discard
	}
	return gormLogger{l: l, slow: slow}
}

func (g gormLogger) LogMode(logger.LogLevel) logger.Interface { return g }

// Info drops gorm's informational chatter.
func (g gormLogger) Info(context.Context, string, ...any) {}

func (g gormLogger) Warn(ctx context.Context, msg string, args ...any) {
	g.l.WarnContext(ctx, "database: "+fmt.Sprintf(msg, args...))
}

func (g gormLogger) Error(ctx context.Context, msg string, args ...any) {
	g.l.WarnContext(ctx, "database: "+fmt.Sprintf(msg, args...))
}

// ParamsFilter makes gorm render statements without their arguments.
func (g gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}

func (g gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !expected(err):
		sql, _ := fc()
		g.l.WarnContext(ctx, "database statement failed", "sql", sql, "elapsed", elapsed, "err", err)
	case g.slow > 0 && elapsed > g.slow:
		sql, rows := fc()
		g.l.WarnContext(ctx, "slow database statement", "sql", sql, "rows", rows, "elapsed", elapsed)
	}
}

// expected errors are outcomes the store turns into answers (not found,
// duplicate key) or the caller's own cancellation.
func expected(err error) bool {
	return errors.Is(err, gorm.ErrRecordNotFound) ||
		errors.Is(err, gorm.ErrDuplicatedKey) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}
