package torch

import (
	"fmt"
	"strconv"
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
