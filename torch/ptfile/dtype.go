package ptfile

import "fmt"

// DType is the element type of a tensor. The names mirror torch's dtypes.
type DType int

// The supported element types. Float16 and BFloat16 data is carried as raw
// 2-byte little-endian values.
const (
	Float32  DType = iota + 1 // torch.float32, stored as torch.FloatStorage
	Float64                   // torch.float64, stored as torch.DoubleStorage
	Float16                   // torch.float16, stored as torch.HalfStorage
	BFloat16                  // torch.bfloat16, stored as torch.BFloat16Storage
	Int64                     // torch.int64, stored as torch.LongStorage
	Int32                     // torch.int32, stored as torch.IntStorage
	Int16                     // torch.int16, stored as torch.ShortStorage
	Int8                      // torch.int8, stored as torch.CharStorage
	Uint8                     // torch.uint8, stored as torch.ByteStorage
	Bool                      // torch.bool, stored as torch.BoolStorage; one byte, 0 or 1
)

type dtypeInfo struct {
	name    string // torch's name without the "torch." prefix
	storage string // legacy storage class in module torch
	size    int
}

var dtypes = [...]dtypeInfo{
	Float32:  {"float32", "FloatStorage", 4},
	Float64:  {"float64", "DoubleStorage", 8},
	Float16:  {"float16", "HalfStorage", 2},
	BFloat16: {"bfloat16", "BFloat16Storage", 2},
	Int64:    {"int64", "LongStorage", 8},
	Int32:    {"int32", "IntStorage", 4},
	Int16:    {"int16", "ShortStorage", 2},
	Int8:     {"int8", "CharStorage", 1},
	Uint8:    {"uint8", "ByteStorage", 1},
	Bool:     {"bool", "BoolStorage", 1},
}

// Valid reports whether d is one of the supported element types.
func (d DType) Valid() bool { return d > 0 && int(d) < len(dtypes) }

// Size returns the size of one element in bytes, or 0 for an invalid DType.
func (d DType) Size() int {
	if !d.Valid() {
		return 0
	}
	return dtypes[d].size
}

// String returns torch's name of the type without the "torch." prefix,
// e.g. "float32".
func (d DType) String() string {
	if !d.Valid() {
		return fmt.Sprintf("DType(%d)", int(d))
	}
	return dtypes[d].name
}

// storageClass returns the name of the legacy storage class in module torch
// that torch.save uses for d, e.g. "FloatStorage".
func (d DType) storageClass() string { return dtypes[d].storage }

// dtypeOfStorage maps a legacy storage class name in module torch to its
// element type.
func dtypeOfStorage(class string) (DType, bool) {
	for d := Float32; d.Valid(); d++ {
		if dtypes[d].storage == class {
			return d, true
		}
	}
	return 0, false
}
