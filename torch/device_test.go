package torch

import (
	"runtime"
	"testing"
)

func TestDeviceDefaultsFor(t *testing.T) {
	n := runtime.NumCPU()
	cpu := DeviceDefaults{Threads: n, Workers: n, ChannelsLast: true}
	cuda := DeviceDefaults{Threads: min(2, n), Workers: min(8, n), ChannelsLast: false}
	auto := cpu
	if CUDAIsAvailable() {
		auto = cuda
	}
	for _, c := range []struct {
		device string
		want   DeviceDefaults
	}{
		{"cpu", cpu},
		{"cuda", cuda},
		{"cuda:1", cuda},
		{"auto", auto},
		{"", auto},
		{"tpu", cpu}, // not a device: left to ResolveDevice to report
	} {
		if got := DeviceDefaultsFor(c.device); got != c.want {
			t.Errorf("DeviceDefaultsFor(%q) = %+v, want %+v", c.device, got, c.want)
		}
	}
}
