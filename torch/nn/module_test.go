package nn_test

import (
	"math"
	"slices"
	"testing"

	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
)

func names(ts []nn.NamedTensor) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Name
	}
	return out
}

// TestSharedModule checks a module used twice, as in
// Sequential(lin, ReLU(), lin), against PyTorch: named_parameters and
// named_buffers list a shared tensor once, under its first name, while
// state_dict lists it under every name; so one SGD step updates it once.
func TestSharedModule(t *testing.T) {
	lin, err := nn.NewLinear(2, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	defer nn.Free(lin)
	err = torch.NoGrad(func() error {
		if err := lin.Weight.Copy_(torch.Must(torch.FromSlice([]float32{0.5, -0.25, 0.75, 1}, 2, 2))); err != nil {
			return err
		}
		return lin.Bias.Copy_(torch.Must(torch.FromSlice([]float32{0.125, -0.5})))
	})
	if err != nil {
		t.Fatal(err)
	}
	net := nn.NewSequential(lin, nn.ReLU{}, lin)
	if got, want := names(nn.NamedParameters(net)), []string{"0.weight", "0.bias"}; !slices.Equal(got, want) {
		t.Errorf("NamedParameters %v, want %v", got, want)
	}
	if got, want := names(nn.StateDict(net)), []string{"0.weight", "0.bias", "2.weight", "2.bias"}; !slices.Equal(got, want) {
		t.Errorf("StateDict %v, want %v", got, want)
	}
	if n := nn.NumParameters(net); n != 6 {
		t.Errorf("NumParameters %d, want 6", n)
	}
	if n := len(nn.Parameters(net)); n != 2 {
		t.Errorf("Parameters gave %d tensors, want 2", n)
	}

	bn, err := nn.NewBatchNorm2d(2)
	if err != nil {
		t.Fatal(err)
	}
	defer nn.Free(bn)
	want := []string{"0.running_mean", "0.running_var", "0.num_batches_tracked"}
	if got := names(nn.NamedBuffers(nn.NewSequential(bn, bn))); !slices.Equal(got, want) {
		t.Errorf("NamedBuffers %v, want %v", got, want)
	}

	// net(x).pow(2).sum().backward(); torch.optim.SGD(net.parameters(), lr=0.1).step()
	opt, err := optim.NewSGD(nn.NamedParameters(net), optim.SGDConfig{LR: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	defer opt.Free()
	err = torch.WithScope(func() error {
		out, err := net.Forward(torch.Must(torch.FromSlice([]float32{1, 2, -0.5, 0.25}, 2, 2)))
		if err != nil {
			return err
		}
		loss, err := torch.Must(out.Pow(2)).Sum()
		if err != nil {
			return err
		}
		if err := loss.Backward(); err != nil {
			return err
		}
		return opt.Step()
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		t    *torch.Tensor
		want []float64
	}{
		{"weight", lin.Weight, []float64{0.27031248807907104, -0.559374988079071, 0.31640625, -0.604687511920929}},
		{"bias", lin.Bias, []float64{-0.06406250596046448, -1.15625}},
	} {
		got := torch.Must(torch.ToSlice[float32](c.t))
		for i := range got {
			if math.Abs(float64(got[i])-c.want[i]) > 1e-6 {
				t.Errorf("%s after one step %v, PyTorch %v", c.name, got, c.want)
				break
			}
		}
	}
}
