package infer

import (
	"math"
	"math/rand/v2"
	"testing"

	"gotrain/dataset"
	"gotrain/torch"
	"gotrain/torch/nn"
)

func TestFlipBatch(t *testing.T) {
	x := make([]float32, 2*dataset.ImageSize)
	for i := range x {
		x[i] = float32(i)
	}
	f := FlipBatch(x, 2)
	w := dataset.Width
	for i := range x {
		row, col := i/w, i%w
		if f[i] != x[row*w+w-1-col] {
			t.Fatalf("element %d: %v, want %v", i, f[i], x[row*w+w-1-col])
		}
	}
}

// TestFlipTTAHandWorked checks flip TTA on a linear classifier against the
// logits worked out by hand: 0.5*(W x + b) + 0.5*(W flip(x) + b).
func TestFlipTTAHandWorked(t *testing.T) {
	defer torch.NewScope().Close()
	const n, k = 3, 2
	r := rand.New(rand.NewPCG(1, 2))
	lin := torch.Must(nn.NewLinear(dataset.ImageSize, k, true))
	defer nn.Free(lin)
	w := make([]float32, k*dataset.ImageSize)
	bias := []float32{0.25, -0.5}
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.01)
	}
	torch.Must(0, torch.NoGrad(func() error {
		if err := lin.Weight.Copy_(torch.Must(torch.FromSlice(w, k, dataset.ImageSize))); err != nil {
			return err
		}
		return lin.Bias.Copy_(torch.Must(torch.FromSlice(bias, k)))
	}))
	net := nn.NewSequential(nn.NewFlatten(), lin)
	b := &dataset.Batch{X: make([]float32, n*dataset.ImageSize), Y: make([]int64, n), N: n}
	for i := range b.X {
		b.X[i] = float32(r.NormFloat64())
	}
	linear := func(x []float32, img, class int) float64 {
		s := float64(bias[class])
		for j, v := range x[img*dataset.ImageSize : (img+1)*dataset.ImageSize] {
			s += float64(w[class*dataset.ImageSize+j]) * float64(v)
		}
		return s
	}
	flipped := FlipBatch(b.X, n)
	for _, tta := range []bool{false, true} {
		got := torch.Must(torch.ToSlice[float32](torch.Must(Logits(net, b, torch.CPU, EvalOptions{FlipTTA: tta}))))
		for img := range n {
			for c := range k {
				want := linear(b.X, img, c)
				if tta {
					want = 0.5*want + 0.5*linear(flipped, img, c)
				}
				if d := math.Abs(float64(got[img*k+c]) - want); d > 1e-4 {
					t.Errorf("tta %v, image %d, class %d: %v, want %v", tta, img, c, got[img*k+c], want)
				}
			}
		}
	}
	// The flip must matter for this test to mean anything.
	plain := torch.Must(torch.ToSlice[float32](torch.Must(Logits(net, b, torch.CPU, EvalOptions{}))))
	tta := torch.Must(torch.ToSlice[float32](torch.Must(Logits(net, b, torch.CPU, EvalOptions{FlipTTA: true}))))
	if math.Abs(float64(plain[0]-tta[0])) < 1e-3 {
		t.Errorf("TTA logits %v equal plain ones %v", tta, plain)
	}
}
