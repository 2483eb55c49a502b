package nn

import (
	"fmt"
	"math"

	"gotrain/torch"
)

// newParam makes a float32 CPU leaf tensor that requires grad and that no
// scope owns: its module owns it.
func newParam(shape []int64, init func(t *torch.Tensor) error) (*torch.Tensor, error) {
	t, err := torch.Zeros(shape, torch.Float32, torch.CPU)
	if err != nil {
		return nil, err
	}
	torch.Keep(t)
	if init != nil {
		if err := init(t); err != nil {
			t.Free()
			return nil, err
		}
	}
	if err := t.SetRequiresGrad(true); err != nil {
		t.Free()
		return nil, err
	}
	return t, nil
}

// newBuffer makes a CPU tensor that no scope owns, filled with v.
func newBuffer(shape []int64, v float64, dtype torch.DType) (*torch.Tensor, error) {
	t, err := torch.Full(shape, v, dtype, torch.CPU)
	if err != nil {
		return nil, err
	}
	return torch.Keep(t), nil
}

// uniform returns an initialiser drawing from U(-bound, bound).
func uniform(bound float64) func(t *torch.Tensor) error {
	return func(t *torch.Tensor) error { return t.Uniform_(-bound, bound) }
}

// kaimingBound is the bound PyTorch's default Conv/Linear initialisation
// uses: kaiming_uniform_(a=sqrt(5)) gives 1/sqrt(fan_in), and so does the bias.
func kaimingBound(fanIn int64) float64 {
	if fanIn <= 0 {
		return 0
	}
	return 1 / math.Sqrt(float64(fanIn))
}

// freeAll frees tensors made before a constructor failed.
func freeAll(ts ...*torch.Tensor) {
	for _, t := range ts {
		t.Free()
	}
}

func positive(what string, v int64) error {
	if v <= 0 {
		return fmt.Errorf("nn: %s must be positive, got %d", what, v)
	}
	return nil
}
