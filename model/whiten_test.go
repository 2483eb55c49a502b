package model

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"gotrain/internal/pyref"
	"gotrain/torch"
	"gotrain/torch/nn"
)

// The patch moments match airbench's unfold-based estimate, and SymEigen's
// eigenpairs match torch.linalg.eigh's (eigenvectors up to sign), both
// computed by PyTorch.
func TestWhiteningMatchesPyTorch(t *testing.T) {
	pyref.Require(t, "torch")
	const n, c, h, w, k = 3, 3, 7, 6, 3
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, n*c*h*w)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	cov, err := PatchCovariance(x, n, c, h, w, k)
	if err != nil {
		t.Fatal(err)
	}
	const d = c * k * k
	// A matrix with well-separated and with nearly equal eigenvalues.
	m := append([]float64(nil), cov...)
	for i := range d {
		m[i*d+i] += 0.01 * float64(i%4)
	}
	req, _ := json.Marshal(map[string]any{"x": x, "n": n, "c": c, "h": h, "w": w, "k": k, "m": m, "d": d})
	var ref struct{ Cov, Values, Vectors []float64 }
	if err := json.Unmarshal(pyref.Run(t, filepath.Join("testdata", "whiten_ref.py"), req), &ref); err != nil {
		t.Fatal(err)
	}
	for i := range cov {
		if math.Abs(cov[i]-ref.Cov[i]) > 1e-12 {
			t.Fatalf("cov[%d] = %v, PyTorch %v", i, cov[i], ref.Cov[i])
		}
	}
	vals, vecs, err := SymEigen(m, d)
	if err != nil {
		t.Fatal(err)
	}
	for i := range d {
		if math.Abs(vals[i]-ref.Values[i]) > 1e-10 {
			t.Errorf("eigenvalue %d = %v, PyTorch %v", i, vals[i], ref.Values[i])
		}
		dot := 0.0
		for j := range d {
			dot += vecs[i*d+j] * ref.Vectors[i*d+j]
		}
		if i+1 < d && ref.Values[i]-ref.Values[i+1] > 1e-6 && (i == 0 || ref.Values[i-1]-ref.Values[i] > 1e-6) && math.Abs(math.Abs(dot)-1) > 1e-8 {
			t.Errorf("eigenvector %d: |dot| with PyTorch's = %v, want 1", i, math.Abs(dot))
		}
	}
}

// The filters whiten: for the kept directions F C Fᵀ is diagonal with
// entries λ/(λ+eps), and the second half is the first negated.
func TestWhiteningFiltersWhiten(t *testing.T) {
	const n, c, h, w, k = 4, 3, 10, 9, 3
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*c*h*w)
	for i := range x { // correlated channels, so that whitening has work to do
		x[i] = float32(r.NormFloat64())
		if i >= h*w {
			x[i] += 0.8 * x[i-h*w]
		}
	}
	cov, _ := PatchCovariance(x, n, c, h, w, k)
	const d, out = c * k * k, 16
	f, err := WhiteningFilters(cov, d, out, WhitenEps)
	if err != nil {
		t.Fatal(err)
	}
	vals, _, _ := SymEigen(cov, d)
	for a := range out / 2 {
		for b := range out / 2 {
			s := 0.0
			for i := range d {
				for j := range d {
					s += float64(f[a*d+i]) * cov[i*d+j] * float64(f[b*d+j])
				}
			}
			want := 0.0
			if a == b {
				want = vals[a] / (vals[a] + WhitenEps)
			}
			if math.Abs(s-want) > 1e-5 {
				t.Errorf("(F C Fᵀ)[%d][%d] = %v, want %v", a, b, s, want)
			}
		}
		for i := range d {
			if f[(out/2+a)*d+i] != -f[a*d+i] {
				t.Fatalf("filter %d is not filter %d negated", out/2+a, a)
			}
		}
	}
	if _, err := WhiteningFilters(cov, d, 15, WhitenEps); err == nil {
		t.Error("an odd number of filters accepted")
	}
	if _, err := PatchCovariance(x, n, c, h, w, 11); err == nil {
		t.Error("patches larger than the image accepted")
	}
}

// Whiten sets sepnet's first convolution to the filters and freezes it.
func TestWhitenNet(t *testing.T) {
	net := torch.Must(New("sepnet", Options{}))
	defer nn.Free(net)
	const n, h, w = 2, 12, 12
	r := rand.New(rand.NewPCG(3, 4))
	x := make([]float32, n*3*h*w)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	if err := Whiten(net, x, n, h, w); err != nil {
		t.Fatal(err)
	}
	conv := torch.Must(FirstConv(net))
	if conv.Weight.RequiresGrad() {
		t.Error("the whitened weight still requires grad")
	}
	cov, _ := PatchCovariance(x, n, 3, h, w, 3)
	want, _ := WhiteningFilters(cov, 27, 32, WhitenEps)
	got := torch.Must(torch.ToSlice[float32](conv.Weight))
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("weight[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	seed := torch.Must(New("seed", Options{}))
	defer nn.Free(seed)
	if err := Whiten(seed, x, n, h, w); err != nil { // 16 filters: fine
		t.Fatal(err)
	}
}
