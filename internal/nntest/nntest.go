// Package nntest holds helpers for tests that train networks and compare
// the results with PyTorch's: one training step written as PyTorch's loop
// writes it, tensors read back as float64, and arrays written for
// numpy.fromfile.
package nntest

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"

	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
)

// Step runs one training step of net on the batch x, y as PyTorch's loop
// does it:
//
//	loss = F.cross_entropy(net(x), y); opt.zero_grad(); loss.backward(); opt.step()
//
// inside its own scope, and returns the loss.
func Step(net nn.Module, opt *optim.SGD, x, y *torch.Tensor) (float64, error) {
	var l float64
	err := torch.WithScope(func() error {
		out, err := net.Forward(x)
		if err != nil {
			return fmt.Errorf("forward: %w", err)
		}
		loss, err := torch.CrossEntropy(out, y, torch.ReduceMean, 0)
		if err != nil {
			return fmt.Errorf("loss: %w", err)
		}
		if err := opt.ZeroGrad(); err != nil {
			return err
		}
		if err := loss.Backward(); err != nil {
			return fmt.Errorf("backward: %w", err)
		}
		if err := opt.Step(); err != nil {
			return fmt.Errorf("optimizer step: %w", err)
		}
		l, err = loss.Item()
		return err
	})
	return l, err
}

// Float64s returns the values of x, of any floating or integer dtype, as
// float64 in row-major order.
func Float64s(t testing.TB, x *torch.Tensor) []float64 {
	t.Helper()
	d, err := x.ToDType(torch.Float64)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free()
	v, err := torch.ToSlice[float64](d)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// WriteLE writes v to path as raw little-endian values, as
// numpy.fromfile(path, dtype="<f4") or "<i8" reads them.
func WriteLE[T float32 | int64](t testing.TB, path string, v []T) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := binary.Write(f, binary.LittleEndian, v); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// Logits runs m without autograd, in training mode or not, on xs, n images
// of 3×32×32 (NCHW), and returns its outputs as float64.
func Logits(t testing.TB, m nn.Module, training bool, xs []float32, n int) []float64 {
	t.Helper()
	nn.SetTraining(m, training)
	var out []float64
	err := torch.WithScope(func() error {
		return torch.NoGrad(func() error {
			x, err := torch.FromSlice(xs, int64(n), 3, 32, 32)
			if err != nil {
				return err
			}
			y, err := m.Forward(x)
			if err != nil {
				return err
			}
			out = Float64s(t, y)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
