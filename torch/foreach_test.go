package torch

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestForeachOps checks the list ops on hand-worked values, over tensors
// of different shapes in one list.
func TestForeachOps(t *testing.T) {
	err := WithScope(func() error {
		a := Must(FromSlice([]float32{1, 2, 3}))
		b := Must(FromSlice([]float32{-1, 0.5, 4, 8}, 2, 2))
		da := Must(FromSlice([]float32{10, 20, 30}))
		db := Must(FromSlice([]float32{2, 2, -2, 0}, 2, 2))
		xs, ys := []*Tensor{a, b}, []*Tensor{da, db}

		sums, err := ForeachAdd(xs, ys, 0.5)
		if err != nil {
			return err
		}
		wantSums := [][]float32{{6, 12, 18}, {0, 1.5, 3, 8}}
		for i, s := range sums {
			if got := Must(ToSlice[float32](s)); !slices.Equal(got, wantSums[i]) {
				t.Errorf("ForeachAdd item %d = %v, want %v", i, got, wantSums[i])
			}
		}
		if got := sums[1].Shape(); !slices.Equal(got, []int64{2, 2}) {
			t.Errorf("ForeachAdd item 1 has shape %v, want [2 2]", got)
		}
		if got := Must(ToSlice[float32](a)); !slices.Equal(got, []float32{1, 2, 3}) {
			t.Errorf("ForeachAdd changed its input: %v", got)
		}

		if err := ForeachAdd_(xs, ys, -1); err != nil {
			return err
		}
		if err := ForeachMulScalar_(xs, 2); err != nil {
			return err
		}
		want := [][]float32{{-18, -36, -54}, {-6, -3, 12, 16}}
		for i, x := range xs {
			if got := Must(ToSlice[float32](x)); !slices.Equal(got, want[i]) {
				t.Errorf("after ForeachAdd_ and ForeachMulScalar_, item %d = %v, want %v", i, got, want[i])
			}
		}
		// Empty lists are no-ops.
		if out, err := ForeachAdd(nil, nil, 1); err != nil || out != nil {
			t.Errorf("ForeachAdd(nil, nil) = %v, %v", out, err)
		}
		if err := ForeachAdd_(nil, nil, 1); err != nil {
			t.Errorf("ForeachAdd_(nil, nil): %v", err)
		}
		return ForeachMulScalar_(nil, 3)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestForeachErrors(t *testing.T) {
	err := WithScope(func() error {
		a := Must(FromSlice([]float32{1, 2, 3}))
		b := Must(FromSlice([]float32{1, 2}))
		freed := Must(FromSlice([]float32{1}))
		freed.Free()

		if _, err := ForeachAdd([]*Tensor{a}, []*Tensor{a, b}, 1); err == nil || !strings.Contains(err.Error(), "different lengths (1 and 2)") {
			t.Errorf("lists of different lengths: %v", err)
		}
		if err := ForeachAdd_([]*Tensor{a, freed}, []*Tensor{a, a}, 1); !errors.Is(err, ErrFreed) || !strings.Contains(err.Error(), "list item 1") {
			t.Errorf("freed tensor in the list: %v", err)
		}
		if err := ForeachMulScalar_([]*Tensor{nil}, 1); !errors.Is(err, ErrFreed) {
			t.Errorf("nil tensor in the list: %v", err)
		}
		// Shapes that do not match are libtorch's error, returned.
		if err := ForeachAdd_([]*Tensor{a}, []*Tensor{b}, 1); err == nil || !strings.Contains(err.Error(), "_foreach_add_") {
			t.Errorf("mismatched shapes: %v", err)
		}
		if got := Must(ToSlice[float32](a)); !slices.Equal(got, []float32{1, 2, 3}) {
			t.Errorf("a failed ForeachAdd_ changed its input: %v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
