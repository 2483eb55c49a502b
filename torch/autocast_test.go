package torch

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
)

// autocastRef runs a conv -> relu -> linear -> cross-entropy step under
// torch.autocast("cpu") on the inputs given, and reports each result's
// dtype and values (as float64) and the weight gradients.
const autocastRef = `
import json, sys, torch
c = json.load(sys.stdin)
t = lambda k, *s: torch.tensor(c[k], dtype=torch.float32).reshape(*s)
x, w, b = t("x", 2, 3, 4, 4), t("w", 5, 3, 3, 3), t("b", 5)
lw, lb = t("lw", 4, 80), t("lb", 4)
y = torch.tensor(c["y"])
w.requires_grad_(); lw.requires_grad_()
with torch.autocast("cpu"):
    h = torch.nn.functional.conv2d(x, w, b, padding=1)
    r = torch.relu(h)
    z = torch.nn.functional.linear(torch.flatten(r, 1), lw, lb)
    loss = torch.nn.functional.cross_entropy(z, y)
loss.backward()
out = {k: {"dtype": str(v.dtype).replace("torch.", ""), "v": v.detach().double().flatten().tolist()}
       for k, v in [("h", h), ("r", r), ("z", z), ("loss", loss), ("w.grad", w.grad), ("lw.grad", lw.grad)]}
json.dump(out, sys.stdout)
`

// TestAutocastCPUMatchesPyTorch runs the same step through the binding and
// checks every dtype autocast chose, and every value, against PyTorch's.
func TestAutocastCPUMatchesPyTorch(t *testing.T) {
	if err := exec.Command(systemPython, "-c", "import torch").Run(); err != nil {
		t.Skipf("skipping: %s with torch is not available: %v", systemPython, err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	vals := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.5)
		}
		return v
	}
	in := map[string]any{"x": vals(2 * 3 * 4 * 4), "w": vals(5 * 3 * 3 * 3), "b": vals(5),
		"lw": vals(4 * 80), "lb": vals(4), "y": []int64{1, 3}}
	js, _ := json.Marshal(in)
	cmd := exec.Command(systemPython, "-c", autocastRef)
	cmd.Stdin = strings.NewReader(string(js))
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	var want map[string]struct {
		DType string    `json:"dtype"`
		V     []float64 `json:"v"`
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}

	s := NewScope()
	defer s.Close()
	f := func(k string, shape ...int64) *Tensor { return Must(FromSlice(in[k].([]float32), shape...)) }
	x, w, b := f("x", 2, 3, 4, 4), f("w", 5, 3, 3, 3), f("b", 5)
	lw, lb := f("lw", 4, 80), f("lb", 4)
	y := Must(FromSlice([]int64{1, 3}))
	Must(0, w.SetRequiresGrad(true))
	Must(0, lw.SetRequiresGrad(true))
	got := map[string]*Tensor{}
	if IsAutocastCPU() {
		t.Fatal("autocast on before AutocastCPU")
	}
	err = AutocastCPU(func() error {
		if !IsAutocastCPU() {
			t.Error("autocast off inside AutocastCPU")
		}
		got["h"] = Must(Conv2d(x, w, b, Conv2dOptions{Padding: [2]int64{1, 1}}))
		got["r"] = Must(Relu(got["h"]))
		got["z"] = Must(Linear(Must(got["r"].Flatten(1, -1)), lw, lb))
		got["loss"] = Must(CrossEntropy(got["z"], y, ReduceMean, 0))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if IsAutocastCPU() {
		t.Error("autocast still on after AutocastCPU")
	}
	Must(0, got["loss"].Backward())
	got["w.grad"], got["lw.grad"] = Must(w.Grad()), Must(lw.Grad())

	for k, wt := range want {
		g := got[k]
		if g.DType().String() != wt.DType {
			t.Errorf("%s: dtype %v, PyTorch %s", k, g.DType(), wt.DType)
			continue
		}
		v := Must(ToSlice[float64](Must(g.ToDType(Float64))))
		for i := range v {
			if math.Abs(v[i]-wt.V[i]) > 1e-6*(1+math.Abs(wt.V[i])) {
				t.Errorf("%s[%d] = %v, PyTorch %v", k, i, v[i], wt.V[i])
				break
			}
		}
	}
	// Autocast made the convolution run in bfloat16, not float32.
	if got["h"].DType() != BFloat16 {
		t.Errorf("conv2d under autocast gave %v, want bfloat16", got["h"].DType())
	}
}
