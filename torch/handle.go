package torch

import "unsafe"

// UnsafeHandle returns t's libctorch handle, a ct_tensor of
// torch/csrc/ctorch.h, for the packages of this module that bind more of
// libctorch's C ABI (torch/distributed). The handle stays t's: the caller
// never frees it and uses it only while t is alive and not freed. op names
// the operation in the error for a nil or freed tensor.
func (t *Tensor) UnsafeHandle(op string) (unsafe.Pointer, error) {
	h, err := t.handle(op)
	return unsafe.Pointer(h), err
}
