//go:build !linux

package transforms

import "time"

// threadCPU is unavailable here; benchmarks then report no CPU time.
func threadCPU() time.Duration { return 0 }
