package optim_test

import (
	"fmt"
	"math"
	"testing"

	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
	"gotrain/torch/ptfile"
)

// leafParams returns parameters p0, p1, ... with the values of p0 that
// require gradients, as nn.Parameter(torch.tensor(v)) makes them; they are
// freed when t ends.
func leafParams(t *testing.T, p0 [][]float64) []nn.NamedTensor {
	t.Helper()
	var params []nn.NamedTensor
	for i, v := range p0 {
		p := torch.Keep(torch.Must(torch.FromSlice(v)))
		t.Cleanup(func() { p.Free() })
		if err := p.SetRequiresGrad(true); err != nil {
			t.Fatal(err)
		}
		params = append(params, nn.NamedTensor{Name: fmt.Sprint("p", i), Tensor: p})
	}
	return params
}

// setGrads gives each parameter the gradient gs[i] (none where it is nil)
// through autograd, d(sum(p*g))/dp = g. It runs inside the caller's scope.
func setGrads(params []nn.NamedTensor, gs [][]float64) error {
	for i, g := range gs {
		if g == nil {
			continue
		}
		prod, err := torch.Mul(params[i].Tensor, torch.Must(torch.FromSlice(g)))
		if err != nil {
			return err
		}
		loss, err := prod.Sum()
		if err != nil {
			return err
		}
		if err := loss.Backward(); err != nil {
			return err
		}
	}
	return nil
}

// assertParams fails t unless every parameter equals PyTorch's values
// want[i] to 1e-12.
func assertParams(t *testing.T, what string, params []nn.NamedTensor, want [][]float64) {
	t.Helper()
	for i, p := range params {
		got := torch.Must(torch.ToSlice[float64](p.Tensor))
		for k := range got {
			if math.Abs(got[k]-want[i][k]) > 1e-12 {
				t.Fatalf("%s: %s = %v, PyTorch %v", what, p.Name, got, want[i])
			}
		}
	}
}

// momentumBuffers returns the momentum buffers in opt's StateDict as CPU
// tensors named "<index>.momentum_buffer", freed when the test ends.
func momentumBuffers(t *testing.T, opt *optim.SGD) []nn.NamedTensor {
	t.Helper()
	sd, err := opt.StateDict(nil)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := sd.Get("state")
	var out []nn.NamedTensor
	for _, it := range st.(*ptfile.Dict).Items {
		v, _ := it.Value.(*ptfile.Dict).Get("momentum_buffer")
		x := torch.Keep(torch.Must(torch.FromEntry(v.(*ptfile.Entry))))
		t.Cleanup(x.Free)
		out = append(out, nn.NamedTensor{Name: fmt.Sprintf("%d.momentum_buffer", it.Key), Tensor: x})
	}
	return out
}
