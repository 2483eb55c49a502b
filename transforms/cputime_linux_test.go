package transforms

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time used so far by the calling OS thread, so
// that benchmarks on a shared, busy machine can report the work done rather
// than the wall time waited. The caller must hold runtime.LockOSThread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
