package ptfile

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
)

// maxIndex returns the index of the last storage element that a tensor with
// the given offset, shape and stride reaches. The shape must have at least
// one element.
func maxIndex(offset int64, shape, stride []int64) (int64, error) {
	last := uint64(offset)
	for i, d := range shape {
		hi, lo := bits.Mul64(uint64(d-1), uint64(stride[i]))
		var carry uint64
		last, carry = bits.Add64(last, lo, 0)
		if hi != 0 || carry != 0 || last > math.MaxInt64 {
			return 0, fmt.Errorf("size %v with stride %v and offset %d overflows", shape, stride, offset)
		}
	}
	return int64(last), nil
}

// isContiguous reports whether stride is the row-major stride of shape,
// ignoring dimensions of size 1, whose stride does not matter.
func isContiguous(shape, stride []int64) bool {
	want := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		if shape[i] != 1 && stride[i] != want {
			return false
		}
		want *= shape[i]
	}
	return true
}

// gather copies the elements of a strided view of src into dst in row-major
// order. elem is the element size in bytes; dst must hold numel(shape)
// elements and every index reached must lie within src (see maxIndex).
func gather(dst, src []byte, elem int, offset int64, shape, stride []int64) {
	if len(dst) == 0 {
		return
	}
	if isContiguous(shape, stride) {
		copy(dst, src[int(offset)*elem:])
		return
	}
	// Dimensions of size 1 do not move through the storage: drop them.
	var sh, st []int64
	for i, d := range shape {
		if d != 1 {
			sh = append(sh, d)
			st = append(st, stride[i])
		}
	}
	shape, stride = sh, st
	// Merge the innermost dimensions that are contiguous with each other
	// into one run of bytes copied at a time.
	n := len(shape)
	run := 1 // elements per run
	for n > 0 && stride[n-1] == int64(run) {
		run *= int(shape[n-1])
		n--
	}
	runBytes := run * elem
	outer, outerStride := shape[:n], stride[:n]
	if n > 0 && run == 1 {
		// The innermost dimension is strided: walk it element by element.
		n--
		inner, innerStride := int(shape[n]), int(stride[n])
		outer, outerStride = shape[:n], stride[:n]
		idx := make([]int64, n)
		pos := offset
		rowBytes := inner * elem
		for o := 0; o < len(dst); o += rowBytes {
			stridedRow(dst[o:o+rowBytes], src[int(pos)*elem:], elem, innerStride)
			pos = advance(idx, pos, outer, outerStride)
		}
		return
	}
	idx := make([]int64, n)
	pos := offset
	for o := 0; o < len(dst); o += runBytes {
		p := int(pos) * elem
		copy(dst[o:o+runBytes], src[p:p+runBytes])
		pos = advance(idx, pos, outer, outerStride)
	}
}

// advance steps the multi-index idx over shape in row-major order and
// returns the storage position pos moved along with it.
func advance(idx []int64, pos int64, shape, stride []int64) int64 {
	for d := len(idx) - 1; d >= 0; d-- {
		idx[d]++
		pos += stride[d]
		if idx[d] < shape[d] {
			return pos
		}
		pos -= idx[d] * stride[d]
		idx[d] = 0
	}
	return pos
}

// stridedRow copies len(dst)/elem elements that lie step elements apart in
// src to dst.
func stridedRow(dst, src []byte, elem, step int) {
	le := binary.LittleEndian
	switch elem {
	case 1:
		for o, p := 0, 0; o < len(dst); o, p = o+1, p+step {
			dst[o] = src[p]
		}
	case 2:
		for o, p := 0, 0; o < len(dst); o, p = o+2, p+2*step {
			le.PutUint16(dst[o:], le.Uint16(src[p:]))
		}
	case 4:
		for o, p := 0, 0; o < len(dst); o, p = o+4, p+4*step {
			le.PutUint32(dst[o:], le.Uint32(src[p:]))
		}
	case 8:
		for o, p := 0, 0; o < len(dst); o, p = o+8, p+8*step {
			le.PutUint64(dst[o:], le.Uint64(src[p:]))
		}
	default:
		for o, p := 0, 0; o < len(dst); o, p = o+elem, p+step*elem {
			copy(dst[o:o+elem], src[p:p+elem])
		}
	}
}
