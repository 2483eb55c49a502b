package torch

/*
#include "ctorch.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DType is a tensor element type. The values are libtorch's c10::ScalarType.
type DType int

// The element types this package supports.
const (
	Uint8   DType = 0
	Int32   DType = 3
	Int64   DType = 4
	Float32 DType = 6
	Float64 DType = 7
	Bool    DType = 11
	// BFloat16 has no Go element type: tensors of it come from libtorch
	// (e.g. under AutocastCPU) and are read after a conversion.
	BFloat16 DType = 15
)

// size returns the number of bytes of one element, or false for a dtype
// that this package does not support.
func (d DType) size() (int, bool) {
	switch d {
	case Uint8, Bool:
		return 1, true
	case BFloat16:
		return 2, true
	case Int32, Float32:
		return 4, true
	case Int64, Float64:
		return 8, true
	}
	return 0, false
}

// Size returns the number of bytes of one element. It panics for a dtype
// that this package does not support (one not among the constants above).
func (d DType) Size() int {
	n, ok := d.size()
	if !ok {
		panic(fmt.Sprintf("torch: unsupported dtype %v", d))
	}
	return n
}

// String returns PyTorch's name of the dtype, e.g. "float32", also for the
// dtypes of libtorch that this package does not support.
func (d DType) String() string {
	switch d {
	case Uint8:
		return "uint8"
	case Int32:
		return "int32"
	case Int64:
		return "int64"
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	case Bool:
		return "bool"
	case BFloat16:
		return "bfloat16"
	}
	// The other c10::ScalarType values.
	switch d {
	case 1:
		return "int8"
	case 2:
		return "int16"
	case 5:
		return "float16"
	case 8:
		return "complex32"
	case 9:
		return "complex64"
	case 10:
		return "complex128"
	case 12:
		return "qint8"
	case 13:
		return "quint8"
	case 14:
		return "qint32"
	}
	return "dtype(" + strconv.Itoa(int(d)) + ")"
}

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
