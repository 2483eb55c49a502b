package torch

/*
#include <stdlib.h>
#include "ctorch.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"unsafe"
)

// Tensor is a handle to a libtorch tensor. See the package documentation for
// who frees it.
type Tensor struct {
	h     C.ct_tensor
	scope *Scope
}

// ErrFreed reports the use of a tensor after it was freed.
var ErrFreed = errors.New("torch: use of a freed tensor")

var live atomic.Int64

// LiveTensors returns the number of tensor handles allocated and not yet
// freed, for leak checks in tests and benchmarks.
func LiveTensors() int64 { return live.Load() }

// wrap takes ownership of h: it joins the current scope, if any.
func wrap(h C.ct_tensor) *Tensor {
	if h == nil {
		return nil
	}
	live.Add(1)
	t := &Tensor{h: h}
	if s := currentScope(); s != nil {
		t.scope = s
		s.tensors = append(s.tensors, t)
	}
	return t
}

func (t *Tensor) free() {
	if t.h != nil {
		C.ct_tensor_free(t.h)
		t.h = nil
		live.Add(-1)
	}
}

// Free releases the tensor now. It is safe to call more than once. Freeing
// a tensor that a scope owns removes it from the scope.
func (t *Tensor) Free() {
	if t == nil {
		return
	}
	t.scope = nil
	t.free()
}

// Keep moves t out of the scope that owns it, so that it outlives the scope;
// the caller then owns it. It returns t.
func Keep(t *Tensor) *Tensor {
	if t != nil {
		t.scope = nil
	}
	return t
}

// Defined reports whether t holds a tensor (it is not nil and not freed).
func (t *Tensor) Defined() bool { return t != nil && t.h != nil }

// handle returns t's C handle or an error naming the op if t is unusable.
func (t *Tensor) handle(op string) (C.ct_tensor, error) {
	if t == nil || t.h == nil {
		return nil, fmt.Errorf("%w (in %s)", ErrFreed, op)
	}
	return t.h, nil
}

// call runs one C function that makes a tensor, with operands checked first.
func call(op string, f func(out *C.ct_tensor) C.ct_error, operands ...*Tensor) (*Tensor, error) {
	for _, o := range operands {
		if _, err := o.handle(op); err != nil {
			return nil, err
		}
	}
	var out C.ct_tensor
	err := goError(op, f(&out))
	runtime.KeepAlive(operands)
	if err != nil {
		return nil, err
	}
	return wrap(out), nil
}

// given returns the optional operands that were passed (not nil), so that
// call checks them: a freed optional tensor is an error, not "none".
func given(ts ...*Tensor) []*Tensor {
	out := ts[:0:0]
	for _, t := range ts {
		if t != nil {
			out = append(out, t)
		}
	}
	return out
}

// optional returns the handle of t, or NULL for a nil tensor.
func optional(t *Tensor) C.ct_tensor {
	if t == nil {
		return nil
	}
	return t.h
}

// mustHandle returns t's handle, panicking on a freed tensor: reading the
// metadata of a freed tensor is a bug in the caller.
func (t *Tensor) mustHandle() C.ct_tensor {
	if t == nil || t.h == nil {
		panic(ErrFreed)
	}
	return t.h
}

// errNoMetadata is the panic of the metadata methods for a tensor whose
// metadata libtorch refuses to give, which no tensor of this package has:
// the C side refuses such tensors when TorchScript returns them.
var errNoMetadata = errors.New("torch: libtorch cannot describe this tensor (not a dense, strided tensor)")

// Dim returns the number of dimensions.
func (t *Tensor) Dim() int {
	n := int(C.ct_tensor_dim(t.mustHandle()))
	if n < 0 {
		panic(errNoMetadata)
	}
	return n
}

// Shape returns the size of each dimension.
func (t *Tensor) Shape() []int64 {
	n := t.Dim()
	s := make([]int64, n)
	if n > 0 {
		C.ct_tensor_shape(t.mustHandle(), (*C.int64_t)(unsafe.Pointer(&s[0])))
	}
	return s
}

// Numel returns the number of elements.
func (t *Tensor) Numel() int64 {
	n := int64(C.ct_tensor_numel(t.mustHandle()))
	if n < 0 {
		panic(errNoMetadata)
	}
	return n
}

// DType returns the element type.
func (t *Tensor) DType() DType { return DType(C.ct_tensor_dtype(t.mustHandle())) }

// Device returns where the tensor lives.
func (t *Tensor) Device() Device {
	var typ, idx C.int
	C.ct_tensor_device(t.mustHandle(), &typ, &idx)
	return Device{Type: DeviceType(typ), Index: int(idx)}
}

// IsContiguous reports whether the tensor is contiguous in row-major order.
func (t *Tensor) IsContiguous() bool { return C.ct_tensor_is_contiguous(t.mustHandle()) != 0 }

// String describes the tensor's shape, dtype and device (not its values).
func (t *Tensor) String() string {
	if !t.Defined() {
		return "Tensor(freed)"
	}
	dims := make([]string, 0, t.Dim())
	for _, d := range t.Shape() {
		dims = append(dims, fmt.Sprint(d))
	}
	return fmt.Sprintf("Tensor([%s], %v, %v)", strings.Join(dims, ", "), t.DType(), t.Device())
}

// Element is the set of Go types that tensors can be made from and read into.
type Element interface {
	uint8 | int32 | int64 | float32 | float64 | bool
}

func dtypeOf[T Element]() DType {
	var z T
	switch any(z).(type) {
	case uint8:
		return Uint8
	case int32:
		return Int32
	case int64:
		return Int64
	case float32:
		return Float32
	case float64:
		return Float64
	case bool:
		return Bool
	}
	panic("torch: unsupported element type")
}

func checkShape(op string, shape []int64, n int) error {
	want := int64(1)
	for _, d := range shape {
		if d < 0 {
			return fmt.Errorf("torch: %s: negative dimension in shape %v", op, shape)
		}
		want *= d
	}
	if want != int64(n) {
		return fmt.Errorf("torch: %s: %d values do not fill shape %v (%d elements)", op, n, shape, want)
	}
	return nil
}

func shapePtr(shape []int64) *C.int64_t {
	if len(shape) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&shape[0]))
}

// FromSlice copies data into a new CPU tensor of the given shape; no shape
// means a 1-D tensor of len(data) elements.
func FromSlice[T Element](data []T, shape ...int64) (*Tensor, error) {
	return fromSlice(data, false, shape)
}

// FromSlicePinned is FromSlice into page-locked host memory, from which
// copies to a CUDA device can be asynchronous.
func FromSlicePinned[T Element](data []T, shape ...int64) (*Tensor, error) {
	return fromSlice(data, true, shape)
}

func fromSlice[T Element](data []T, pinned bool, shape []int64) (*Tensor, error) {
	if shape == nil {
		shape = []int64{int64(len(data))}
	}
	if err := checkShape("from_slice", shape, len(data)); err != nil {
		return nil, err
	}
	var p unsafe.Pointer
	if len(data) > 0 {
		p = unsafe.Pointer(&data[0])
	}
	var out C.ct_tensor
	err := goError("from_slice", C.ct_tensor_from_data(p, shapePtr(shape), C.int(len(shape)), C.int(dtypeOf[T]()), cbool(pinned), &out))
	runtime.KeepAlive(data)
	if err != nil {
		return nil, err
	}
	return wrap(out), nil
}

// Scalar returns a 0-dim float32 tensor holding v.
func Scalar(v float32) (*Tensor, error) { return FromSlice([]float32{v}, []int64{}...) }

// ToSlice copies the tensor's values (from any device) into a new Go slice
// in row-major order. T must match the tensor's dtype.
func ToSlice[T Element](t *Tensor) ([]T, error) {
	h, err := t.handle("to_slice")
	if err != nil {
		return nil, err
	}
	if want := dtypeOf[T](); t.DType() != want {
		return nil, fmt.Errorf("torch: to_slice: tensor is %v, asked for %v", t.DType(), want)
	}
	out := make([]T, t.Numel())
	var p unsafe.Pointer
	if len(out) > 0 {
		p = unsafe.Pointer(&out[0])
	}
	err = goError("to_slice", C.ct_tensor_copy_to(h, p, C.size_t(uintptr(len(out))*unsafe.Sizeof(out[0]))))
	runtime.KeepAlive(t)
	return out, err
}

// Full returns a tensor of the given shape filled with value.
func Full(shape []int64, value float64, dtype DType, dev Device) (*Tensor, error) {
	return call("full", func(out *C.ct_tensor) C.ct_error {
		return C.ct_full(shapePtr(shape), C.int(len(shape)), C.double(value), C.int(dtype), C.int(dev.Type), C.int(dev.Index), out)
	})
}

// Zeros returns a tensor of zeros.
func Zeros(shape []int64, dtype DType, dev Device) (*Tensor, error) {
	return Full(shape, 0, dtype, dev)
}

// Ones returns a tensor of ones.
func Ones(shape []int64, dtype DType, dev Device) (*Tensor, error) { return Full(shape, 1, dtype, dev) }

// Randn returns a tensor of standard normal samples from libtorch's generator.
func Randn(shape []int64, dtype DType, dev Device) (*Tensor, error) {
	return call("randn", func(out *C.ct_tensor) C.ct_error {
		return C.ct_randn(shapePtr(shape), C.int(len(shape)), C.int(dtype), C.int(dev.Type), C.int(dev.Index), out)
	})
}

// Rand returns a tensor of samples uniform in [0, 1) from libtorch's generator.
func Rand(shape []int64, dtype DType, dev Device) (*Tensor, error) {
	return call("rand", func(out *C.ct_tensor) C.ct_error {
		return C.ct_rand(shapePtr(shape), C.int(len(shape)), C.int(dtype), C.int(dev.Type), C.int(dev.Index), out)
	})
}

// Arange returns the values start, start+step, ... below end, like torch.arange.
func Arange(start, end, step float64, dtype DType, dev Device) (*Tensor, error) {
	return call("arange", func(out *C.ct_tensor) C.ct_error {
		return C.ct_arange(C.double(start), C.double(end), C.double(step), C.int(dtype), C.int(dev.Type), C.int(dev.Index), out)
	})
}

// To returns the tensor on dev, in a new handle. If it is already on dev,
// the new handle shares its data (changes through either show in both),
// as Tensor.to does in PyTorch; otherwise the data is copied. Use Clone for
// a copy in every case. nonBlocking allows an asynchronous copy from pinned
// memory.
func (t *Tensor) To(dev Device, nonBlocking bool) (*Tensor, error) {
	return call("to", func(out *C.ct_tensor) C.ct_error {
		return C.ct_tensor_to(t.h, C.int(dev.Type), C.int(dev.Index), -1, cbool(nonBlocking), out)
	}, t)
}

// ToDType returns the tensor converted to dtype on its device, in a new
// handle. If it already has that dtype, the new handle shares its data, as
// To does.
func (t *Tensor) ToDType(dtype DType) (*Tensor, error) {
	return call("to", func(out *C.ct_tensor) C.ct_error {
		return C.ct_tensor_to(t.h, -1, -1, C.int(dtype), 0, out)
	}, t)
}

// Clone returns a copy of the tensor with its own storage.
func (t *Tensor) Clone() (*Tensor, error) {
	return call("clone", func(out *C.ct_tensor) C.ct_error { return C.ct_tensor_clone(t.h, out) }, t)
}

// Detach returns a tensor sharing t's data, cut from the autograd graph.
func (t *Tensor) Detach() (*Tensor, error) {
	return call("detach", func(out *C.ct_tensor) C.ct_error { return C.ct_tensor_detach(t.h, out) }, t)
}

// Contiguous returns t in contiguous row-major layout.
func (t *Tensor) Contiguous() (*Tensor, error) {
	return call("contiguous", func(out *C.ct_tensor) C.ct_error { return C.ct_tensor_contiguous(t.h, out) }, t)
}

// ChannelsLast returns a 4-D tensor with NHWC strides (same NCHW shape), the
// layout oneDNN and cuDNN convolutions prefer.
func (t *Tensor) ChannelsLast() (*Tensor, error) {
	return call("channels_last", func(out *C.ct_tensor) C.ct_error { return C.ct_tensor_to_memory_format(t.h, 1, out) }, t)
}

// Item returns the value of a one-element tensor as float64.
func (t *Tensor) Item() (float64, error) {
	h, err := t.handle("item")
	if err != nil {
		return 0, err
	}
	var v C.double
	err = goError("item", C.ct_tensor_item(h, &v))
	runtime.KeepAlive(t)
	return float64(v), err
}

// ItemInt64 returns the value of a one-element integer tensor.
func (t *Tensor) ItemInt64() (int64, error) {
	h, err := t.handle("item")
	if err != nil {
		return 0, err
	}
	var v C.int64_t
	err = goError("item", C.ct_tensor_item_int64(h, &v))
	runtime.KeepAlive(t)
	return int64(v), err
}
