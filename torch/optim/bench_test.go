package optim_test

import (
	"testing"

	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
)

// BenchmarkSGDStep times one SGD step (momentum and weight decay, as the
// trainer runs it) over the default network's parameters, with gradients
// from one small backward pass. On the CPU this is mostly the binding's
// per-call cost; on CUDA each libtorch call is also a kernel launch.
//
//	go test ./torch/optim -run '^$' -bench SGDStep -count 5
func BenchmarkSGDStep(b *testing.B) {
	torch.SetNumThreads(1)
	if err := torch.ManualSeed(1); err != nil {
		b.Fatal(err)
	}
	net, err := model.New(model.Default, model.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer nn.Free(net)
	params := nn.NamedParameters(net)
	err = torch.WithScope(func() error {
		x, err := torch.Randn([]int64{2, 3, 32, 32}, torch.Float32, torch.CPU)
		if err != nil {
			return err
		}
		y, err := net.Forward(x)
		if err != nil {
			return err
		}
		loss, err := y.Sum()
		if err != nil {
			return err
		}
		return loss.Backward()
	})
	if err != nil {
		b.Fatal(err)
	}
	opt, err := optim.NewSGD(params, optim.SGDConfig{LR: 1e-6, Momentum: 0.9, WeightDecay: 5e-4})
	if err != nil {
		b.Fatal(err)
	}
	defer opt.Free()
	b.ResetTimer()
	for range b.N {
		if err := opt.Step(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(params)), "param-tensors")
}
