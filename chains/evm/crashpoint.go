//go:build mandate_crashpoints

package evm

import (
	"log/slog"
	"os"
	"time"
)

// A binary built with -tags mandate_crashpoints dies by SIGKILL at the
// point MANDATE_TEST_CRASH_AT names (e.g. "after-reserve": a nonce reserved
// and its transaction signed and journaled, nothing broadcast), so tests can
// run real processes that crash between two steps. Release builds do not
// contain this file: the variable is not read there, and no other package
// can set crashPoint.
func init() {
	at := os.Getenv("MANDATE_TEST_CRASH_AT")
	if at == "" {
		return
	}
	crashPoint = func(point string) {
		if point != at {
			return
		}
		slog.Warn("crash point reached; killing the process", slog.String("point", point))
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Kill()
		}
		for {
			time.Sleep(time.Hour) // SIGKILL is on its way
		}
	}
}
