//go:build !unix

package telegram_test

import "time"

// cpuTime is not measured here; BenchmarkUpdates then reports no CPU figure.
func cpuTime() time.Duration { return 0 }
