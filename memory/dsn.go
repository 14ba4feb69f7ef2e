package memory

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ErrBadDSN is wrapped by the error Open returns for a DSN it cannot use.
var ErrBadDSN = errors.New("memory: bad database DSN")

type backend int

const (
	backendSQLite backend = iota + 1
	backendPostgres
)

func (b backend) String() string {
	switch b {
	case backendSQLite:
		return "sqlite"
	case backendPostgres:
		return "postgres"
	}
	return "unknown"
}

// target is a parsed DSN.
type target struct {
	backend backend
	path    string // SQLite file, or ":memory:"
	url     string // PostgreSQL connection URL, passed to pgx unchanged
}

// memoryPath is the SQLite path of a private in-memory database.
const memoryPath = ":memory:"

// parseDSN accepts "sqlite:PATH" (also "sqlite://PATH"), "sqlite::memory:",
// and postgres:// or postgresql:// URLs. A password in what was given is
// redacted so the message is safe to log.
func parseDSN(dsn string) (target, error) {
	bad := func(why string) (target, error) {
		msg := fmt.Sprintf("a database must be sqlite:PATH or a postgres:// URL; got %q", redact(dsn))
		if why != "" {
			msg += " (" + why + ")"
		}
		return target{}, fmt.Errorf("%s: %w", msg, ErrBadDSN)
	}
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok {
		return bad("")
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		path := rest
		if strings.HasPrefix(path, "//") { // sqlite:///abs/path, sqlite://rel/path
			path = path[2:]
		}
		switch {
		case path == "":
			return bad("empty path")
		case strings.ContainsAny(path, "?#"):
			// The driver reads parameters after '?'; Open sets them itself.
			return bad("the path may not contain '?' or '#'")
		}
		return target{backend: backendSQLite, path: path}, nil
	case "postgres", "postgresql":
		u, err := url.Parse(dsn)
		if err != nil || u.Host == "" {
			return bad("not a URL with a host")
		}
		return target{backend: backendPostgres, url: dsn}, nil
	}
	return bad("")
}

// redact hides the password of anything that parses as a URL.
func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		return u.Redacted()
	}
	if i := strings.Index(dsn, "@"); i >= 0 {
		// Unparseable but credential-shaped: keep only what follows the '@'.
		return "…@" + dsn[i+1:]
	}
	return dsn
}
