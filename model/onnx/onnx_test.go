package onnx

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gotrain/internal/nntest"
	"gotrain/internal/pyref"
	"gotrain/internal/testenv"
	"gotrain/model"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/transforms"
)

// sharedArchive is the project's copy of CIFAR-10 as JPEGs, seen from this
// package's folder.
const sharedArchive = "../../../shared/datasets/cifar10-jpeg.tar.gz"

// classes are CIFAR-10's, as the tests label the logits.
var classes = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// testImages reads n images of the archive's test split, spread over the
// classes, decoded by Go's image/jpeg and normalised as the trainer's test
// pipeline does: (N, 3, 32, 32) float32.
func testImages(t *testing.T, n int) []float32 {
	t.Helper()
	if _, err := os.Stat(sharedArchive); err != nil {
		testenv.Need(t, fmt.Sprintf("the shared archive: %v", err))
	}
	want := map[string]int{}
	for i := range n {
		want[fmt.Sprintf("cifar10-jpeg/test/%s/%04d.jpg", classes[i%len(classes)], 17*i)] = i
	}
	f, err := os.Open(sharedArchive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, n*3*32*32)
	found := 0
	tr := tar.NewReader(zr)
	for found < n {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: %d of %d test images found: %v", sharedArchive, found, n, err)
		}
		i, ok := want[h.Name]
		if !ok {
			continue
		}
		img, err := jpeg.Decode(tr)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if img.Bounds() != image.Rect(0, 0, 32, 32) {
			t.Fatalf("%s: %v image", h.Name, img.Bounds())
		}
		for y := range 32 {
			for x := range 32 {
				r, g, b, _ := img.At(x, y).RGBA()
				for c, v := range []uint32{r, g, b} {
					p := float64(v>>8) / 255
					out[((i*3+c)*32+y)*32+x] = float32((p - transforms.CIFAR10Mean[c]) / transforms.CIFAR10Std[c])
				}
			}
		}
		found++
	}
	return out
}

// randomize gives every BatchNorm2d of m random affine weights and running
// statistics, as training would, so that folding them has work to do.
func randomize(t *testing.T, m nn.Module, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	set := func(dst *torch.Tensor, lo, hi float64) {
		v := make([]float32, dst.Numel())
		for i := range v {
			v[i] = float32(lo + (hi-lo)*rng.Float64())
		}
		err := torch.WithScope(func() error {
			src, err := torch.FromSlice(v, dst.Shape()...)
			if err != nil {
				return err
			}
			return torch.NoGrad(func() error { return dst.Copy_(src) })
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	err := nn.Walk(m, func(_ string, _ int, m nn.Module) error {
		if bn, ok := m.(*nn.BatchNorm2d); ok {
			set(bn.Weight, 0.5, 1.5)
			set(bn.Bias, -0.3, 0.3)
			set(bn.RunningMean, -0.2, 0.2)
			set(bn.RunningVar, 0.5, 2)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkScript checks each ONNX file with onnx's checker, reads its
// interface and metadata back with onnx, runs it in OpenCV's dnn module
// on the images one at a time and all at once, and, for a file with a
// PyTorch twin, exports the twin (loaded from the state_dict) with
// torch.onnx.export at the same opset and runs that in OpenCV too.
const checkScript = `
import json, sys, numpy as np, onnx, cv2, torch
sys.path.insert(0, "../../scripts")
import models
jobs, inp, n = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
x = np.fromfile(inp, dtype="<f4").reshape(n, 3, 32, 32)

def dims(vi):
    return [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]

def run(path):
    net = cv2.dnn.readNetFromONNX(path)
    one = []
    for i in range(n):
        net.setInput(x[i:i+1])
        one.append(net.forward().copy())
    net.setInput(x)
    return np.concatenate(one).flatten().tolist(), net.forward().flatten().tolist()

out = {}
for job in jobs:
    m = onnx.load(job["onnx"])
    onnx.checker.check_model(m, full_check=True)
    r = {"opset": [[o.domain, o.version] for o in m.opset_import], "ir": m.ir_version,
         "inputs": [[v.name, dims(v)] for v in m.graph.input],
         "outputs": [[v.name, dims(v)] for v in m.graph.output],
         "meta": {p.key: p.value for p in m.metadata_props},
         "ops": [nd.op_type for nd in m.graph.node]}
    r["one"], r["all"] = run(job["onnx"])
    if job.get("twin"):
        twin = models.NETWORKS[job["twin"]](dropout=0.0)
        twin.load_state_dict(torch.load(job["sd"]))
        twin.eval()
        torch.onnx.export(twin, torch.from_numpy(x[:1]), job["torch"], opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        tm = onnx.load(job["torch"])
        onnx.checker.check_model(tm, full_check=True)
        r["torch_ops"] = [nd.op_type for nd in tm.graph.node]
        r["torch_one"], r["torch_all"] = run(job["torch"])
    out[job["name"]] = r
print(json.dumps(out))
`

// job is one file for checkScript.
type job struct {
	Name  string `json:"name"`
	ONNX  string `json:"onnx"`
	Twin  string `json:"twin,omitempty"`
	SD    string `json:"sd,omitempty"`
	Torch string `json:"torch,omitempty"`
}

// result is checkScript's report on one file.
type result struct {
	Opset    [][]any           `json:"opset"`
	IR       int               `json:"ir"`
	Inputs   [][]any           `json:"inputs"`
	Outputs  [][]any           `json:"outputs"`
	Meta     map[string]string `json:"meta"`
	Ops      []string          `json:"ops"`
	One      []float64         `json:"one"`
	All      []float64         `json:"all"`
	TorchOps []string          `json:"torch_ops"`
	TorchOne []float64         `json:"torch_one"`
	TorchAll []float64         `json:"torch_all"`
}

// check runs checkScript on the jobs with n images xs.
func check(t *testing.T, jobs []job, xs []float32, n int) map[string]result {
	t.Helper()
	dir := t.TempDir()
	inp := filepath.Join(dir, "x.f32")
	nntest.WriteLE(t, inp, xs)
	spec, err := json.Marshal(jobs)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pyref.Python, "-c", checkScript, string(spec), inp, strconv.Itoa(n))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", pyref.Python, err, stderr.String())
	}
	var res map[string]result
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("the script's output %q: %v", raw, err)
	}
	return res
}

// near fails t unless got and want have the same length and agree within
// 1e-4 everywhere.
func near(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) || len(got) == 0 {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	worst := 0.0
	for i := range got {
		d := math.Abs(got[i] - want[i])
		if d > 1e-4 || math.IsNaN(d) {
			t.Errorf("%s: logit %d (image %d) is %v, want %v", what, i, i/10, got[i], want[i])
			return
		}
		worst = max(worst, d)
	}
	t.Logf("%s: %d logits, largest difference %.2g", what, len(got), worst)
}

// TestNetworksInOpenCV exports every registered network, with trained-like
// batch norm statistics, and checks each file with onnx's checker (full
// check, shape inference included), its interface (names, the dynamic
// batch dimension, opset, metadata), and its logits in OpenCV against the
// network's own for real test images, one at a time and as one batch.
// PyTorch's torch.onnx.export of the network's twin must give the same
// operators in the same order (both fold the batch norms) and the same
// logits in OpenCV.
func TestNetworksInOpenCV(t *testing.T) {
	pyref.Require(t, "onnx", "cv2", "torch", "numpy")
	const n = 6
	xs := testImages(t, n)
	dir := t.TempDir()
	var jobs []job
	want := map[string][]float64{}
	bns := map[string]int{}
	for i, name := range model.Names() {
		if err := torch.ManualSeed(uint64(11 + i)); err != nil {
			t.Fatal(err)
		}
		net, err := model.New(name, model.Options{Dropout: 0.05})
		if err != nil {
			t.Fatal(err)
		}
		randomize(t, net, uint64(i))
		_ = nn.Walk(net, func(_ string, _ int, m nn.Module) error {
			if _, ok := m.(*nn.BatchNorm2d); ok {
				bns[name]++
			}
			return nil
		})
		want[name] = nntest.Logits(t, net, false, xs, n)
		j := job{Name: name, ONNX: filepath.Join(dir, name+".onnx"), Twin: name,
			SD: filepath.Join(dir, name+".pt"), Torch: filepath.Join(dir, name+"-torch.onnx")}
		o := Options{Classes: classes, Mean: transforms.CIFAR10Mean[:], Std: transforms.CIFAR10Std[:]}
		if err := Save(j.ONNX, net, o); err != nil {
			t.Fatal(err)
		}
		if err := torch.Save(j.SD, nn.StateDict(net)); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, j)
		// The same network with BatchNormalization nodes.
		o.KeepBatchNorm = true
		kept := job{Name: name + "-bn", ONNX: filepath.Join(dir, name+"-bn.onnx")}
		if err := Save(kept.ONNX, net, o); err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, kept)
		nn.Free(net)
	}
	// A network of what the registered ones do not use: a Conv2d without
	// bias before a batch norm (folding gives it one), GELU, a batch norm
	// after an activation (left as BatchNormalization), a grouped strided
	// convolution in a residual-free block and an nn.Flatten module.
	custom := customNet(t)
	defer nn.Free(custom)
	randomize(t, custom, 99)
	want["custom"] = nntest.Logits(t, custom, false, xs, n)
	jobs = append(jobs, job{Name: "custom", ONNX: filepath.Join(dir, "custom.onnx")})
	if err := Save(jobs[len(jobs)-1].ONNX, custom, Options{Classes: classes}); err != nil {
		t.Fatal(err)
	}
	res := check(t, jobs, xs, n)
	t.Run("custom", func(t *testing.T) {
		r := res["custom"]
		if got := strings.Join(r.Ops, " "); got != "Conv Div Erf Add Mul Mul BatchNormalization Conv Relu GlobalAveragePool Flatten Gemm" {
			t.Errorf("ops %s", got)
		}
		near(t, "OpenCV, batch 1", r.One, want["custom"])
		near(t, fmt.Sprintf("OpenCV, batch %d", n), r.All, want["custom"])
	})
	for _, name := range model.Names() {
		t.Run(name, func(t *testing.T) {
			r, ok := res[name]
			if !ok {
				t.Fatal("no result")
			}
			if fmt.Sprint(r.Opset) != fmt.Sprintf("[[ %d]]", Opset) || r.IR != IRVersion {
				t.Errorf("opset %v, IR %d; want [[\"\" %d]], %d", r.Opset, r.IR, Opset, IRVersion)
			}
			if got := fmt.Sprint(r.Inputs, r.Outputs); got != "[[input [batch 3 32 32]]] [[logits [batch 10]]]" {
				t.Errorf("inputs and outputs %s", got)
			}
			var cls, mean []any
			if err := json.Unmarshal([]byte(r.Meta[MetaClasses]), &cls); err != nil || fmt.Sprint(cls) != fmt.Sprint(classes) {
				t.Errorf("metadata %s = %q (%v), want %v", MetaClasses, r.Meta[MetaClasses], err, classes)
			}
			if err := json.Unmarshal([]byte(r.Meta[MetaMean]), &mean); err != nil || fmt.Sprint(mean) != fmt.Sprint(transforms.CIFAR10Mean[:]) {
				t.Errorf("metadata %s = %q (%v)", MetaMean, r.Meta[MetaMean], err)
			}
			if r.Meta[MetaModel] != name {
				t.Errorf("metadata %s = %q, want %q", MetaModel, r.Meta[MetaModel], name)
			}
			if slices.Contains(r.Ops, "BatchNormalization") || slices.Contains(r.Ops, "Dropout") {
				t.Errorf("ops %v: batch norms should be folded and dropout left out", r.Ops)
			}
			if !slices.Equal(r.Ops, r.TorchOps) {
				t.Errorf("operators differ from torch.onnx.export's:\n ours  %v\n torch %v", r.Ops, r.TorchOps)
			}
			near(t, "OpenCV, batch 1", r.One, want[name])
			near(t, fmt.Sprintf("OpenCV, batch %d", n), r.All, want[name])
			near(t, "torch.onnx.export in OpenCV, batch 1", r.TorchOne, want[name])
			near(t, fmt.Sprintf("torch.onnx.export in OpenCV, batch %d", n), r.TorchAll, want[name])
			kept := res[name+"-bn"]
			if got := count(kept.Ops, "BatchNormalization"); got != bns[name] || bns[name] == 0 {
				t.Errorf("KeepBatchNorm: %d BatchNormalization nodes for %d BatchNorm2d modules", got, bns[name])
			}
			if got, want := len(kept.Ops)-bns[name], len(r.Ops); got != want {
				t.Errorf("KeepBatchNorm: %d other nodes, folded %d", got, want)
			}
			near(t, "KeepBatchNorm in OpenCV, batch 1", kept.One, want[name])
			near(t, fmt.Sprintf("KeepBatchNorm in OpenCV, batch %d", n), kept.All, want[name])
		})
	}
}

func count(ops []string, op string) int {
	k := 0
	for _, o := range ops {
		if o == op {
			k++
		}
	}
	return k
}

// customNet is the network of modules the registered ones do not use.
func customNet(t *testing.T) *model.Net {
	t.Helper()
	conv := func(c nn.Conv2dConfig) *nn.Conv2d {
		m, err := nn.NewConv2d(c)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	bn := func(n int64) *nn.BatchNorm2d {
		m, err := nn.NewBatchNorm2d(n)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	fc, err := nn.NewLinear(24, 10, true)
	if err != nil {
		t.Fatal(err)
	}
	return &model.Net{Name: "custom", Blocks: []nn.Child{
		{Name: "c1", Module: nn.NewSequential(
			conv(nn.Conv2dConfig{InChannels: 3, OutChannels: 12, KernelSize: [2]int64{3, 3}, Padding: [2]int64{1, 1}, NoBias: true}), bn(12),
			nn.GELU{}, bn(12),
			conv(nn.Conv2dConfig{InChannels: 12, OutChannels: 24, KernelSize: [2]int64{3, 5}, Stride: [2]int64{2, 1}, Padding: [2]int64{2, 1}, Dilation: [2]int64{2, 1}, Groups: 3}),
			nn.ReLU{},
		)},
		{Name: "gap", Module: nn.NewSequential(nn.AdaptiveAvgPool2d{OutputSize: [2]int64{1, 1}}, nn.NewFlatten())},
		{Name: "fc", Module: fc},
	}}
}
