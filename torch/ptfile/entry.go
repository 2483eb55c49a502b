package ptfile

import (
	"fmt"
	"math"
	"math/bits"
)

// Entry is one named tensor of a state dict.
//
// Data holds the elements in row-major (C) order, little-endian, with no
// gaps: len(Data) == product(Shape) * DType.Size(). A 0-dimensional tensor
// (a scalar such as BatchNorm's num_batches_tracked) has an empty Shape and
// one element.
type Entry struct {
	Name  string
	DType DType
	Shape []int64
	Data  []byte
}

// numel returns the number of elements of a tensor of the given shape, or an
// error for a negative dimension or a count that overflows int64.
func numel(shape []int64) (int64, error) {
	n := int64(1)
	for i, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d at index %d of shape %v", d, i, shape)
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, fmt.Errorf("shape %v has too many elements", shape)
		}
		n = int64(lo)
	}
	return n, nil
}

// byteSize returns numel(shape)*elem, or an error if it overflows int.
func byteSize(shape []int64, elem int) (int, error) {
	n, err := numel(shape)
	if err != nil {
		return 0, err
	}
	hi, lo := bits.Mul64(uint64(n), uint64(elem))
	if hi != 0 || lo > math.MaxInt {
		return 0, fmt.Errorf("shape %v is too large", shape)
	}
	return int(lo), nil
}

// check reports whether e is a well-formed tensor that can be written.
func (e *Entry) check() error {
	if !e.DType.Valid() {
		return fmt.Errorf("invalid dtype %v", e.DType)
	}
	want, err := byteSize(e.Shape, e.DType.Size())
	if err != nil {
		return err
	}
	if len(e.Data) != want {
		return fmt.Errorf("shape %v of %v needs %d bytes of data, have %d", e.Shape, e.DType, want, len(e.Data))
	}
	if e.DType == Bool {
		for i, b := range e.Data {
			if b > 1 {
				return fmt.Errorf("bool element %d is %d, want 0 or 1", i, b)
			}
		}
	}
	return nil
}
