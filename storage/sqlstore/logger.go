package sqlstore

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// quietLogger keeps outcomes that the store reports to its caller as
// ordinary results (a taken key) out of GORM's error log; IgnoreRecordNotFoundError
// already does this for not-found. It also skips GORM's logger for fast,
// successful statements: that logger renders every statement's SQL before
// deciding not to log it, which cost 6% of a client_credentials grant's CPU.
type quietLogger struct {
	logger.Interface
	slow time.Duration
	// all is set by LogMode(Info) (db.Debug()): then every statement is
	// logged.
	all bool
}

// GORM asks the logger it was given, not the one inside, whether bound
// values may be logged: without this method it wrote them into the SQL of
// every failed or slow statement, password hashes included.
var _ gorm.ParamsFilter = quietLogger{}

// newQuietLogger logs GORM's warnings (slow statements, errors) to l, with
// bound values left out: they can be secret hashes.
func newQuietLogger(l *slog.Logger) quietLogger {
	return quietLogger{Interface: logger.NewSlogLogger(l, logger.Config{
		SlowThreshold:             slowStatement,
		ParameterizedQueries:      true,
		IgnoreRecordNotFoundError: true,
		LogLevel:                  logger.Warn,
	}), slow: slowStatement}
}

// ParamsFilter is the inner logger's: with ParameterizedQueries it drops
// every bound value.
func (l quietLogger) ParamsFilter(ctx context.Context, sql string, params ...any) (string, []any) {
	if f, ok := l.Interface.(gorm.ParamsFilter); ok {
		return f.ParamsFilter(ctx, sql, params...)
	}
	return sql, nil
}

func (l quietLogger) LogMode(level logger.LogLevel) logger.Interface {
	return quietLogger{l.Interface.LogMode(level), l.slow, level >= logger.Info}
}

func (l quietLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	// A context that ended (a client gone or out of time, a shutdown) is
	// the caller's decision, not a database failure worth an ERROR line.
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) || errors.Is(err, gorm.ErrRecordNotFound) {
		err = nil
	}
	if err == nil && !l.all && time.Since(begin) <= l.slow {
		return
	}
	l.Interface.Trace(ctx, begin, fc, err)
}
