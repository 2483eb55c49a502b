package torch

import (
	"runtime"
	"strings"
)

// ResolveDevice maps "auto" (or "") to CUDA when available, else the CPU,
// and parses and checks any other device name.
func ResolveDevice(s string) (Device, error) {
	if s == "auto" || s == "" {
		if CUDAIsAvailable() {
			return CUDA(0), nil
		}
		return CPU, nil
	}
	return ParseDevice(s)
}

// DeviceDefaults are the settings whose best value depends on the device
// that trains, for when the user does not give them.
type DeviceDefaults struct {
	// Threads is the number of libtorch intra-op threads: every CPU on the
	// CPU, where they run the convolutions; two on CUDA, where the
	// convolutions run on the GPU and idle intra-op threads only take CPU
	// time from the loader and the host side of each step (the first
	// epoch on an H200 took 18.9 s with 16 threads and 16 loader
	// goroutines, 5.1 s with 2 and 8: docs/results/gpu-2026-11-27.md).
	Threads int
	// Workers is the number of loader goroutines: every CPU on the CPU, up
	// to 8 on CUDA (enough there to keep the step from waiting: the
	// measured wait was 0.25% of an epoch with 8).
	Workers int
	// ChannelsLast feeds images in NHWC layout: yes on the CPU, where
	// oneDNN's convolutions skip their layout conversions and run the
	// default network about twice as fast per step
	// (docs/results/bench-*.md); no on CUDA, where it has not been measured.
	ChannelsLast bool
}

// DeviceDefaultsFor returns the defaults for the device named s: CUDA's for
// "cuda" and "cuda:N" (whether or not that device exists, which
// ResolveDevice reports), and for "auto" where CUDA is available; the
// CPU's otherwise.
func DeviceDefaultsFor(s string) DeviceDefaults {
	n := runtime.NumCPU()
	dev := CPU
	if s == "cuda" || strings.HasPrefix(s, "cuda:") {
		dev = CUDA(0)
	} else if d, err := ResolveDevice(s); err == nil {
		dev = d
	}
	if dev.Type == CUDAType {
		return DeviceDefaults{Threads: min(2, n), Workers: min(8, n), ChannelsLast: prefersChannelsLast(dev)}
	}
	return DeviceDefaults{Threads: n, Workers: n, ChannelsLast: prefersChannelsLast(dev)}
}

// prefersChannelsLast is the layout choice behind DeviceDefaults.ChannelsLast.
func prefersChannelsLast(dev Device) bool { return dev.Type == CPUType }
