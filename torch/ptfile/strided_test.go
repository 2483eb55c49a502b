package ptfile

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// naiveGather is the definition of a strided view: output element i, at
// multi-index idx in row-major order, is storage element
// offset + sum(idx[d]*stride[d]).
func naiveGather(src []byte, elem int, offset int64, shape, stride []int64) []byte {
	n, _ := numel(shape)
	out := make([]byte, 0, int(n)*elem)
	idx := make([]int64, len(shape))
	for i := int64(0); i < n; i++ {
		pos := offset
		for d := range idx {
			pos += idx[d] * stride[d]
		}
		out = append(out, src[int(pos)*elem:int(pos+1)*elem]...)
		for d := len(idx) - 1; d >= 0; d-- {
			if idx[d]++; idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}

func TestGatherTranspose(t *testing.T) {
	// The storage [0 1 2 3 4 5] as a 2x3 matrix, transposed to 3x2 with
	// stride (1, 3): rows (0 3), (1 4), (2 5).
	src := []byte{0, 1, 2, 3, 4, 5}
	dst := make([]byte, 6)
	gather(dst, src, 1, 0, []int64{3, 2}, []int64{1, 3})
	if want := []byte{0, 3, 1, 4, 2, 5}; !bytes.Equal(dst, want) {
		t.Errorf("transpose = %v, want %v", dst, want)
	}
	// Every other column of the 2x3 matrix starting at column 1, with
	// 2-byte elements: elements 1 and 4.
	src16 := []byte{0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5}
	dst = make([]byte, 4)
	gather(dst, src16, 2, 1, []int64{2, 1}, []int64{3, 2})
	if want := []byte{1, 1, 4, 4}; !bytes.Equal(dst, want) {
		t.Errorf("column slice = %v, want %v", dst, want)
	}
	// A row expanded with stride 0.
	dst = make([]byte, 6)
	gather(dst, src, 1, 4, []int64{3, 2}, []int64{0, 1})
	if want := []byte{4, 5, 4, 5, 4, 5}; !bytes.Equal(dst, want) {
		t.Errorf("expanded = %v, want %v", dst, want)
	}
}

func TestGatherMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := 0; iter < 3000; iter++ {
		ndim := rng.IntN(5)
		shape := make([]int64, ndim)
		stride := make([]int64, ndim)
		for d := range shape {
			shape[d] = int64(rng.IntN(4) + 1)
			switch rng.IntN(3) {
			case 0:
				stride[d] = 0
			default:
				stride[d] = int64(rng.IntN(13))
			}
		}
		// Sometimes make it contiguous or contiguous in the inner dims.
		if rng.IntN(3) == 0 {
			s, inner := int64(1), rng.IntN(ndim+1)
			for d := ndim - 1; d >= inner; d-- {
				stride[d] = s
				s *= shape[d]
			}
		}
		offset := int64(rng.IntN(5))
		elem := []int{1, 2, 4, 8}[rng.IntN(4)]
		last, err := maxIndex(offset, shape, stride)
		if err != nil {
			t.Fatal(err)
		}
		src := testBytes(uint32(iter), int(last+1+int64(rng.IntN(3)))*elem)
		want := naiveGather(src, elem, offset, shape, stride)
		got := make([]byte, len(want))
		gather(got, src, elem, offset, shape, stride)
		if !bytes.Equal(got, want) {
			t.Fatalf("shape %v stride %v offset %d elem %d: got %v, want %v", shape, stride, offset, elem, got, want)
		}
	}
}

func TestMaxIndex(t *testing.T) {
	if got, err := maxIndex(2, []int64{3, 4}, []int64{4, 1}); err != nil || got != 2+2*4+3 {
		t.Errorf("maxIndex = %d, %v; want 13", got, err)
	}
	if got, err := maxIndex(0, nil, nil); err != nil || got != 0 {
		t.Errorf("maxIndex of a scalar = %d, %v; want 0", got, err)
	}
	if _, err := maxIndex(0, []int64{1 << 40, 1 << 40}, []int64{1 << 40, 1}); err == nil {
		t.Error("maxIndex did not report overflow")
	}
}

func TestIsContiguous(t *testing.T) {
	for _, tc := range []struct {
		shape, stride []int64
		want          bool
	}{
		{nil, nil, true},
		{[]int64{2, 3}, []int64{3, 1}, true},
		{[]int64{2, 3}, []int64{1, 2}, false},
		{[]int64{4, 1}, []int64{1, 6}, true}, // size-1 dims may have any stride
		{[]int64{3, 4}, []int64{1, 0}, false},
	} {
		if got := isContiguous(tc.shape, tc.stride); got != tc.want {
			t.Errorf("isContiguous(%v, %v) = %v, want %v", tc.shape, tc.stride, got, tc.want)
		}
	}
}
