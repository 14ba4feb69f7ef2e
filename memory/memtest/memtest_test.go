package memtest

import (
	"fmt"
	"testing"
)

// recorder is a testing.TB that notes Fatalf instead of stopping.
type recorder struct {
	testing.TB
	fatal, logged string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }
func (r *recorder) Logf(format string, args ...any)   { r.logged = fmt.Sprintf(format, args...) }

func TestPostgresRequiredInCI(t *testing.T) {
	t.Setenv(EnvPostgres, "")
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	if _, ok := PostgresDSN(r); ok || r.fatal == "" {
		t.Errorf("CI=true without %s: ok=%v, fatal=%q; want a failure", EnvPostgres, ok, r.fatal)
	}

	t.Setenv("CI", "")
	r = &recorder{TB: t}
	if _, ok := PostgresDSN(r); ok || r.fatal != "" || r.logged == "" {
		t.Errorf("outside CI: ok=%v, fatal=%q, logged=%q; want a logged skip", ok, r.fatal, r.logged)
	}
}
