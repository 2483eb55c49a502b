package torch

/*
#include "ctorch.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
)

// DeviceType is the kind of a device. The values are c10::DeviceType's.
type DeviceType int

// Device kinds.
const (
	CPUType  DeviceType = 0
	CUDAType DeviceType = 1
)

// Device names where a tensor lives, like torch.device.
type Device struct {
	Type  DeviceType
	Index int
}

// CPU is the host device.
var CPU = Device{Type: CPUType}

// CUDA returns the CUDA device with the given index.
func CUDA(index int) Device { return Device{Type: CUDAType, Index: index} }

// String returns PyTorch's spelling of the device: "cpu" or "cuda:N".
func (d Device) String() string {
	if d.Type == CUDAType {
		return "cuda:" + strconv.Itoa(d.Index)
	}
	return "cpu"
}

// ErrBadDevice reports a device name that is not "cpu", "cuda" or "cuda:N".
var ErrBadDevice = errors.New("torch: bad device")

// ParseDevice parses "cpu", "cuda" or "cuda:N" and checks that the device
// exists. A name of another form gives an error wrapping ErrBadDevice.
func ParseDevice(s string) (Device, error) {
	switch {
	case s == "cpu":
		return CPU, nil
	case s == "cuda" || strings.HasPrefix(s, "cuda:"):
		idx := 0
		if s != "cuda" {
			n, err := strconv.Atoi(strings.TrimPrefix(s, "cuda:"))
			if err != nil || n < 0 {
				return Device{}, fmt.Errorf("%w %q: want cpu, cuda or cuda:N", ErrBadDevice, s)
			}
			idx = n
		}
		if !CUDAIsAvailable() {
			return Device{}, fmt.Errorf("torch: device %q asked for, but CUDA is not available (libtorch %s)", s, Version())
		}
		if n := CUDADeviceCount(); idx >= n {
			return Device{}, fmt.Errorf("torch: device %q asked for, but there are %d CUDA devices", s, n)
		}
		return CUDA(idx), nil
	}
	return Device{}, fmt.Errorf("%w %q: want cpu, cuda or cuda:N", ErrBadDevice, s)
}

// CUDAIsAvailable reports whether libtorch was built with CUDA and sees a GPU.
func CUDAIsAvailable() bool { return C.ct_cuda_is_available() != 0 }

// CUDADeviceCount returns the number of visible CUDA devices.
func CUDADeviceCount() int { return int(C.ct_cuda_device_count()) }

// SetCuDNNBenchmark turns cuDNN's benchmark mode on or off, as
// torch.backends.cudnn.benchmark does: cuDNN then times its convolution
// algorithms for each new input shape and keeps the fastest, which pays when
// the shapes repeat, as in training. It has no effect without CUDA.
func SetCuDNNBenchmark(on bool) { C.ct_set_cudnn_benchmark(cbool(on)) }

// CuDNNBenchmark reports whether cuDNN's benchmark mode is on.
func CuDNNBenchmark() bool { return C.ct_cudnn_benchmark() != 0 }

// Synchronize waits for all work queued on a CUDA device; a no-op on CPU.
func Synchronize(d Device) error {
	if d.Type != CUDAType {
		return nil
	}
	return goError("cuda synchronize", C.ct_cuda_synchronize(C.int(d.Index)))
}

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
