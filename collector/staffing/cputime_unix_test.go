//go:build unix

package staffing

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) of the process so far: on a
// shared, loaded machine it says more about the work than wall time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
