package torch

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// The indexing, selection and rounding ops, checked against PyTorch with
// the reference cases of ops_test.go (group "ops", run by
// TestOpsMatchPyTorch).

func init() {
	goOps["index_select"] = func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(in["x"].IndexSelect(a["dim"].(int64), in["index"]))
	}
	goOps["select"] = func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(in["x"].Select(a["dim"].(int64), a["index"].(int64)))
	}
	goOps["where"] = func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(Where(in["cond"], in["a"], in["b"]))
	}
	goOps["stack"] = func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(Stack([]*Tensor{in["a"], in["b"], in["c"]}, a["dim"].(int64)))
	}
	goOps["maximum"] = binary(Maximum)
	goOps["minimum"] = binary(Minimum)
	goOps["clamp"] = func(in map[string]*Tensor, a map[string]any) ([]*Tensor, error) {
		return one(in["x"].Clamp(a["lo"].(float64), a["hi"].(float64)))
	}
	goOps["floor"] = method((*Tensor).Floor)
	goOps["round"] = method((*Tensor).Round)
	goOps["trunc"] = method((*Tensor).Trunc)
	addIndexingCases()
}

func addIndexingCases() {
	const g = "ops"
	// index_select: repeated and out-of-order indices, gradients accumulate.
	newCase(g, "index_select/dim0", "index_select").normal("x", true, 5, 3, 2).ints("index", Int64, 0, 5, 7).
		arg("dim", int64(0)).add()
	newCase(g, "index_select/dim-1", "index_select").normal("x", true, 4, 6).ints("index", Int64, 0, 6, 9).
		arg("dim", int64(-1)).add()
	b := newCase(g, "index_select/uint8", "index_select").ints("x", Uint8, 0, 256, 6, 4).ints("index", Int64, 0, 6, 5).
		arg("dim", int64(0))
	b.c.runs = []DType{Float64}
	b.add()

	newCase(g, "select/dim1", "select").normal("x", true, 3, 4, 5).arg("dim", int64(1)).arg("index", int64(2)).add()
	newCase(g, "select/negative", "select").normal("x", true, 3, 4, 5).arg("dim", int64(-1)).arg("index", int64(-1)).add()

	newCase(g, "where/broadcast", "where").ints("cond", Bool, 0, 2, 3, 1, 5).normal("a", true, 3, 4, 5).
		normal("b", true, 4, 1).add()
	b = newCase(g, "where/int64", "where").ints("cond", Bool, 0, 2, 6).ints("a", Int64, -9, 9, 6).ints("b", Int64, -9, 9, 1)
	b.c.runs = []DType{Float64}
	b.add()

	for _, d := range []int64{0, 1, 2, -1} {
		newCase(g, fmt.Sprintf("stack/dim%d", d), "stack").normal("a", true, 2, 3).normal("b", true, 2, 3).
			normal("c", true, 2, 3).arg("dim", d).add()
	}

	// maximum and minimum on values drawn apart, so that no tie splits the gradient.
	for _, op := range []string{"maximum", "minimum"} {
		newCase(g, op+"/broadcast", op).normal("a", true, 3, 4).nonzero("b", true, 4).add()
	}

	newCase(g, "clamp/both", "clamp").uniform("x", -4, 4, true, 5, 6).arg("lo", -1.5).arg("hi", 2.25).add()

	// Rounding, with exact halves and integers among the values.
	halves := func(r *rand.Rand) float64 { return float64(r.IntN(41)-20) / 4 }
	for _, op := range []string{"floor", "round", "trunc"} {
		newCase(g, op+"/quarters", op).input("x", true, halves, 6, 7).add()
		newCase(g, op+"/uniform", op).uniform("x", -300, 300, true, 40).add()
	}
}

// TestIndexingErrors checks that bad arguments to the new ops come back as
// errors naming the problem.
func TestIndexingErrors(t *testing.T) {
	s := NewScope()
	defer s.Close()
	f32 := func(shape ...int64) *Tensor { return Must(Ones(shape, Float32, CPU)) }
	for _, c := range []struct {
		name string
		f    func() (*Tensor, error)
		want string
	}{
		{"index out of range", func() (*Tensor, error) { return f32(3, 2).IndexSelect(0, Must(FromSlice([]int64{0, 3}))) }, "index_select"},
		{"float index", func() (*Tensor, error) { return f32(3, 2).IndexSelect(0, f32(2)) }, "index_select"},
		{"select out of range", func() (*Tensor, error) { return f32(3, 2).Select(1, 2) }, "select"},
		{"where float condition", func() (*Tensor, error) { return Where(f32(3), f32(3), f32(3)) }, "where"},
		{"stack of none", func() (*Tensor, error) { return Stack(nil, 0) }, "stack"},
		{"stack shapes", func() (*Tensor, error) { return Stack([]*Tensor{f32(2), f32(3)}, 0) }, "stack"},
		{"maximum shapes", func() (*Tensor, error) { return Maximum(f32(2), f32(3)) }, "maximum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := c.f()
			if err == nil {
				t.Fatalf("no error; result %v", out)
			}
			if out != nil {
				t.Errorf("result %v alongside error %v", out, err)
			}
			if got := err.Error(); !strings.Contains(got, c.want) {
				t.Errorf("error %q does not name %q", got, c.want)
			}
		})
	}
}
