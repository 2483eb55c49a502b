//go:build unix

package dataset

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user + system) this process has used so
// far. Benchmarks report it beside wall time because the shared 2-core dev
// VM is often busy with other builds, which inflates wall time but not the
// CPU a benchmark itself burns.
func cpuTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
