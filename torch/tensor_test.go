package torch

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// roundTrip checks that FromSlice then ToSlice gives back data, with the
// shape, dtype and element count the tensor reports.
func roundTrip[T Element](t *testing.T, data []T, shape []int64, dt DType) {
	t.Helper()
	x, err := FromSlice(data, shape...)
	if err != nil {
		t.Fatalf("FromSlice(%v, %v): %v", data, shape, err)
	}
	defer x.Free()
	if x.DType() != dt {
		t.Errorf("dtype %v, want %v", x.DType(), dt)
	}
	if !slices.Equal(x.Shape(), shape) || x.Dim() != len(shape) {
		t.Errorf("shape %v (dim %d), want %v", x.Shape(), x.Dim(), shape)
	}
	if x.Numel() != int64(len(data)) {
		t.Errorf("numel %d, want %d", x.Numel(), len(data))
	}
	if x.Device() != CPU || !x.IsContiguous() {
		t.Errorf("device %v contiguous %v, want a contiguous CPU tensor", x.Device(), x.IsContiguous())
	}
	got, err := ToSlice[T](x)
	if err != nil {
		t.Fatalf("ToSlice: %v", err)
	}
	if !slices.Equal(got, data) {
		t.Errorf("round trip gave %v, want %v", got, data)
	}
}

func TestFromSliceRoundTrip(t *testing.T) {
	for _, shape := range [][]int64{{}, {0}, {0, 3}, {6}, {2, 3}, {1, 2, 3}} {
		n := int(numel(shape))
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			f32 := make([]float32, n)
			f64 := make([]float64, n)
			i64 := make([]int64, n)
			i32 := make([]int32, n)
			u8 := make([]uint8, n)
			bs := make([]bool, n)
			for i := range n {
				f32[i] = float32(i)*1.5 - 2.25
				f64[i] = float64(i)*math.Pi - 1e300
				i64[i] = int64(i)*(1<<40) - 3
				i32[i] = int32(i)*100000 - 7
				u8[i] = uint8(250 + i)
				bs[i] = i%2 == 1
			}
			roundTrip(t, f32, shape, Float32)
			roundTrip(t, f64, shape, Float64)
			roundTrip(t, i64, shape, Int64)
			roundTrip(t, i32, shape, Int32)
			roundTrip(t, u8, shape, Uint8)
			roundTrip(t, bs, shape, Bool)
		})
	}
	// Special float values survive the copy.
	roundTrip(t, []float32{float32(math.Inf(1)), float32(math.Inf(-1)), -0, math.SmallestNonzeroFloat32, math.MaxFloat32}, []int64{5}, Float32)
	// No shape means 1-D.
	x := Must(FromSlice([]int64{4, 5, 6}))
	defer x.Free()
	if !slices.Equal(x.Shape(), []int64{3}) {
		t.Errorf("FromSlice without shape: shape %v, want [3]", x.Shape())
	}
}

func TestScalar(t *testing.T) {
	x := Must(Scalar(2.5))
	defer x.Free()
	if x.Dim() != 0 || x.Numel() != 1 || x.DType() != Float32 {
		t.Fatalf("Scalar(2.5) = %v, want a 0-dim float32 tensor", x)
	}
	if v := Must(x.Item()); v != 2.5 {
		t.Errorf("Item() = %v, want 2.5", v)
	}
}

func TestCreation(t *testing.T) {
	s := NewScope()
	defer s.Close()
	if got := Must(ToSlice[float32](Must(Zeros([]int64{2, 2}, Float32, CPU)))); !slices.Equal(got, []float32{0, 0, 0, 0}) {
		t.Errorf("Zeros = %v", got)
	}
	if got := Must(ToSlice[int64](Must(Ones([]int64{3}, Int64, CPU)))); !slices.Equal(got, []int64{1, 1, 1}) {
		t.Errorf("Ones(int64) = %v", got)
	}
	full := Must(Full([]int64{2, 1, 2}, -3.5, Float64, CPU))
	if got := Must(ToSlice[float64](full)); !slices.Equal(got, []float64{-3.5, -3.5, -3.5, -3.5}) || !slices.Equal(full.Shape(), []int64{2, 1, 2}) {
		t.Errorf("Full = %v %v", full.Shape(), got)
	}
	if got := Must(ToSlice[bool](Must(Full([]int64{2}, 1, Bool, CPU)))); !slices.Equal(got, []bool{true, true}) {
		t.Errorf("Full(bool) = %v", got)
	}
	if got := Must(ToSlice[float32](Must(Full([]int64{}, 7, Float32, CPU)))); !slices.Equal(got, []float32{7}) {
		t.Errorf("Full(0-dim) = %v", got)
	}
	if got := Must(ToSlice[int64](Must(Arange(0, 5, 1, Int64, CPU)))); !slices.Equal(got, []int64{0, 1, 2, 3, 4}) {
		t.Errorf("Arange(0,5,1) = %v", got)
	}
	if got := Must(ToSlice[float32](Must(Arange(1, 0, -0.25, Float32, CPU)))); !slices.Equal(got, []float32{1, 0.75, 0.5, 0.25}) {
		t.Errorf("Arange(1,0,-0.25) = %v", got)
	}
	if _, err := Arange(0, 5, 0, Float32, CPU); err == nil || !strings.Contains(err.Error(), "step") {
		t.Errorf("Arange with step 0: error %v, want one about the step", err)
	}

	// Rand is in [0, 1) with a mean near 1/2; Randn has mean ~0 and sd ~1.
	u := Must(ToSlice[float32](Must(Rand([]int64{10000}, Float32, CPU))))
	var sum float64
	for _, v := range u {
		if v < 0 || v >= 1 {
			t.Fatalf("Rand gave %v, outside [0, 1)", v)
		}
		sum += float64(v)
	}
	if m := sum / float64(len(u)); math.Abs(m-0.5) > 0.015 { // sd of the mean 0.0029
		t.Errorf("mean of Rand = %v, want 0.5", m)
	}
	n := Must(ToSlice[float64](Must(Randn([]int64{100, 100}, Float64, CPU))))
	var s1, s2 float64
	for _, v := range n {
		s1 += v
		s2 += v * v
	}
	mean, sd := s1/1e4, math.Sqrt(s2/1e4-(s1/1e4)*(s1/1e4))
	if math.Abs(mean) > 0.05 || math.Abs(sd-1) > 0.05 {
		t.Errorf("Randn mean %v sd %v, want 0 and 1", mean, sd)
	}
	if _, err := Randn([]int64{3}, Int64, CPU); err == nil {
		t.Error("Randn(int64) gave no error")
	}
}

func TestManualSeedReproducible(t *testing.T) {
	s := NewScope()
	defer s.Close()
	draw := func(seed uint64) []float32 {
		t.Helper()
		if err := ManualSeed(seed); err != nil {
			t.Fatal(err)
		}
		return Must(ToSlice[float32](Must(Randn([]int64{64}, Float32, CPU))))
	}
	a, b, c := draw(11), draw(11), draw(12)
	if !slices.Equal(a, b) {
		t.Error("Randn differs after the same ManualSeed")
	}
	if slices.Equal(a, c) {
		t.Error("Randn equal after different seeds")
	}

	// Saving and restoring the generator state replays the same draws.
	state := Must(RNGState())
	first := Must(ToSlice[float32](Must(Rand([]int64{8}, Float32, CPU))))
	if err := SetRNGState(state); err != nil {
		t.Fatal(err)
	}
	again := Must(ToSlice[float32](Must(Rand([]int64{8}, Float32, CPU))))
	if !slices.Equal(first, again) {
		t.Errorf("after SetRNGState: %v, want %v", again, first)
	}
}

func init() { addRandomCases() }

// addRandomCases registers TestRandomMatchesPyTorch's cases: the draws of
// torch.manual_seed(s) then torch.randn / torch.rand, which the binding must
// reproduce bit for bit (the same libtorch generator and kernels).
func addRandomCases() {
	for _, c := range []struct {
		op    string
		dt    DType
		seed  uint64
		shape []int64
	}{
		{"randn", Float32, 7, []int64{1000}}, // vectorized path (>= 16 values)
		{"randn", Float32, 7, []int64{10}},   // scalar path
		{"randn", Float64, 42, []int64{3, 5, 4}},
		{"rand", Float32, 3, []int64{100}},
		{"rand", Float64, 3, []int64{7}},
		{"uniform_", Float32, 9, []int64{50}},
		{"uniform_", Float64, 9, []int64{4, 5}},
	} {
		b := newCase("random", fmt.Sprintf("%s/%v_seed%d_%v", c.op, c.dt, c.seed, c.shape), c.op).arg("shape", c.shape).
			arg("lo", -0.5).arg("hi", 1.5)
		seed := c.seed
		b.c.Seed, b.c.DType, b.c.runs = &seed, c.dt.String(), []DType{c.dt}
		b.add()
	}
}

// TestRandomMatchesPyTorch checks that ManualSeed + Randn/Rand/Uniform_ give
// the values of torch.manual_seed + torch.randn/rand/Tensor.uniform_ on CPU.
func TestRandomMatchesPyTorch(t *testing.T) {
	runRefCases(t, "random")
}

func TestToAndConversions(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := Must(FromSlice([]float32{1.7, -1.7, 2.5, 0, -0.2, 3}, 2, 3))

	y := Must(x.To(CPU, false))
	x2 := Must(x.Clone())
	x.Free() // y is its own handle: it stays usable
	if got := Must(ToSlice[float32](y)); !slices.Equal(got, []float32{1.7, -1.7, 2.5, 0, -0.2, 3}) {
		t.Errorf("To(CPU) = %v", got)
	}
	x = x2

	// Conversions follow PyTorch: truncation toward zero, nonzero is true.
	if got := Must(ToSlice[int64](Must(x.ToDType(Int64)))); !slices.Equal(got, []int64{1, -1, 2, 0, 0, 3}) {
		t.Errorf("ToDType(int64) = %v", got)
	}
	if got := Must(ToSlice[bool](Must(x.ToDType(Bool)))); !slices.Equal(got, []bool{true, true, true, false, true, true}) {
		t.Errorf("ToDType(bool) = %v", got)
	}
	if got := Must(ToSlice[float64](Must(x.ToDType(Float64)))); got[0] != float64(float32(1.7)) {
		t.Errorf("ToDType(float64)[0] = %v, want %v", got[0], float64(float32(1.7)))
	}
	u := Must(FromSlice([]uint8{0, 128, 255}))
	if got := Must(ToSlice[float32](Must(u.ToDType(Float32)))); !slices.Equal(got, []float32{0, 128, 255}) {
		t.Errorf("uint8 ToDType(float32) = %v", got)
	}
	if d := Must(x.ToDType(Int32)); d.DType() != Int32 || !slices.Equal(d.Shape(), []int64{2, 3}) {
		t.Errorf("ToDType(int32) = %v", d)
	}
}

// TestToSameKeepsData checks that To onto the tensor's own device and
// ToDType to its own dtype give a handle to the same data, as Tensor.to does
// in PyTorch (they copied: Go's CPU {CPU, 0} reached libtorch as cpu:0, which
// differs from a CPU tensor's device), and that a real conversion copies.
func TestToSameKeepsData(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := Must(FromSlice([]float32{1, 2, 3}))
	for name, y := range map[string]*Tensor{
		"To(CPU)":          Must(x.To(CPU, false)),
		"To(CPU) blocking": Must(x.To(CPU, true)),
		"ToDType(Float32)": Must(x.ToDType(Float32)),
	} {
		before := Must(ToSlice[float32](x))
		if err := y.AddScalar_(1); err != nil {
			t.Fatal(err)
		}
		after := Must(ToSlice[float32](x))
		if after[0] != before[0]+1 {
			t.Errorf("%s: adding 1 to the result changed x from %v to %v; want them to share data", name, before, after)
		}
	}
	before := Must(ToSlice[float32](x))
	d := Must(x.ToDType(Float64))
	if err := d.AddScalar_(1); err != nil {
		t.Fatal(err)
	}
	if got := Must(ToSlice[float32](x)); !slices.Equal(got, before) {
		t.Errorf("ToDType(Float64) shares data with x: x went from %v to %v", before, got)
	}
}

func TestCloneDetach(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := Must(FromSlice([]float32{1, 2, 3}))
	Must(0, x.SetRequiresGrad(true))
	c := Must(x.Clone())
	d := Must(x.Detach())
	if !c.RequiresGrad() {
		t.Error("clone of a tensor requiring grad does not require grad")
	}
	if d.RequiresGrad() {
		t.Error("detached tensor requires grad")
	}
	// The detached tensor shares storage: writing through it shows in x,
	// but not in the clone.
	Must(0, d.Add_(Must(Ones([]int64{3}, Float32, CPU)), 10))
	if got := Must(ToSlice[float32](x)); !slices.Equal(got, []float32{11, 12, 13}) {
		t.Errorf("x after writing through its detached view = %v, want [11 12 13]", got)
	}
	if got := Must(ToSlice[float32](c)); !slices.Equal(got, []float32{1, 2, 3}) {
		t.Errorf("clone after writing to the original = %v, want [1 2 3]", got)
	}
}

func TestShapeOps(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := Must(FromSlice([]int64{0, 1, 2, 3, 4, 5}, 2, 3))

	r := Must(x.Reshape(3, -1))
	if !slices.Equal(r.Shape(), []int64{3, 2}) || !slices.Equal(Must(ToSlice[int64](r)), []int64{0, 1, 2, 3, 4, 5}) {
		t.Errorf("Reshape(3,-1) = %v", r)
	}
	tr := Must(x.Transpose(0, 1))
	if !slices.Equal(tr.Shape(), []int64{3, 2}) || tr.IsContiguous() {
		t.Errorf("Transpose = %v contiguous=%v, want a non-contiguous [3 2] view", tr, tr.IsContiguous())
	}
	want := []int64{0, 3, 1, 4, 2, 5}
	if got := Must(ToSlice[int64](tr)); !slices.Equal(got, want) {
		t.Errorf("ToSlice(transposed) = %v, want %v", got, want)
	}
	c := Must(tr.Contiguous())
	if !c.IsContiguous() || !slices.Equal(Must(ToSlice[int64](c)), want) {
		t.Errorf("Contiguous() = %v contiguous=%v", Must(ToSlice[int64](c)), c.IsContiguous())
	}
	f := Must(Must(Zeros([]int64{2, 3, 4, 5}, Float32, CPU)).Flatten(1, -1))
	if !slices.Equal(f.Shape(), []int64{2, 60}) {
		t.Errorf("Flatten(1,-1) shape %v, want [2 60]", f.Shape())
	}

	// Channels-last keeps the NCHW shape and the values; only strides change.
	img := Must(Arange(0, 2*3*2*2, 1, Float32, CPU))
	img = Must(img.Reshape(2, 3, 2, 2))
	cl := Must(img.ChannelsLast())
	if !slices.Equal(cl.Shape(), []int64{2, 3, 2, 2}) || cl.IsContiguous() {
		t.Errorf("ChannelsLast = %v contiguous=%v, want shape [2 3 2 2], not row-major contiguous", cl, cl.IsContiguous())
	}
	if a, b := Must(ToSlice[float32](img)), Must(ToSlice[float32](cl)); !slices.Equal(a, b) {
		t.Errorf("ChannelsLast changed the values: %v vs %v", b, a)
	}
	if _, err := Must(Zeros([]int64{2, 3}, Float32, CPU)).ChannelsLast(); err == nil {
		t.Error("ChannelsLast of a 2-D tensor gave no error")
	}
}

func TestItem(t *testing.T) {
	s := NewScope()
	defer s.Close()
	if v := Must(Must(FromSlice([]float64{-2.75})).Item()); v != -2.75 {
		t.Errorf("Item = %v, want -2.75", v)
	}
	if v := Must(Must(FromSlice([]int64{1 << 60}, []int64{}...)).ItemInt64()); v != 1<<60 {
		t.Errorf("ItemInt64 = %v, want 2^60 (no float64 rounding)", v)
	}
	if v := Must(Must(FromSlice([]bool{true}, 1, 1)).Item()); v != 1 {
		t.Errorf("Item of bool true = %v, want 1", v)
	}
	if v := Must(Must(Must(FromSlice([]float32{1, 2, 3, 4})).Sum()).Item()); v != 10 {
		t.Errorf("Sum().Item() = %v, want 10", v)
	}
}

func TestStrings(t *testing.T) {
	x := Must(Zeros([]int64{2, 3}, Float32, CPU))
	if got, want := x.String(), "Tensor([2, 3], float32, cpu)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	x.Free()
	if got := x.String(); got != "Tensor(freed)" {
		t.Errorf("String() of a freed tensor = %q", got)
	}
	var nilT *Tensor
	if nilT.Defined() || nilT.String() != "Tensor(freed)" {
		t.Error("nil tensor: Defined or String wrong")
	}
	for d, want := range map[DType]string{Uint8: "uint8", Int32: "int32", Int64: "int64", Float32: "float32", Float64: "float64", Bool: "bool", DType(5): "float16", DType(99): "dtype(99)"} {
		if d.String() != want {
			t.Errorf("DType(%d).String() = %q, want %q", int(d), d.String(), want)
		}
	}
	for d, want := range map[DType]int{Uint8: 1, Bool: 1, Int32: 4, Float32: 4, Int64: 8, Float64: 8} {
		if d.Size() != want {
			t.Errorf("%v.Size() = %d, want %d", d, d.Size(), want)
		}
	}
	if CPU.String() != "cpu" || CUDA(1).String() != "cuda:1" {
		t.Errorf("device strings %q %q", CPU, CUDA(1))
	}
	if v := Version(); !strings.HasPrefix(v, "1.") && !strings.HasPrefix(v, "2.") {
		t.Errorf("Version() = %q", v)
	}
}

func TestParseDevice(t *testing.T) {
	if d, err := ParseDevice("cpu"); err != nil || d != CPU {
		t.Errorf("ParseDevice(cpu) = %v, %v", d, err)
	}
	for _, s := range []string{"gpu", "cuda:x", "cuda:-1", "CPU", ""} {
		if _, err := ParseDevice(s); err == nil || !strings.Contains(err.Error(), "bad device") {
			t.Errorf("ParseDevice(%q): error %v, want a bad-device error", s, err)
		}
	}
	if CUDAIsAvailable() {
		if _, err := ParseDevice(fmt.Sprintf("cuda:%d", CUDADeviceCount())); err == nil {
			t.Error("ParseDevice of a CUDA index past the last device gave no error")
		}
		return
	}
	if CUDADeviceCount() != 0 {
		t.Errorf("CUDADeviceCount() = %d without CUDA", CUDADeviceCount())
	}
	if _, err := ParseDevice("cuda"); err == nil || !strings.Contains(err.Error(), "not available") {
		t.Errorf("ParseDevice(cuda) without CUDA: error %v", err)
	}
	if err := Synchronize(CPU); err != nil {
		t.Errorf("Synchronize(CPU) = %v", err)
	}
}

func TestNumThreads(t *testing.T) {
	old := NumThreads()
	defer SetNumThreads(old)
	SetNumThreads(2)
	if n := NumThreads(); n != 2 {
		t.Errorf("after SetNumThreads(2): %d", n)
	}
	// The setting is process-wide: a goroutine on another OS thread sees it.
	done := make(chan int)
	go func() { done <- NumThreads() }()
	if n := <-done; n != 2 {
		t.Errorf("another goroutine sees %d threads, want 2", n)
	}
	SetNumThreads(1)
	if n := NumThreads(); n != 1 {
		t.Errorf("after SetNumThreads(1): %d", n)
	}
}

func TestInPlace(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := Must(FromSlice([]float32{1, 2, 3, 4}, 2, 2))
	Must(0, x.Add_(Must(FromSlice([]float32{10, 20})), 0.5)) // broadcast over rows
	if got := Must(ToSlice[float32](x)); !slices.Equal(got, []float32{6, 12, 8, 14}) {
		t.Errorf("Add_ = %v, want [6 12 8 14]", got)
	}
	Must(0, x.MulScalar_(-0.5))
	if got := Must(ToSlice[float32](x)); !slices.Equal(got, []float32{-3, -6, -4, -7}) {
		t.Errorf("MulScalar_ = %v", got)
	}
	Must(0, x.Copy_(Must(FromSlice([]int64{7, 8})))) // broadcast and convert
	if got := Must(ToSlice[float32](x)); !slices.Equal(got, []float32{7, 8, 7, 8}) {
		t.Errorf("Copy_ = %v, want [7 8 7 8]", got)
	}
	Must(0, x.Zero_())
	if got := Must(ToSlice[float32](x)); !slices.Equal(got, []float32{0, 0, 0, 0}) {
		t.Errorf("Zero_ = %v", got)
	}
	Must(0, x.Fill_(2.5))
	Must(0, x.AddScalar_(-1))
	if got := Must(ToSlice[float32](x)); !slices.Equal(got, []float32{1.5, 1.5, 1.5, 1.5}) {
		t.Errorf("Fill_(2.5) then AddScalar_(-1) = %v", got)
	}
	// SetData swaps in new values, shape and dtype; the handle keeps requires_grad.
	Must(0, x.SetRequiresGrad(true))
	Must(0, x.SetData(Must(FromSlice([]float64{9, 8, 7}))))
	if !slices.Equal(x.Shape(), []int64{3}) || x.DType() != Float64 || !x.RequiresGrad() {
		t.Errorf("after SetData: %v requires_grad=%v", x, x.RequiresGrad())
	}
	if got := Must(ToSlice[float64](x)); !slices.Equal(got, []float64{9, 8, 7}) {
		t.Errorf("after SetData = %v", got)
	}
	if err := x.Add_(Must(Ones([]int64{3}, Float32, CPU)), 1); err == nil || !strings.Contains(err.Error(), "add_") {
		t.Errorf("Add_ of a non-broadcastable shape: error %v", err)
	}
}

// TestTensorErrors checks that misuse comes back as an error naming the
// problem, not a crash.
func TestTensorErrors(t *testing.T) {
	s := NewScope()
	defer s.Close()
	check := func(name string, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", name)
			return
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", name, err, w)
			}
		}
	}
	_, err := FromSlice([]float32{1, 2, 3, 4, 5}, 2, 3)
	check("FromSlice short", err, "5 values do not fill shape [2 3]")
	_, err = FromSlice([]float32{1, 2}, -1, -2)
	check("FromSlice negative", err, "negative dimension")

	x := Must(FromSlice([]float32{1, 2, 3, 4, 5, 6}, 2, 3))
	_, err = ToSlice[float64](x)
	check("ToSlice wrong type", err, "tensor is float32, asked for float64")
	_, err = ToSlice[int64](x)
	check("ToSlice int64 of float32", err, "float32", "int64")
	_, err = x.Item()
	check("Item of 6 elements", err, "item", "6 elements")
	_, err = x.ItemInt64()
	check("ItemInt64 of 6 elements", err, "item", "6 elements")
	_, err = Must(FromSlice([]float32{})).Item()
	check("Item of empty", err, "item")

	_, err = Must(FromSlice([]float32{1e30})).ItemInt64()
	check("ItemInt64 overflow", err, "item", "overflow")

	if !CUDAIsAvailable() {
		_, err = FromSlicePinned([]float32{1, 2})
		check("FromSlicePinned on CPU-only build", err, "from_slice", "Pinned memory requires CUDA")
		_, err = x.To(CUDA(0), false)
		check("To(CUDA) on CPU-only build", err, "to", "CUDA")
		_, err = Zeros([]int64{2}, Float32, CUDA(0))
		check("Zeros on CUDA on CPU-only build", err, "full", "CUDA")
	}

	freed := Must(FromSlice([]float32{1}))
	freed.Free()
	freed.Free() // a second Free is harmless
	for name, err := range map[string]error{
		"ToSlice":  func() error { _, err := ToSlice[float32](freed); return err }(),
		"Item":     func() error { _, err := freed.Item(); return err }(),
		"Clone":    func() error { _, err := freed.Clone(); return err }(),
		"Reshape":  func() error { _, err := freed.Reshape(1); return err }(),
		"ToDType":  func() error { _, err := freed.ToDType(Float64); return err }(),
		"Backward": freed.Backward(),
		"Grad":     func() error { _, err := freed.Grad(); return err }(),
		"Zero_":    freed.Zero_(),
		"TopK":     func() error { _, _, err := freed.TopK(1, 0); return err }(),
	} {
		if !errors.Is(err, ErrFreed) {
			t.Errorf("%s of a freed tensor: error %v, want ErrFreed", name, err)
		}
	}
	// Metadata of a freed tensor is a programmer error: it panics with ErrFreed.
	func() {
		defer func() {
			if r := recover(); r != ErrFreed {
				t.Errorf("Shape of a freed tensor: recovered %v, want ErrFreed", r)
			}
		}()
		freed.Shape()
	}()
}

// label is a named element type, which Element's ~int64 admits.
type label int64

func TestCuDNNBenchmark(t *testing.T) {
	old := CuDNNBenchmark()
	defer SetCuDNNBenchmark(old)
	for _, on := range []bool{true, false, true} {
		SetCuDNNBenchmark(on)
		if got := CuDNNBenchmark(); got != on {
			t.Errorf("after SetCuDNNBenchmark(%v): %v", on, got)
		}
	}
}

// TestBytesUnsupportedDType checks that Bytes of a tensor whose dtype the
// package does not support is an error naming the dtype (it panicked).
func TestBytesUnsupportedDType(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := Must(FromSlice([]float32{1, 2, 3}))
	for _, c := range []struct {
		dtype DType
		name  string
	}{{1, "int8"}, {2, "int16"}, {5, "float16"}} {
		y := Must(x.ToDType(c.dtype))
		b, err := y.Bytes()
		if err == nil || !strings.Contains(err.Error(), "unsupported dtype "+c.name) {
			t.Errorf("Bytes of %s: %d bytes, error %v; want an error naming %s", c.name, len(b), err, c.name)
		}
	}
	if b, err := x.Bytes(); err != nil || len(b) != 12 {
		t.Errorf("Bytes of float32: %d bytes, error %v", len(b), err)
	}
}
