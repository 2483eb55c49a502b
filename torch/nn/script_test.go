package nn_test

import (
	"math"
	"testing"

	"gotrain/torch"
	"gotrain/torch/nn"
)

// TestScriptBatchNormFloats scripts BatchNorm2d with whole-number,
// infinite and NaN momentum and eps, which TorchScript must read as floats,
// and checks that the scripted module computes what the module does in
// evaluation mode.
func TestScriptBatchNormFloats(t *testing.T) {
	for _, c := range []struct{ momentum, eps float64 }{
		{0, 1}, {1, 2}, {math.NaN(), math.Inf(1)}, {0.1, 1e-5}, {-3, 1e20},
	} {
		err := torch.WithScope(func() error {
			bn, err := nn.NewBatchNorm2d(2)
			if err != nil {
				return err
			}
			defer nn.Free(bn)
			bn.Momentum, bn.Eps = c.momentum, c.eps
			err = torch.NoGrad(func() error {
				for _, v := range []struct {
					t    *torch.Tensor
					vals []float32
				}{{bn.Weight, []float32{2, 0.5}}, {bn.Bias, []float32{0.25, -1}},
					{bn.RunningMean, []float32{1, -1}}, {bn.RunningVar, []float32{3, 0.5}}} {
					if err := v.t.Copy_(torch.Must(torch.FromSlice(v.vals))); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			nn.SetTraining(bn, false)
			x := torch.Must(torch.FromSlice([]float32{1, 2, 3, 4, -1, -2, 0.5, 8}, 1, 2, 2, 2))
			want := torch.Must(torch.ToSlice[float32](torch.Must(bn.Forward(x))))

			sm, err := nn.Script(bn)
			if err != nil {
				return err
			}
			defer sm.Free()
			if err := sm.SetTraining(false); err != nil {
				return err
			}
			y, err := sm.Forward(x)
			if err != nil {
				return err
			}
			got := torch.Must(torch.ToSlice[float32](y))
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("momentum %v, eps %v: scripted %v, module %v", c.momentum, c.eps, got, want)
					break
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("momentum %v, eps %v: %v", c.momentum, c.eps, err)
		}
	}
}
