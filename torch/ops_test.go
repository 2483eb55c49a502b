package torch

// Forward values and gradients of every op, checked against PyTorch.
//
// Each reference case names an op, its inputs (made here from a seeded
// generator and rounded to float32, so that every run sees the same values)
// and its arguments. One run of scripts/torchref.py computes all cases in
// float64 (seeded random cases in their own dtype); this file computes each
// case through the binding in float64 and in float32 and compares:
//
//	float64 run vs PyTorch float64:  |got-want| <= 1e-10*(|want| + max|want|)
//	float32 run vs PyTorch float64:  |got-want| <= 1e-5*(|want| + max|want|)
//	seeded cases, same dtype:        bit for bit
//	integer and bool results:        exactly
//
// where max|want| is taken over the whole tensor (an absolute floor scaled to
// the tensor, as for sums with cancellation). Gradients are those of the loss
// sum_k sum(out_k * R_k), with R_k the fixed pattern documented in torchref.py.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gotrain/internal/pyref"
)

// systemPython is the interpreter with PyTorch (not a pyenv one on PATH).
const systemPython = pyref.Python

// refScript computes the reference values; the tests run in torch/.
var refScript = filepath.Join("..", "scripts", "torchref.py")

// refTensor is a tensor as exchanged with torchref.py: row-major values.
type refTensor struct {
	DType string    `json:"dtype"`
	Shape []int64   `json:"shape"`
	Data  []float64 `json:"data"`
}

// refInput is one named input of a case. Floating inputs (dtype "float32")
// are converted to the dtype of the run; other dtypes are kept.
type refInput struct {
	Name  string    `json:"name"`
	DType string    `json:"dtype"`
	Shape []int64   `json:"shape"`
	Data  []float64 `json:"data"`
	Grad  bool      `json:"grad,omitempty"`
}

// refCase is one op application checked against PyTorch.
type refCase struct {
	Name   string         `json:"name"`
	Op     string         `json:"op"`
	DType  string         `json:"dtype,omitempty"` // PyTorch's compute dtype; float64 when empty
	Inputs []refInput     `json:"inputs,omitempty"`
	Args   map[string]any `json:"args,omitempty"`
	Seed   *uint64        `json:"seed,omitempty"`
	After  []string       `json:"after,omitempty"` // inputs to read back after the op

	group string  // which test runs the case
	runs  []DType // dtypes the binding runs it in; float64 and float32 when empty
}

// refResult is PyTorch's answer for one case.
type refResult struct {
	Error   string               `json:"error"`
	Outputs []refTensor          `json:"outputs"`
	Grads   map[string]refTensor `json:"grads"`
	After   map[string]refTensor `json:"after"`
}

// refCases holds every case of the package's tests; init functions add to
// it, and the first test that needs the reference values computes them all
// in a single Python process.
var refCases []refCase

var pyRef struct {
	once    sync.Once
	err     error
	results map[string]refResult
	took    time.Duration
}

// pyResults returns PyTorch's results for all registered cases, skipping the
// test when the system Python or its torch module is missing.
func pyResults(t *testing.T) map[string]refResult {
	t.Helper()
	pyref.Require(t, "torch")
	pyRef.once.Do(func() {
		req, err := json.Marshal(map[string]any{"cases": refCases})
		if err != nil {
			pyRef.err = err
			return
		}
		start := time.Now()
		cmd := exec.Command(systemPython, refScript)
		cmd.Stdin = bytes.NewReader(req)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			pyRef.err = fmt.Errorf("%s %s: %w\n%s", systemPython, refScript, err, stderr.Bytes())
			return
		}
		var resp struct {
			Torch   string               `json:"torch"`
			Results map[string]refResult `json:"results"`
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			pyRef.err = fmt.Errorf("decoding %s output: %w", refScript, err)
			return
		}
		pyRef.results = resp.Results
		pyRef.took = time.Since(start)
	})
	if pyRef.err != nil {
		t.Fatal(pyRef.err)
	}
	t.Logf("PyTorch reference values: %d cases in %v", len(refCases), pyRef.took.Round(time.Millisecond))
	return pyRef.results
}

// pattern returns R_k, the loss weights of output k (see torchref.py).
func pattern(numel int64, k int) []float64 {
	r := make([]float64, numel)
	for i := range numel {
		r[i] = float64((i*7919+int64(131*k)+17)%29-14) / 8
	}
	return r
}

// caseBuilder makes the inputs of one case from a generator seeded by its name.
type caseBuilder struct {
	rng *rand.Rand
	c   refCase
}

func newCase(group, name, op string) *caseBuilder {
	h := fnv.New64a()
	h.Write([]byte(name))
	return &caseBuilder{
		rng: rand.New(rand.NewPCG(h.Sum64(), 20261127)),
		c:   refCase{Name: name, Op: op, group: group, Args: map[string]any{}},
	}
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// input adds a floating input whose values come from gen, rounded to float32.
func (b *caseBuilder) input(name string, grad bool, gen func(r *rand.Rand) float64, shape ...int64) *caseBuilder {
	shape = append([]int64{}, shape...) // a 0-dim input has shape [], not nil
	data := make([]float64, numel(shape))
	for i := range data {
		data[i] = float64(float32(gen(b.rng)))
	}
	b.c.Inputs = append(b.c.Inputs, refInput{Name: name, DType: "float32", Shape: shape, Data: data, Grad: grad})
	return b
}

// normal adds standard normal values.
func (b *caseBuilder) normal(name string, grad bool, shape ...int64) *caseBuilder {
	return b.input(name, grad, func(r *rand.Rand) float64 { return r.NormFloat64() }, shape...)
}

// uniform adds values uniform in [lo, hi).
func (b *caseBuilder) uniform(name string, lo, hi float64, grad bool, shape ...int64) *caseBuilder {
	return b.input(name, grad, func(r *rand.Rand) float64 { return lo + (hi-lo)*r.Float64() }, shape...)
}

// nonzero adds values with 0.25 <= |v| < 2, random sign.
func (b *caseBuilder) nonzero(name string, grad bool, shape ...int64) *caseBuilder {
	return b.input(name, grad, func(r *rand.Rand) float64 {
		v := 0.25 + 1.75*r.Float64()
		if r.IntN(2) == 0 {
			return -v
		}
		return v
	}, shape...)
}

// ints adds an input of dtype dt with integer values in [lo, hi).
func (b *caseBuilder) ints(name string, dt DType, lo, hi int, shape ...int64) *caseBuilder {
	shape = append([]int64{}, shape...)
	data := make([]float64, numel(shape))
	for i := range data {
		data[i] = float64(lo + b.rng.IntN(hi-lo))
	}
	b.c.Inputs = append(b.c.Inputs, refInput{Name: name, DType: dt.String(), Shape: shape, Data: data})
	return b
}

func (b *caseBuilder) arg(k string, v any) *caseBuilder { b.c.Args[k] = v; return b }

func (b *caseBuilder) add() { refCases = append(refCases, b.c) }

// goOp computes an op through the binding; missing optional inputs are nil.
type goOp func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error)

func one(t *Tensor, err error) ([]*Tensor, error) { return []*Tensor{t}, err }

func pairArg(a map[string]any, k string) [2]int64 { return [2]int64(a[k].([]int64)) }

var goOps = map[string]goOp{
	"conv2d": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		o := Conv2dOptions{}
		if a["go_defaults"] != true {
			o = Conv2dOptions{Stride: pairArg(a, "stride"), Padding: pairArg(a, "padding"),
				Dilation: pairArg(a, "dilation"), Groups: a["groups"].(int64)}
		}
		return one(Conv2d(in["x"], in["w"], in["b"], o))
	},
	"batch_norm": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(BatchNorm(in["x"], in["w"], in["b"], in["running_mean"], in["running_var"],
			a["training"].(bool), a["momentum"].(float64), a["eps"].(float64)))
	},
	"relu": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) { return one(Relu(in["x"])) },
	"gelu": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) { return one(Gelu(in["x"])) },
	"dropout": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(Dropout(in["x"], a["p"].(float64), a["train"].(bool)))
	},
	"adaptive_avg_pool2d": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(AdaptiveAvgPool2d(in["x"], a["oh"].(int64), a["ow"].(int64)))
	},
	"linear": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(Linear(in["x"], in["w"], in["b"]))
	},
	"log_softmax": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(LogSoftmax(in["x"], a["dim"].(int64)))
	},
	"softmax": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(Softmax(in["x"], a["dim"].(int64)))
	},
	"cross_entropy": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		red := map[string]Reduction{"none": ReduceNone, "mean": ReduceMean, "sum": ReduceSum}[a["reduction"].(string)]
		return one(CrossEntropy(in["x"], in["target"], red, a["label_smoothing"].(float64)))
	},
	"reshape": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(in["x"].Reshape(a["shape"].([]int64)...))
	},
	"flatten": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(in["x"].Flatten(a["start"].(int64), a["end"].(int64)))
	},
	"transpose": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(in["x"].Transpose(a["d0"].(int64), a["d1"].(int64)))
	},
	"add": binary(Add),
	"add_scaled": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(AddScaled(in["a"], in["b"], a["alpha"].(float64)))
	},
	"sub":    binary(Sub),
	"mul":    binary(Mul),
	"div":    binary(Div),
	"matmul": binary(Matmul),
	"eq":     binary(Eq),
	"ne":     binary(Ne),
	"lt":     binary(Lt),
	"le":     binary(Le),
	"gt":     binary(Gt),
	"ge":     binary(Ge),
	"add_scalar": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(in["x"].AddScalar(a["s"].(float64)))
	},
	"mul_scalar": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(in["x"].MulScalar(a["s"].(float64)))
	},
	"pow": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(in["x"].Pow(a["s"].(float64)))
	},
	"neg":  method((*Tensor).Neg),
	"exp":  method((*Tensor).Exp),
	"log":  method((*Tensor).Log),
	"sqrt": method((*Tensor).Sqrt),
	"abs":  method((*Tensor).Abs),
	"sum":  method((*Tensor).Sum),
	"mean": method((*Tensor).Mean),
	"sum_dim": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(in["x"].SumDim(a["dim"].(int64), a["keepdim"].(bool)))
	},
	"mean_dim": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(in["x"].MeanDim(a["dim"].(int64), a["keepdim"].(bool)))
	},
	"argmax": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(in["x"].Argmax(a["dim"].(int64), a["keepdim"].(bool)))
	},
	"topk": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		v, i, err := in["x"].TopK(a["k"].(int64), a["dim"].(int64))
		return []*Tensor{v, i}, err
	},
	"randn": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(Randn(a["shape"].([]int64), a["_dtype"].(DType), CPU))
	},
	"rand": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(Rand(a["shape"].([]int64), a["_dtype"].(DType), CPU))
	},
	"uniform_": func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		x, err := Zeros(a["shape"].([]int64), a["_dtype"].(DType), CPU)
		if err != nil {
			return nil, err
		}
		return []*Tensor{x}, x.Uniform_(a["lo"].(float64), a["hi"].(float64))
	},
}

func binary(f func(a, b *Tensor) (*Tensor, error)) goOp {
	return func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) { return one(f(in["a"], in["b"])) }
}

func method(f func(*Tensor) (*Tensor, error)) goOp {
	return func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) { return one(f(in["x"])) }
}

var dtypeNames = map[string]DType{}

func init() {
	for _, d := range []DType{Uint8, Int32, Int64, Float32, Float64, Bool} {
		dtypeNames[d.String()] = d
	}
}

// fromFloats makes a tensor of dtype dt holding data.
func fromFloats(data []float64, dt DType, shape []int64) (*Tensor, error) {
	switch dt {
	case Float64:
		return FromSlice(data, shape...)
	case Float32:
		return FromSlice(convert[float32](data), shape...)
	case Int64:
		return FromSlice(convert[int64](data), shape...)
	case Int32:
		return FromSlice(convert[int32](data), shape...)
	case Uint8:
		return FromSlice(convert[uint8](data), shape...)
	case Bool:
		b := make([]bool, len(data))
		for i, v := range data {
			b[i] = v != 0
		}
		return FromSlice(b, shape...)
	}
	return nil, fmt.Errorf("fromFloats: dtype %v", dt)
}

func convert[T uint8 | int32 | int64 | float32](data []float64) []T {
	out := make([]T, len(data))
	for i, v := range data {
		out[i] = T(v)
	}
	return out
}

// readTensor copies any tensor's values out as float64.
func readTensor(t *Tensor) (refTensor, error) {
	r := refTensor{DType: t.DType().String(), Shape: t.Shape()}
	var err error
	switch t.DType() {
	case Float64:
		r.Data, err = ToSlice[float64](t)
	case Float32:
		r.Data, err = widen(ToSlice[float32](t))
	case Int64:
		r.Data, err = widen(ToSlice[int64](t))
	case Int32:
		r.Data, err = widen(ToSlice[int32](t))
	case Uint8:
		r.Data, err = widen(ToSlice[uint8](t))
	case Bool:
		var b []bool
		b, err = ToSlice[bool](t)
		r.Data = make([]float64, len(b))
		for i, v := range b {
			if v {
				r.Data[i] = 1
			}
		}
	default:
		err = fmt.Errorf("readTensor: dtype %v", t.DType())
	}
	return r, err
}

func widen[T uint8 | int32 | int64 | float32](v []T, err error) ([]float64, error) {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out, err
}

func isFloat(dtype string) bool { return dtype == "float32" || dtype == "float64" }

// goResult is the binding's answer for one case in one dtype.
type goResult struct {
	outputs []refTensor
	grads   map[string]refTensor
	after   map[string]refTensor
}

// runGo computes case c through the binding, with floating inputs in dt.
func runGo(c refCase, dt DType) (res goResult, err error) {
	s := NewScope()
	defer s.Close()
	in := map[string]*Tensor{}
	anyGrad := false
	for _, spec := range c.Inputs {
		idt := dtypeNames[spec.DType]
		if isFloat(spec.DType) {
			idt = dt
		}
		x, err := fromFloats(spec.Data, idt, spec.Shape)
		if err != nil {
			return res, fmt.Errorf("input %s: %w", spec.Name, err)
		}
		if spec.Grad {
			anyGrad = true
			if err := x.SetRequiresGrad(true); err != nil {
				return res, err
			}
		}
		in[spec.Name] = x
	}
	args := map[string]any{"_dtype": dt}
	for k, v := range c.Args {
		args[k] = v
	}
	if c.Seed != nil {
		if err := ManualSeed(*c.Seed); err != nil {
			return res, err
		}
	}
	outs, err := goOps[c.Op](in, args)
	if err != nil {
		return res, err
	}
	if anyGrad {
		var loss *Tensor
		for k, o := range outs {
			if !isFloat(o.DType().String()) {
				continue
			}
			r, err := fromFloats(pattern(o.Numel(), k), o.DType(), o.Shape())
			if err != nil {
				return res, err
			}
			term, err := Mul(o, r)
			if err != nil {
				return res, err
			}
			if term, err = term.Sum(); err != nil {
				return res, err
			}
			if loss == nil {
				loss = term
			} else if loss, err = Add(loss, term); err != nil {
				return res, err
			}
		}
		if err := loss.Backward(); err != nil {
			return res, fmt.Errorf("backward: %w", err)
		}
	}
	for _, o := range outs {
		v, err := readTensor(o)
		if err != nil {
			return res, err
		}
		res.outputs = append(res.outputs, v)
	}
	res.grads = map[string]refTensor{}
	for _, spec := range c.Inputs {
		if !spec.Grad {
			continue
		}
		g, err := in[spec.Name].Grad()
		if err != nil {
			return res, err
		}
		if g == nil {
			continue
		}
		if res.grads[spec.Name], err = readTensor(g); err != nil {
			return res, err
		}
	}
	res.after = map[string]refTensor{}
	for _, name := range c.After {
		if res.after[name], err = readTensor(in[name]); err != nil {
			return res, err
		}
	}
	return res, nil
}

// checkClose compares got with want: exactly for integers and bools, and
// within rtol*(|want| + max|want|) for floats. runDType is the dtype floating
// results must have.
func checkClose(t *testing.T, what string, got, want refTensor, runDType DType, rtol float64) {
	t.Helper()
	if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
		t.Errorf("%s: shape %v, PyTorch %v", what, got.Shape, want.Shape)
		return
	}
	wantDType := want.DType
	if isFloat(want.DType) {
		wantDType = runDType.String()
	}
	if got.DType != wantDType {
		t.Errorf("%s: dtype %s, want %s", what, got.DType, wantDType)
	}
	if len(got.Data) != len(want.Data) {
		t.Errorf("%s: %d values, PyTorch %d", what, len(got.Data), len(want.Data))
		return
	}
	scale := 0.0
	for _, w := range want.Data {
		scale = math.Max(scale, math.Abs(w))
	}
	if !isFloat(want.DType) {
		rtol = 0
	}
	bad := 0
	for i, w := range want.Data {
		g := got.Data[i]
		if math.Abs(g-w) <= rtol*(math.Abs(w)+scale) {
			continue
		}
		if bad++; bad <= 5 {
			t.Errorf("%s[%d] = %.9g, PyTorch %.9g (diff %.3g, tolerance %.3g)", what, i, g, w, g-w, rtol*(math.Abs(w)+scale))
		}
	}
	if bad > 5 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(want.Data))
	}
}

// runRefCases checks every registered case of group against PyTorch.
func runRefCases(t *testing.T, group string) {
	results := pyResults(t)
	n := 0
	for _, c := range refCases {
		if c.group != group {
			continue
		}
		n++
		want, ok := results[c.Name]
		if !ok {
			t.Errorf("%s: no PyTorch result", c.Name)
			continue
		}
		if want.Error != "" {
			t.Errorf("%s: PyTorch failed: %s", c.Name, want.Error)
			continue
		}
		runs := c.runs
		if runs == nil {
			runs = []DType{Float64, Float32}
		}
		for _, dt := range runs {
			t.Run(c.Name+"/"+dt.String(), func(t *testing.T) {
				rtol := 1e-10
				switch {
				case c.DType == dt.String():
					rtol = 0 // same dtype as PyTorch: the same kernels, bit for bit
				case dt == Float32:
					rtol = 1e-5
				}
				got, err := runGo(c, dt)
				if err != nil {
					t.Fatalf("binding: %v", err)
				}
				if len(got.outputs) != len(want.Outputs) {
					t.Fatalf("%d outputs, PyTorch %d", len(got.outputs), len(want.Outputs))
				}
				for k := range want.Outputs {
					checkClose(t, fmt.Sprintf("output %d", k), got.outputs[k], want.Outputs[k], dt, rtol)
				}
				for name, w := range want.Grads {
					g, ok := got.grads[name]
					if !ok {
						t.Errorf("grad of %s: none, PyTorch has one", name)
						continue
					}
					checkClose(t, "grad of "+name, g, w, dt, rtol)
				}
				for name := range got.grads {
					if _, ok := want.Grads[name]; !ok {
						t.Errorf("grad of %s: PyTorch has none", name)
					}
				}
				for name, w := range want.After {
					checkClose(t, name+" after the op", got.after[name], w, dt, rtol)
				}
			})
		}
	}
	if n == 0 {
		t.Fatalf("no reference cases in group %q", group)
	}
}

func init() { addOpCases() }

// addOpCases registers the op cases of TestOpsMatchPyTorch.
func addOpCases() {
	const g = "ops"
	i64 := func(v ...int64) []int64 { return v }

	// conv2d: name, x shape, w shape, bias, stride, padding, dilation, groups.
	type conv struct {
		name            string
		x, w            []int64
		bias            bool
		stride, padding []int64
		dilation        []int64
		groups          int64
	}
	for _, c := range []conv{
		{"basic", i64(2, 3, 8, 8), i64(4, 3, 3, 3), true, i64(1, 1), i64(0, 0), i64(1, 1), 1},
		{"no_bias", i64(2, 3, 8, 8), i64(4, 3, 3, 3), false, i64(1, 1), i64(0, 0), i64(1, 1), 1},
		{"stride2_pad1", i64(2, 3, 9, 9), i64(5, 3, 3, 3), true, i64(2, 2), i64(1, 1), i64(1, 1), 1},
		{"dilation2_stride2", i64(1, 2, 11, 11), i64(3, 2, 3, 3), true, i64(2, 2), i64(1, 3), i64(2, 2), 1},
		{"groups2", i64(2, 4, 6, 6), i64(6, 2, 3, 3), true, i64(1, 1), i64(1, 1), i64(1, 1), 2},
		{"depthwise", i64(2, 3, 7, 7), i64(3, 1, 3, 3), true, i64(1, 1), i64(1, 1), i64(1, 1), 3},
		{"depthwise_x2", i64(2, 3, 7, 7), i64(6, 1, 3, 3), false, i64(2, 2), i64(1, 1), i64(1, 1), 3},
		{"odd_5x7_kernel3x1", i64(2, 3, 5, 7), i64(4, 3, 3, 1), true, i64(1, 2), i64(1, 0), i64(1, 1), 1},
		{"asymmetric", i64(1, 2, 6, 9), i64(3, 2, 2, 4), true, i64(2, 1), i64(1, 2), i64(2, 1), 1},
		{"pointwise", i64(3, 8, 4, 4), i64(5, 8, 1, 1), true, i64(1, 1), i64(0, 0), i64(1, 1), 1},
		{"wide_32ch", i64(2, 32, 6, 6), i64(16, 32, 3, 3), true, i64(1, 1), i64(1, 1), i64(1, 1), 1},
	} {
		b := newCase(g, "conv2d/"+c.name, "conv2d").normal("x", true, c.x...).normal("w", true, c.w...)
		if c.bias {
			b.normal("b", true, c.w[0])
		}
		b.arg("stride", c.stride).arg("padding", c.padding).arg("dilation", c.dilation).arg("groups", c.groups).add()
	}
	// Zero Conv2dOptions must mean PyTorch's defaults.
	newCase(g, "conv2d/zero_options", "conv2d").normal("x", true, 2, 3, 6, 6).normal("w", true, 2, 3, 3, 3).
		normal("b", true, 2).arg("stride", i64(1, 1)).arg("padding", i64(0, 0)).arg("dilation", i64(1, 1)).
		arg("groups", int64(1)).arg("go_defaults", true).add()

	// batch_norm, training: output, grads and the running statistics.
	bn := func(name string, training bool, momentum, eps float64, affine, running bool, x ...int64) {
		b := newCase(g, "batch_norm/"+name, "batch_norm").uniform("x", -1, 3, true, x...)
		c := x[1]
		if affine {
			b.normal("w", true, c).normal("b", true, c)
		}
		if running {
			b.normal("running_mean", false, c).uniform("running_var", 0.5, 2, false, c)
			b.c.After = []string{"running_mean", "running_var"}
		}
		b.arg("training", training).arg("momentum", momentum).arg("eps", eps).add()
	}
	bn("train_4d", true, 0.1, 1e-5, true, true, 4, 3, 5, 5)
	bn("train_2d_momentum0.3", true, 0.3, 1e-3, true, true, 8, 5)
	bn("train_no_affine_no_stats", true, 0.1, 1e-5, false, false, 3, 4, 2, 3)
	bn("eval_4d", false, 0.1, 1e-5, true, true, 4, 3, 5, 5)
	bn("eval_no_affine", false, 0.1, 1e-5, false, true, 2, 6, 3, 3)

	newCase(g, "relu", "relu").normal("x", true, 3, 4, 5).add()
	newCase(g, "gelu", "gelu").normal("x", true, 3, 4, 5).add()

	// dropout: identities, and the mask PyTorch draws after the same seed.
	newCase(g, "dropout/train_p0", "dropout").normal("x", true, 4, 25).arg("p", 0.0).arg("train", true).add()
	newCase(g, "dropout/eval_p0.5", "dropout").normal("x", true, 4, 25).arg("p", 0.5).arg("train", false).add()
	for _, n := range []int64{10, 1000} {
		b := newCase(g, fmt.Sprintf("dropout/seeded_p0.3_n%d", n), "dropout").normal("x", true, n).
			arg("p", 0.3).arg("train", true)
		seed := uint64(1234 + n)
		b.c.Seed, b.c.DType, b.c.runs = &seed, "float32", []DType{Float32}
		b.add()
	}

	for _, p := range []struct {
		name string
		x    []int64
		oh   int64
		ow   int64
	}{
		{"to_1x1", i64(2, 3, 8, 8), 1, 1},
		{"7x5_to_3x2", i64(2, 3, 7, 5), 3, 2},
		{"10x10_to_4x3", i64(1, 2, 10, 10), 4, 3},
		{"3x3_to_5x5", i64(1, 2, 3, 3), 5, 5},
	} {
		newCase(g, "adaptive_avg_pool2d/"+p.name, "adaptive_avg_pool2d").normal("x", true, p.x...).
			arg("oh", p.oh).arg("ow", p.ow).add()
	}

	newCase(g, "flatten/1_to_end", "flatten").normal("x", true, 2, 3, 4, 5).arg("start", int64(1)).arg("end", int64(-1)).add()
	newCase(g, "flatten/0_to_1", "flatten").normal("x", true, 2, 3, 4).arg("start", int64(0)).arg("end", int64(1)).add()
	newCase(g, "reshape/infer", "reshape").normal("x", true, 2, 3, 4).arg("shape", i64(4, -1)).add()
	newCase(g, "transpose/0_2", "transpose").normal("x", true, 2, 3, 4).arg("d0", int64(0)).arg("d1", int64(2)).add()

	newCase(g, "linear/bias", "linear").normal("x", true, 5, 7).normal("w", true, 3, 7).normal("b", true, 3).add()
	newCase(g, "linear/no_bias", "linear").normal("x", true, 5, 7).normal("w", true, 3, 7).add()
	newCase(g, "linear/3d_input", "linear").normal("x", true, 2, 4, 7).normal("w", true, 3, 7).normal("b", true, 3).add()

	for _, m := range []struct {
		name string
		a, b []int64
	}{
		{"2d", i64(3, 4), i64(4, 5)},
		{"batched", i64(2, 3, 4), i64(4, 5)},
		{"vector_matrix", i64(4), i64(4, 5)},
		{"matrix_vector", i64(3, 4), i64(4)},
		{"broadcast_batch", i64(2, 1, 3, 4), i64(3, 4, 2)},
	} {
		newCase(g, "matmul/"+m.name, "matmul").normal("a", true, m.a...).normal("b", true, m.b...).add()
	}

	for _, op := range []string{"add", "sub", "mul", "div"} {
		for _, s := range []struct {
			name string
			a, b []int64
		}{
			{"same", i64(3, 4), i64(3, 4)},
			{"broadcast", i64(3, 1, 5), i64(4, 1)},
			{"row", i64(2, 3, 4), i64(4)},
			{"0dim", i64(3, 4), i64()},
		} {
			// Denominators stay away from zero.
			newCase(g, op+"/"+s.name, op).normal("a", true, s.a...).nonzero("b", true, s.b...).add()
		}
	}
	newCase(g, "add_scaled/broadcast", "add_scaled").normal("a", true, 3, 1, 5).normal("b", true, 4, 1).arg("alpha", -0.75).add()
	newCase(g, "add_scalar", "add_scalar").normal("x", true, 3, 4).arg("s", 2.5).add()
	newCase(g, "mul_scalar", "mul_scalar").normal("x", true, 3, 4).arg("s", -1.75).add()
	newCase(g, "pow/2", "pow").normal("x", true, 3, 4).arg("s", 2.0).add()
	newCase(g, "pow/3", "pow").normal("x", true, 3, 4).arg("s", 3.0).add()
	newCase(g, "pow/0.5", "pow").uniform("x", 0.1, 3, true, 3, 4).arg("s", 0.5).add()
	newCase(g, "pow/-1.5", "pow").uniform("x", 0.5, 2, true, 3, 4).arg("s", -1.5).add()
	newCase(g, "neg", "neg").normal("x", true, 3, 4).add()
	newCase(g, "exp", "exp").normal("x", true, 3, 4).add()
	newCase(g, "log", "log").uniform("x", 0.05, 5, true, 3, 4).add()
	newCase(g, "sqrt", "sqrt").uniform("x", 0.05, 5, true, 3, 4).add()
	newCase(g, "abs", "abs").nonzero("x", true, 3, 4).add()

	for _, op := range []string{"log_softmax", "softmax"} {
		for _, d := range []int64{0, 1, -1} {
			newCase(g, fmt.Sprintf("%s/dim%d", op, d), op).uniform("x", -3, 3, true, 3, 4, 5).arg("dim", d).add()
		}
	}

	for _, red := range []string{"none", "mean", "sum"} {
		for _, ls := range []float64{0, 0.1} {
			newCase(g, fmt.Sprintf("cross_entropy/%s_ls%g", red, ls), "cross_entropy").
				uniform("x", -3, 3, true, 6, 5).ints("target", Int64, 0, 5, 6).
				arg("reduction", red).arg("label_smoothing", ls).add()
		}
	}

	newCase(g, "argmax/dim1", "argmax").normal("x", false, 4, 6).arg("dim", int64(1)).arg("keepdim", false).add()
	newCase(g, "argmax/dim0_keepdim", "argmax").normal("x", false, 4, 6).arg("dim", int64(0)).arg("keepdim", true).add()
	newCase(g, "topk/k3_dim1", "topk").normal("x", true, 4, 6).arg("k", int64(3)).arg("dim", int64(1)).add()
	newCase(g, "topk/k2_dim0", "topk").normal("x", true, 4, 6).arg("k", int64(2)).arg("dim", int64(0)).add()

	// Comparisons on small integers, so that ties (eq, le, ge) occur.
	for _, op := range []string{"eq", "ne", "lt", "le", "gt", "ge"} {
		small := func(r *rand.Rand) float64 { return float64(r.IntN(4) - 1) }
		newCase(g, op, op).input("a", false, small, 3, 4).input("b", false, small, 4).add()
	}

	newCase(g, "sum", "sum").normal("x", true, 3, 4, 5).add()
	newCase(g, "mean", "mean").normal("x", true, 3, 4, 5).add()
	newCase(g, "sum_dim/1_keepdim", "sum_dim").normal("x", true, 3, 4, 5).arg("dim", int64(1)).arg("keepdim", true).add()
	newCase(g, "mean_dim/-1", "mean_dim").normal("x", true, 3, 4, 5).arg("dim", int64(-1)).arg("keepdim", false).add()
	// Sums of bool and integer tensors are int64, as in PyTorch.
	b := newCase(g, "sum/bool", "sum").ints("x", Bool, 0, 2, 5, 7)
	b.c.runs = []DType{Float64}
	b.add()
	b = newCase(g, "sum_dim/uint8", "sum_dim").ints("x", Uint8, 0, 255, 4, 9).arg("dim", int64(0)).arg("keepdim", false)
	b.c.runs = []DType{Float64}
	b.add()
}

// TestOpsMatchPyTorch checks every op's values and gradients against PyTorch.
func TestOpsMatchPyTorch(t *testing.T) {
	runRefCases(t, "ops")
}

// TestDropoutStatistics checks dropout's defining properties on a large
// tensor: about p of the elements are zeroed, the rest are scaled by
// 1/(1-p), and the gradient follows the same mask.
func TestDropoutStatistics(t *testing.T) {
	s := NewScope()
	defer s.Close()
	const n, p = 100000, 0.3
	x := Must(Full([]int64{n}, 2, Float32, CPU))
	Must(0, x.SetRequiresGrad(true))
	y := Must(Dropout(x, p, true))
	Must(0, Must(y.Sum()).Backward())
	ys := Must(ToSlice[float32](y))
	gs := Must(ToSlice[float32](Must(x.Grad())))
	zeros := 0
	for i, v := range ys {
		switch {
		case v == 0:
			zeros++
			if gs[i] != 0 {
				t.Fatalf("element %d dropped but its gradient is %v", i, gs[i])
			}
		case math.Abs(float64(v)-2/(1-p)) > 1e-6:
			t.Fatalf("survivor %d = %v, want 2/(1-p) = %v", i, v, 2/(1-p))
		case math.Abs(float64(gs[i])-1/(1-p)) > 1e-6:
			t.Fatalf("gradient of survivor %d = %v, want 1/(1-p)", i, gs[i])
		}
	}
	// The zeroed fraction is binomial: sd = sqrt(p(1-p)/n) ~ 0.0014; allow 5 sd.
	if frac := float64(zeros) / n; math.Abs(frac-p) > 0.0075 {
		t.Errorf("dropped fraction %.4f, want %.2f +- 0.0075", frac, p)
	}

	// Same seed, same mask; another seed, another mask.
	draw := func(seed uint64) []float32 {
		Must(0, ManualSeed(seed))
		return Must(ToSlice[float32](Must(Dropout(Must(Ones([]int64{1000}, Float32, CPU)), 0.5, true))))
	}
	a, b, c := draw(5), draw(5), draw(6)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("dropout masks differ after the same ManualSeed")
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Error("dropout masks equal after different seeds")
	}
}

// TestOpErrors checks that bad arguments come back as errors naming the
// problem, not crashes.
func TestOpErrors(t *testing.T) {
	s := NewScope()
	defer s.Close()
	f32 := func(shape ...int64) *Tensor { return Must(Ones(shape, Float32, CPU)) }
	freed := f32(3)
	freed.Free()
	for _, c := range []struct {
		name string
		f    func() (*Tensor, error)
		want []string
	}{
		{"conv2d channels", func() (*Tensor, error) { return Conv2d(f32(1, 3, 8, 8), f32(4, 2, 3, 3), nil, Conv2dOptions{}) },
			[]string{"conv2d", "expected input[1, 3, 8, 8] to have 2 channels, but got 3 channels"}},
		{"conv2d groups", func() (*Tensor, error) {
			return Conv2d(f32(1, 4, 8, 8), f32(4, 2, 3, 3), nil, Conv2dOptions{Groups: 3})
		}, []string{"conv2d", "groups"}},
		{"conv2d bias size", func() (*Tensor, error) { return Conv2d(f32(1, 3, 8, 8), f32(4, 3, 3, 3), f32(5), Conv2dOptions{}) },
			[]string{"conv2d", "bias"}},
		{"conv2d kernel larger than input", func() (*Tensor, error) {
			return Conv2d(f32(1, 3, 2, 2), f32(4, 3, 3, 3), nil, Conv2dOptions{})
		}, []string{"conv2d", "Kernel size can't be greater than actual input size"}},
		{"matmul", func() (*Tensor, error) { return Matmul(f32(2, 3), f32(4, 5)) },
			[]string{"matmul", "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"}},
		{"linear", func() (*Tensor, error) { return Linear(f32(2, 3), f32(4, 5), nil) },
			[]string{"linear", "cannot be multiplied"}},
		{"add", func() (*Tensor, error) { return Add(f32(3), f32(4)) },
			[]string{"add", "size of tensor a (3) must match the size of tensor b (4)"}},
		{"mul", func() (*Tensor, error) { return Mul(f32(2, 3), f32(2, 4)) }, []string{"mul", "must match"}},
		{"cross_entropy float targets", func() (*Tensor, error) { return CrossEntropy(f32(4, 3), f32(4), ReduceMean, 0) },
			[]string{"cross_entropy", "expected scalar type Long but found Float"}},
		{"cross_entropy target out of range", func() (*Tensor, error) {
			return CrossEntropy(f32(2, 3), Must(FromSlice([]int64{0, 3})), ReduceMean, 0)
		}, []string{"cross_entropy", "out of bounds"}},
		{"batch_norm stats size", func() (*Tensor, error) {
			return BatchNorm(f32(2, 3, 4, 4), nil, nil, f32(4), f32(4), false, 0.1, 1e-5)
		}, []string{"batch_norm", "running_mean should contain 3 elements not 4"}},
		{"reshape", func() (*Tensor, error) { return f32(2, 3).Reshape(4, 2) },
			[]string{"reshape", "shape '[4, 2]' is invalid for input of size 6"}},
		{"log_softmax dim", func() (*Tensor, error) { return LogSoftmax(f32(2, 3), 2) },
			[]string{"log_softmax", "Dimension out of range"}},
		{"topk k", func() (*Tensor, error) { v, _, err := f32(2, 3).TopK(4, 1); return v, err },
			[]string{"topk", "selected index k out of range"}},
		{"adaptive_avg_pool2d 2-D input", func() (*Tensor, error) { return AdaptiveAvgPool2d(f32(4, 4), 2, 2) },
			[]string{"adaptive_avg_pool2d"}},
		{"dropout p", func() (*Tensor, error) { return Dropout(f32(3), 1.5, true) },
			[]string{"dropout", "dropout probability has to be between 0 and 1, but got 1.5"}},
		{"freed operand", func() (*Tensor, error) { return Add(freed, f32(3)) }, []string{"use of a freed tensor", "add"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := c.f()
			if err == nil {
				t.Fatalf("no error; result %v", out)
			}
			if out != nil {
				t.Errorf("result %v alongside error %v", out, err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestFreedOptionalOperand checks that a freed tensor passed where an
// optional tensor (bias, batch-norm weight or statistics) is expected is
// reported as ErrFreed instead of being taken for "no tensor".
func TestFreedOptionalOperand(t *testing.T) {
	s := NewScope()
	defer s.Close()
	f32 := func(shape ...int64) *Tensor { return Must(Ones(shape, Float32, CPU)) }
	freed := f32(4)
	freed.Free()
	for name, f := range map[string]func() (*Tensor, error){
		"conv2d bias": func() (*Tensor, error) { return Conv2d(f32(1, 3, 5, 5), f32(4, 3, 3, 3), freed, Conv2dOptions{}) },
		"linear bias": func() (*Tensor, error) { return Linear(f32(2, 3), f32(4, 3), freed) },
		"batch_norm weight": func() (*Tensor, error) {
			return BatchNorm(f32(2, 4, 3, 3), freed, nil, nil, nil, true, 0.1, 1e-5)
		},
		"batch_norm running_mean": func() (*Tensor, error) {
			return BatchNorm(f32(2, 4, 3, 3), nil, nil, freed, f32(4), true, 0.1, 1e-5)
		},
	} {
		if _, err := f(); !errors.Is(err, ErrFreed) {
			t.Errorf("%s: freed tensor gave error %v, want ErrFreed", name, err)
		}
	}
}

// TestConvChannelsLast checks that a convolution (and its gradients) on
// channels-last tensors gives the values of the contiguous layout.
func TestConvChannelsLast(t *testing.T) {
	s := NewScope()
	defer s.Close()
	Must(0, ManualSeed(1))
	x0 := Must(Randn([]int64{4, 8, 9, 9}, Float32, CPU))
	w0 := Must(Randn([]int64{16, 8, 3, 3}, Float32, CPU))
	run := func(channelsLast bool) (out, gw []float32) {
		x, w := Must(x0.Clone()), Must(w0.Clone())
		if channelsLast {
			x, w = Must(x.ChannelsLast()), Must(w.ChannelsLast())
		}
		Must(0, w.SetRequiresGrad(true))
		y := Must(Conv2d(x, w, nil, Conv2dOptions{Padding: [2]int64{1, 1}, Stride: [2]int64{2, 2}}))
		Must(0, Must(Must(y.Pow(2)).Sum()).Backward())
		return Must(ToSlice[float32](y)), Must(ToSlice[float32](Must(w.Grad())))
	}
	y1, g1 := run(false)
	y2, g2 := run(true)
	for name, p := range map[string][2][]float32{"output": {y1, y2}, "weight grad": {g1, g2}} {
		scale := 0.0
		for _, v := range p[0] {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
		for i := range p[0] {
			if d := math.Abs(float64(p[0][i] - p[1][i])); d > 1e-5*scale {
				t.Fatalf("%s[%d]: contiguous %v, channels-last %v", name, i, p[0][i], p[1][i])
			}
		}
	}
}
