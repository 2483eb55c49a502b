// Package torch is a Go binding to libtorch: tensors on CPU or CUDA, the
// operations a convolutional network and its training need, autograd, and
// TorchScript modules. The kernels are libtorch's own; this package holds
// handles to them. Devices (Device, ParseDevice, ResolveDevice) come with
// the settings whose best value depends on them (DeviceDefaultsFor).
//
// The C++ side is a separate shared library (build/libctorch.so, built by
// `make lib` against any libtorch, Debian's or a PyTorch install) with a
// plain C ABI; this package links only that library.
//
// # Memory
//
// libtorch's memory is invisible to Go's garbage collector, so it is never
// what frees it. Every tensor has one owner:
//
//   - A tensor made while a Scope is open on the calling goroutine belongs to
//     that scope and is freed when the scope closes, unless Keep moved it out.
//   - Any other tensor belongs to the caller, who frees it with Free.
//     Parameters and buffers belong to their nn module, optimizer state to
//     its optimizer.
//
// A training step opens a scope, and closing it frees every intermediate
// tensor of the step at once.
package torch

/*
#cgo CFLAGS: -I${SRCDIR}/csrc
#cgo LDFLAGS: -L${SRCDIR}/../build -lctorch -Wl,-rpath,${SRCDIR}/../build
#include <stdlib.h>
#include "ctorch.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// abiVersion is the version of torch/csrc/ctorch.h this package was
// compiled against; the library reports the version it was built from.
const abiVersion = C.CT_ABI_VERSION

// ErrABI reports a libctorch built from another version of the C ABI.
var ErrABI = errors.New("torch: libctorch ABI mismatch (rebuild it with `make lib`)")

func init() {
	if v := int(C.ct_abi_version()); v != abiVersion {
		panic(fmt.Errorf("%w: library has ABI %d, this package wants %d", ErrABI, v, abiVersion))
	}
	// Keep a step's large buffers in one glibc heap instead of giving them
	// back to the kernel after every op: docs/ARCHITECTURE.md, "Allocator
	// and start-up settings".
	C.ct_tune_malloc(trimThreshold)
}

// trimThreshold is how much free memory glibc's heap keeps before it gives
// some back to the kernel.
const trimThreshold = 1 << 30

// Version returns the version of libtorch that libctorch was compiled against.
func Version() string { return C.GoString(C.ct_torch_version()) }

// goError turns a ct_error into a Go error, freeing the C string.
func goError(op string, e C.ct_error) error {
	if e == nil {
		return nil
	}
	msg := C.GoString(e)
	C.free(unsafe.Pointer(e))
	return fmt.Errorf("torch: %s: %s", op, msg)
}

// ManualSeed seeds libtorch's default random generators (CPU and CUDA).
func ManualSeed(seed uint64) error {
	return goError("manual_seed", C.ct_manual_seed(C.uint64_t(seed)))
}

// RNGState returns a copy of the default CPU generator's state, for checkpoints.
func RNGState() ([]byte, error) {
	var out C.ct_tensor
	if err := goError("get_rng_state", C.ct_get_rng_state(&out)); err != nil {
		return nil, err
	}
	t := &Tensor{h: out}
	live.Add(1)
	defer t.Free()
	return ToSlice[uint8](t)
}

// SetRNGState restores a state returned by RNGState.
func SetRNGState(state []byte) error {
	t, err := FromSlice(state)
	if err != nil {
		return err
	}
	defer t.Free()
	return goError("set_rng_state", C.ct_set_rng_state(t.h))
}

// SetNumThreads sets the number of intra-op threads libtorch uses for the
// whole process (applied on every OS thread that calls into libtorch).
func SetNumThreads(n int) { C.ct_set_num_threads(C.int(n)) }

// NumThreads returns the number of intra-op threads libtorch uses.
func NumThreads() int { return int(C.ct_get_num_threads()) }

// Must returns v, panicking if err is not nil. It is meant for tests and
// examples, where a failed op is a bug in the program itself.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
