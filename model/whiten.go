package model

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gotrain/torch"
	"gotrain/torch/nn"
)

// Patch whitening (airbench's first layer, Jordan 2024; Page's
// "bag of tricks"): the first convolution's filters are the principal
// directions of the training images' k×k patches, each scaled by
// 1/sqrt(eigenvalue + eps) so that its output has unit variance, and each
// paired with its negation so that the ReLU after it keeps both signs. The
// filters stay fixed while the rest of the network trains.

// WhitenEps is the eps added to the eigenvalues, in the units of the
// normalized images (airbench's 5e-4).
const WhitenEps = 5e-4

// PatchCovariance returns the c·k·k × c·k·k matrix (row-major) of the
// second moments of the k×k patches of x at every position where a patch
// fits (stride 1, no padding), as airbench estimates it: Σ p pᵀ / n over
// the n patches p, flattened in PyTorch's weight order (channel, row,
// column), without subtracting the mean (the images are normalized). x is
// N×c×h×w float32, contiguous.
func PatchCovariance(x []float32, n, c, h, w, k int) ([]float64, error) {
	if n <= 0 || c <= 0 || k <= 0 || k > h || k > w || len(x) != n*c*h*w {
		return nil, fmt.Errorf("model: %d values for %d×%d×%d×%d images with %d×%d patches", len(x), n, c, h, w, k, k)
	}
	d := c * k * k
	sum := make([]float64, d*d)
	p := make([]float64, d)
	for img := range n {
		base := x[img*c*h*w : (img+1)*c*h*w]
		for y := 0; y+k <= h; y++ {
			for xx := 0; xx+k <= w; xx++ {
				i := 0
				for ch := range c {
					for dy := range k {
						row := base[ch*h*w+(y+dy)*w+xx:]
						for dx := range k {
							p[i] = float64(row[dx])
							i++
						}
					}
				}
				for a := range d {
					pa, r := p[a], sum[a*d:]
					for b := a; b < d; b++ {
						r[b] += pa * p[b]
					}
				}
			}
		}
	}
	count := float64(n * (h - k + 1) * (w - k + 1))
	for a := range d {
		for b := a; b < d; b++ {
			sum[a*d+b] /= count
			sum[b*d+a] = sum[a*d+b]
		}
	}
	return sum, nil
}

// SymEigen returns the eigenvalues of the symmetric d×d matrix m
// (row-major), in descending order, and the matching unit eigenvectors as
// the rows of a d×d matrix, by cyclic Jacobi rotations in float64.
func SymEigen(m []float64, d int) (values, vectors []float64, err error) {
	if d <= 0 || len(m) != d*d {
		return nil, nil, fmt.Errorf("model: %d values for a %d×%d matrix", len(m), d, d)
	}
	a := append([]float64(nil), m...)
	v := make([]float64, d*d) // columns are the eigenvectors
	for i := range d {
		v[i*d+i] = 1
	}
	for sweep := 0; ; sweep++ {
		off, norm := 0.0, 0.0
		for i := range d {
			for j := range d {
				if i != j {
					off += a[i*d+j] * a[i*d+j]
				}
				norm += a[i*d+j] * a[i*d+j]
			}
		}
		if off <= 1e-30*norm || off == 0 {
			break
		}
		if sweep == 100 {
			return nil, nil, errors.New("model: Jacobi eigenvalue iteration did not converge")
		}
		for p := range d {
			for q := p + 1; q < d; q++ {
				apq := a[p*d+q]
				if apq == 0 {
					continue
				}
				// The rotation that zeroes a[p][q] (Golub and Van Loan, 8.4).
				theta := (a[q*d+q] - a[p*d+p]) / (2 * apq)
				t := math.Copysign(1, theta) / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				cs := 1 / math.Sqrt(t*t+1)
				sn := t * cs
				for k := range d {
					akp, akq := a[k*d+p], a[k*d+q]
					a[k*d+p], a[k*d+q] = cs*akp-sn*akq, sn*akp+cs*akq
				}
				for k := range d {
					apk, aqk := a[p*d+k], a[q*d+k]
					a[p*d+k], a[q*d+k] = cs*apk-sn*aqk, sn*apk+cs*aqk
				}
				for k := range d {
					vkp, vkq := v[k*d+p], v[k*d+q]
					v[k*d+p], v[k*d+q] = cs*vkp-sn*vkq, sn*vkp+cs*vkq
				}
			}
		}
	}
	order := make([]int, d)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return a[order[i]*d+order[i]] > a[order[j]*d+order[j]] })
	values, vectors = make([]float64, d), make([]float64, d*d)
	for r, i := range order {
		values[r] = a[i*d+i]
		// A sign convention, so that the result does not depend on the
		// rotations' order: the largest component of each vector is positive.
		big := 0
		for k := range d {
			if math.Abs(v[k*d+i]) > math.Abs(v[big*d+i]) {
				big = k
			}
		}
		s := math.Copysign(1, v[big*d+i])
		for k := range d {
			vectors[r*d+k] = s * v[k*d+i]
		}
	}
	return values, vectors, nil
}

// WhiteningFilters returns out filters of shape c×k×k (out × c·k·k values,
// PyTorch's weight order) from the patch second moments cov (d×d, d =
// c·k·k): the out/2 principal directions of largest variance, each divided
// by sqrt(eigenvalue + eps), then the same filters negated. out must be
// even and at most 2·d.
func WhiteningFilters(cov []float64, d, out int, eps float64) ([]float32, error) {
	if out <= 0 || out%2 != 0 || out > 2*d {
		return nil, fmt.Errorf("model: %d whitening filters of %d values: want an even number up to %d", out, d, 2*d)
	}
	vals, vecs, err := SymEigen(cov, d)
	if err != nil {
		return nil, err
	}
	half := out / 2
	f := make([]float32, out*d)
	for r := range half {
		if vals[r]+eps <= 0 {
			return nil, fmt.Errorf("model: patch eigenvalue %d is %v: the patches do not span %d directions", r, vals[r], half)
		}
		s := 1 / math.Sqrt(vals[r]+eps)
		for k := range d {
			f[r*d+k] = float32(vecs[r*d+k] * s)
			f[(half+r)*d+k] = -f[r*d+k]
		}
	}
	return f, nil
}

// FirstConv returns the network's first layer, the convolution that sees
// the images: the first module of its first block.
func FirstConv(net *Net) (*nn.Conv2d, error) {
	if len(net.Blocks) == 0 {
		return nil, errors.New("model: the network has no blocks")
	}
	seq, ok := net.Blocks[0].Module.(*nn.Sequential)
	if !ok || len(seq.Layers) == 0 {
		return nil, fmt.Errorf("model: block %s is a %T, want a Sequential starting with a Conv2d", net.Blocks[0].Name, net.Blocks[0].Module)
	}
	conv, ok := seq.Layers[0].(*nn.Conv2d)
	if !ok {
		return nil, fmt.Errorf("model: the first layer of %s is a %T, want a Conv2d", net.Name, seq.Layers[0])
	}
	return conv, nil
}

// Whiten sets the first convolution of net to patch-whitening filters
// computed from images (N×3×H×W float32, normalized as the network's
// inputs are) and freezes its weight (requires_grad false; the optimizer
// skips a parameter without a gradient). The convolution must be square,
// with stride 1 and no groups or dilation, and have an even number of
// output channels.
func Whiten(net *Net, images []float32, n, h, w int) error {
	conv, err := FirstConv(net)
	if err != nil {
		return err
	}
	c := conv.Config
	k := c.KernelSize[0]
	if c.KernelSize[1] != k || c.Groups > 1 || c.Stride != [2]int64{1, 1} || c.Dilation != [2]int64{1, 1} {
		return fmt.Errorf("model: whitening needs a square stride-1 convolution without groups or dilation, %s's first is %+v", net.Name, c)
	}
	cin := int(c.InChannels)
	cov, err := PatchCovariance(images, n, cin, h, w, int(k))
	if err != nil {
		return err
	}
	f, err := WhiteningFilters(cov, cin*int(k*k), int(c.OutChannels), WhitenEps)
	if err != nil {
		return fmt.Errorf("whitening %s's first convolution: %w", net.Name, err)
	}
	return torch.WithScope(func() error {
		src, err := torch.FromSlice(f, c.OutChannels, c.InChannels, k, k)
		if err != nil {
			return err
		}
		if err := torch.NoGrad(func() error { return conv.Weight.Copy_(src) }); err != nil {
			return err
		}
		return conv.Weight.SetRequiresGrad(false)
	})
}

// FreezeFirstConv stops training the weight of net's first convolution
// (requires_grad false), as a run with whitening does after setting it,
// and after resuming.
func FreezeFirstConv(net *Net) error {
	conv, err := FirstConv(net)
	if err != nil {
		return err
	}
	return conv.Weight.SetRequiresGrad(false)
}
