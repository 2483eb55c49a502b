package torch

/*
#include "ctorch.h"
*/
import "C"

import "runtime"

// IndexSelect returns the entries of t at the int64 positions index (1-D)
// along dim, like Tensor.index_select.
func (t *Tensor) IndexSelect(dim int64, index *Tensor) (*Tensor, error) {
	return call("index_select", func(out *C.ct_tensor) C.ct_error {
		return C.ct_index_select(t.h, C.int64_t(dim), index.h, out)
	}, t, index)
}

// Select returns the slice of t at index along dim, without that dimension,
// like Tensor.select; it shares t's data.
func (t *Tensor) Select(dim, index int64) (*Tensor, error) {
	return call("select", func(out *C.ct_tensor) C.ct_error {
		return C.ct_select(t.h, C.int64_t(dim), C.int64_t(index), out)
	}, t)
}

// Where returns a where the bool tensor cond is true and b elsewhere
// (broadcasting; a and b of one dtype), like torch.where.
func Where(cond, a, b *Tensor) (*Tensor, error) {
	return call("where", func(out *C.ct_tensor) C.ct_error { return C.ct_where(cond.h, a.h, b.h, out) }, cond, a, b)
}

// Stack joins tensors of one shape along a new dimension dim, like torch.stack.
func Stack(ts []*Tensor, dim int64) (*Tensor, error) {
	const op = "stack"
	hs, err := handles(op, ts)
	if err != nil {
		return nil, err
	}
	var p *C.ct_tensor
	if len(hs) > 0 {
		p = &hs[0]
	}
	var out C.ct_tensor
	err = goError(op, C.ct_stack(p, C.int(len(hs)), C.int64_t(dim), &out))
	runtime.KeepAlive(ts)
	if err != nil {
		return nil, err
	}
	return wrap(out), nil
}

// Maximum returns the elementwise maximum of a and b (broadcasting), like torch.maximum.
func Maximum(a, b *Tensor) (*Tensor, error) {
	return call("maximum", func(out *C.ct_tensor) C.ct_error {
		return C.ct_extremum_elementwise(a.h, b.h, C.CT_EXTREMUM_MAX, out)
	}, a, b)
}

// Minimum returns the elementwise minimum of a and b (broadcasting), like torch.minimum.
func Minimum(a, b *Tensor) (*Tensor, error) {
	return call("minimum", func(out *C.ct_tensor) C.ct_error {
		return C.ct_extremum_elementwise(a.h, b.h, C.CT_EXTREMUM_MIN, out)
	}, a, b)
}

// Clamp returns t with every element limited to [lo, hi], like torch.clamp.
func (t *Tensor) Clamp(lo, hi float64) (*Tensor, error) {
	return call("clamp", func(out *C.ct_tensor) C.ct_error { return C.ct_clamp(t.h, C.double(lo), C.double(hi), out) }, t)
}

func round(name string, mode C.ct_rounding, t *Tensor) (*Tensor, error) {
	return call(name, func(out *C.ct_tensor) C.ct_error { return C.ct_round(t.h, mode, out) }, t)
}

// Floor rounds every element down, like torch.floor.
func (t *Tensor) Floor() (*Tensor, error) { return round("floor", C.CT_ROUNDING_FLOOR, t) }

// Round rounds every element to the nearest integer, halves to even, like
// torch.round.
func (t *Tensor) Round() (*Tensor, error) { return round("round", C.CT_ROUNDING_HALF_EVEN, t) }

// Trunc rounds every element toward zero, like torch.trunc.
func (t *Tensor) Trunc() (*Tensor, error) { return round("trunc", C.CT_ROUNDING_TRUNC, t) }
