package infer

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"gotrain/dataset"
	"gotrain/internal/nntest"
	"gotrain/internal/pyref"
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
	lc := newLinearCase(t, rand.New(rand.NewPCG(1, 2)), n, k, []float32{0.25, -0.5})
	net, b, linear := lc.net, lc.batch, lc.logit
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

// TestTranslateBatchMatchesPyTorch compares the shifted views with
// PyTorch's reflection padding cropped at the offsets the shifts mean.
func TestTranslateBatchMatchesPyTorch(t *testing.T) {
	pyref.Require(t, "torch", "numpy")
	const n = 2
	x := make([]float32, n*dataset.ImageSize)
	for i := range x {
		x[i] = float32(i)
	}
	in := filepath.Join(t.TempDir(), "x.bin")
	nntest.WriteLE(t, in, x)
	shifts := [][2]int{{1, 1}, {-1, -1}, {1, 0}, {0, -1}, {0, 0}}
	const script = `
import json, sys, numpy as np, torch
import torch.nn.functional as F
x = torch.from_numpy(np.fromfile(sys.argv[1], dtype="<f4").reshape(2, 3, 32, 32))
p = F.pad(x, (1, 1, 1, 1), mode="reflect")
out = []
for dy, dx in json.loads(sys.argv[2]):
    out.append(p[:, :, 1 - dy:33 - dy, 1 - dx:33 - dx].flatten().tolist())
print(json.dumps(out))
`
	arg, _ := json.Marshal(shifts)
	raw, err := exec.Command(pyref.Python, "-c", script, in, string(arg)).Output()
	if err != nil {
		t.Fatalf("%s: %v", pyref.Python, err)
	}
	var want [][]float32
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for i, s := range shifts {
		got := TranslateBatch(x, n, s[0], s[1])
		if !slices.Equal(got, want[i]) {
			t.Errorf("shift %v differs from PyTorch's reflection padding", s)
		}
	}
}

// TestTranslateTTAHandWorked checks translate TTA on a linear classifier,
// with and without flips, against 0.5*v(x) + 0.25*v(x moved down-right) +
// 0.25*v(x moved up-left), v the (flip-averaged) linear map.
func TestTranslateTTAHandWorked(t *testing.T) {
	defer torch.NewScope().Close()
	const n, k = 2, 3
	lc := newLinearCase(t, rand.New(rand.NewPCG(3, 4)), n, k, nil)
	net, b, linear := lc.net, lc.batch, lc.logit
	for _, flip := range []bool{false, true} {
		view := func(x []float32, img, class int) float64 {
			if !flip {
				return linear(x, img, class)
			}
			return 0.5*linear(x, img, class) + 0.5*linear(FlipBatch(x, n), img, class)
		}
		o := EvalOptions{FlipTTA: flip, TranslateTTA: true}
		got := torch.Must(torch.ToSlice[float32](torch.Must(Logits(net, b, torch.CPU, o))))
		down, up := TranslateBatch(b.X, n, 1, 1), TranslateBatch(b.X, n, -1, -1)
		for img := range n {
			for c := range k {
				want := 0.5*view(b.X, img, c) + 0.25*view(down, img, c) + 0.25*view(up, img, c)
				if d := math.Abs(float64(got[img*k+c]) - want); d > 1e-4 {
					t.Errorf("flip %v, image %d, class %d: %v, want %v", flip, img, c, got[img*k+c], want)
				}
				if d := math.Abs(want - view(b.X, img, c)); d < 1e-4 {
					t.Errorf("flip %v, image %d, class %d: the shifts do not change the logit", flip, img, c)
				}
			}
		}
	}
}

// linearCase is a linear classifier on flattened images with random
// weights and a batch of random images, for the TTA tests, with the
// classifier's logits worked out by hand.
type linearCase struct {
	net     nn.Module
	batch   *dataset.Batch
	w, bias []float32
}

// newLinearCase draws k classes' weights and n images from r; bias nil
// means a classifier without bias. The classifier is freed with t.
func newLinearCase(t *testing.T, r *rand.Rand, n, k int, bias []float32) *linearCase {
	t.Helper()
	lin := torch.Must(nn.NewLinear(dataset.ImageSize, int64(k), bias != nil))
	t.Cleanup(func() { nn.Free(lin) })
	w := make([]float32, k*dataset.ImageSize)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.01)
	}
	torch.Must(0, torch.NoGrad(func() error {
		if err := lin.Weight.Copy_(torch.Must(torch.FromSlice(w, int64(k), dataset.ImageSize))); err != nil || bias == nil {
			return err
		}
		return lin.Bias.Copy_(torch.Must(torch.FromSlice(bias, int64(k))))
	}))
	b := &dataset.Batch{X: make([]float32, n*dataset.ImageSize), Y: make([]int64, n), N: n}
	for i := range b.X {
		b.X[i] = float32(r.NormFloat64())
	}
	return &linearCase{net: nn.NewSequential(nn.NewFlatten(), lin), batch: b, w: w, bias: bias}
}

// logit returns W x + b for image img of the images x, class class.
func (c *linearCase) logit(x []float32, img, class int) float64 {
	var s float64
	if c.bias != nil {
		s = float64(c.bias[class])
	}
	for j, v := range x[img*dataset.ImageSize : (img+1)*dataset.ImageSize] {
		s += float64(c.w[class*dataset.ImageSize+j]) * float64(v)
	}
	return s
}
