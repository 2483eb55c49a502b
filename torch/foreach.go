package torch

/*
#include "ctorch.h"
*/
import "C"

import (
	"fmt"
	"runtime"
)

// handles returns the C handles of ts, checking that none is freed or nil.
func handles(op string, ts []*Tensor) ([]C.ct_tensor, error) {
	hs := make([]C.ct_tensor, len(ts))
	for i, t := range ts {
		h, err := t.handle(op)
		if err != nil {
			return nil, fmt.Errorf("%w, list item %d", err, i)
		}
		hs[i] = h
	}
	return hs, nil
}

// pairHandles returns the handles of xs and ys, which must have the same
// length.
func pairHandles(op string, xs, ys []*Tensor) (hx, hy []C.ct_tensor, err error) {
	if len(xs) != len(ys) {
		return nil, nil, fmt.Errorf("torch: %s: tensor lists of different lengths (%d and %d)", op, len(xs), len(ys))
	}
	if hx, err = handles(op, xs); err != nil {
		return nil, nil, err
	}
	if hy, err = handles(op, ys); err != nil {
		return nil, nil, err
	}
	return hx, hy, nil
}

// ForeachAdd returns xs[i] + alpha*ys[i] for every i, like
// torch._foreach_add(xs, ys, alpha=alpha): one call for the whole list,
// and on CUDA a few fused kernels rather than one per tensor.
func ForeachAdd(xs, ys []*Tensor, alpha float64) ([]*Tensor, error) {
	const op = "_foreach_add"
	hx, hy, err := pairHandles(op, xs, ys)
	if err != nil || len(xs) == 0 {
		return nil, err
	}
	out := make([]C.ct_tensor, len(xs))
	err = goError(op, C.ct_foreach_add(&hx[0], &hy[0], C.int(len(xs)), C.double(alpha), &out[0]))
	runtime.KeepAlive(xs)
	runtime.KeepAlive(ys)
	if err != nil {
		return nil, err
	}
	ts := make([]*Tensor, len(out))
	for i, h := range out {
		ts[i] = wrap(h)
	}
	return ts, nil
}

// ForeachAdd_ adds alpha*ys[i] to xs[i] in place for every i, like
// torch._foreach_add_(xs, ys, alpha=alpha).
func ForeachAdd_(xs, ys []*Tensor, alpha float64) error {
	const op = "_foreach_add_"
	hx, hy, err := pairHandles(op, xs, ys)
	if err != nil || len(xs) == 0 {
		return err
	}
	err = goError(op, C.ct_foreach_add_(&hx[0], &hy[0], C.int(len(xs)), C.double(alpha)))
	runtime.KeepAlive(xs)
	runtime.KeepAlive(ys)
	return err
}

// ForeachMulScalar_ multiplies every tensor of xs by s in place, like
// torch._foreach_mul_(xs, s).
func ForeachMulScalar_(xs []*Tensor, s float64) error {
	const op = "_foreach_mul_"
	hx, err := handles(op, xs)
	if err != nil || len(xs) == 0 {
		return err
	}
	err = goError(op, C.ct_foreach_mul_scalar_(&hx[0], C.int(len(xs)), C.double(s)))
	runtime.KeepAlive(xs)
	return err
}
