package torch

/*
#include "ctorch.h"
*/
import "C"

import "runtime"

// RequiresGrad reports whether autograd records operations on t.
func (t *Tensor) RequiresGrad() bool {
	var v C.int
	if err := goError("requires_grad", C.ct_tensor_requires_grad(t.mustHandle(), &v)); err != nil {
		panic(err)
	}
	return v != 0
}

// SetRequiresGrad turns gradient recording for a leaf tensor on or off.
func (t *Tensor) SetRequiresGrad(requires bool) error {
	return inplace("requires_grad_", func() C.ct_error { return C.ct_tensor_set_requires_grad(t.h, cbool(requires)) }, t)
}

// Backward computes the gradients of the scalar t with respect to the
// leaves of its graph, accumulating them into their Grad.
func (t *Tensor) Backward() error {
	return inplace("backward", func() C.ct_error { return C.ct_tensor_backward(t.h) }, t)
}

// Grad returns a handle to t's accumulated gradient, or nil when it has none.
func (t *Tensor) Grad() (*Tensor, error) {
	h, err := t.handle("grad")
	if err != nil {
		return nil, err
	}
	var out C.ct_tensor
	if err := goError("grad", C.ct_tensor_grad(h, &out)); err != nil {
		return nil, err
	}
	runtime.KeepAlive(t)
	return wrap(out), nil
}

// ZeroGrad drops t's gradient (PyTorch's zero_grad(set_to_none=True)).
func (t *Tensor) ZeroGrad() error {
	return inplace("zero_grad", func() C.ct_error { return C.ct_tensor_set_grad_none(t.h) }, t)
}

// NoGrad runs f with gradient recording off on the calling goroutine, like
// `with torch.no_grad():`. The goroutine stays on its OS thread meanwhile,
// since libtorch keeps the grad mode per thread.
func NoGrad(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := C.ct_is_grad_enabled()
	C.ct_set_grad_enabled(0)
	defer C.ct_set_grad_enabled(prev)
	return f()
}

// AutocastCPU runs f with CPU autocast on for the calling goroutine, like
// `with torch.autocast("cpu"):` (bfloat16): convolutions and matrix
// products take and give bfloat16 tensors, the ops libtorch keeps in
// float32 (losses, softmax, ...) run in float32, and everything else in the
// type of its inputs. Parameters stay float32, and the backward pass, run
// after f, follows the types chosen in the forward pass. It pays on CPUs
// with bfloat16 instructions (AVX512-BF16, AMX); elsewhere libtorch has to
// emulate them. The goroutine stays on its OS thread meanwhile, since
// libtorch keeps the autocast state per thread.
func AutocastCPU(f func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	prev := C.ct_is_autocast_cpu()
	C.ct_set_autocast_cpu(1)
	defer C.ct_set_autocast_cpu(prev)
	return f()
}

// IsAutocastCPU reports whether CPU autocast is on for the calling thread.
func IsAutocastCPU() bool { return C.ct_is_autocast_cpu() != 0 }

// IsGradEnabled reports whether gradient recording is on for the calling thread.
func IsGradEnabled() bool { return C.ct_is_grad_enabled() != 0 }
