//go:build unix

package sqlite

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time: on a shared, noisy
// machine it shows the work a benchmark does, apart from waiting for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
