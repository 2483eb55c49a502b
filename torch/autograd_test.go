package torch

import (
	"errors"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// squareSum returns sum(x*x), whose gradient is 2x.
func squareSum(t *testing.T, x *Tensor) *Tensor {
	t.Helper()
	return Must(Must(Mul(x, x)).Sum())
}

func TestRequiresGrad(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := Must(FromSlice([]float32{1, -2, 3}))
	if x.RequiresGrad() {
		t.Error("a new tensor requires grad")
	}
	if y := Must(x.MulScalar(2)); y.RequiresGrad() {
		t.Error("op on tensors without grad records a graph")
	}
	Must(0, x.SetRequiresGrad(true))
	if !x.RequiresGrad() {
		t.Fatal("SetRequiresGrad(true) did not take")
	}
	if y := Must(x.MulScalar(2)); !y.RequiresGrad() {
		t.Error("op on a tensor requiring grad is not recorded")
	}
	if g := Must(x.Grad()); g != nil {
		t.Errorf("Grad before any backward = %v, want nil", g)
	}
	// Integer tensors cannot require gradients.
	if err := Must(FromSlice([]int64{1})).SetRequiresGrad(true); err == nil || !strings.Contains(err.Error(), "floating point") {
		t.Errorf("SetRequiresGrad on int64: error %v, want one about floating point", err)
	}
	// Backward of a non-scalar, or of a graph without leaves requiring grad.
	if err := Must(x.MulScalar(2)).Backward(); err == nil || !strings.Contains(err.Error(), "only for scalar outputs") {
		t.Errorf("Backward of a vector: error %v", err)
	}
	if err := Must(Must(FromSlice([]float32{1, 2})).Sum()).Backward(); err == nil || !strings.Contains(err.Error(), "does not require grad") {
		t.Errorf("Backward without leaves: error %v", err)
	}
}

func TestBackwardAccumulatesAndZeroGrad(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := Must(FromSlice([]float32{1, -2, 3}))
	Must(0, x.SetRequiresGrad(true))
	grad := func() []float32 { return Must(ToSlice[float32](Must(x.Grad()))) }

	Must(0, squareSum(t, x).Backward())
	if got := grad(); !slices.Equal(got, []float32{2, -4, 6}) {
		t.Errorf("grad after one backward = %v, want 2x = [2 -4 6]", got)
	}
	// A second backward adds to the first, as in PyTorch.
	Must(0, squareSum(t, x).Backward())
	if got := grad(); !slices.Equal(got, []float32{4, -8, 12}) {
		t.Errorf("grad after two backwards = %v, want [4 -8 12]", got)
	}
	Must(0, x.ZeroGrad())
	if g := Must(x.Grad()); g != nil {
		t.Errorf("grad after ZeroGrad = %v, want nil", g)
	}
	Must(0, Must(Must(x.Pow(3)).Sum()).Backward())
	if got := grad(); !slices.Equal(got, []float32{3, 12, 27}) {
		t.Errorf("grad of sum(x^3) after ZeroGrad = %v, want 3x^2 = [3 12 27]", got)
	}

	// The graph is freed after backward: a second backward through it fails.
	y := squareSum(t, x)
	Must(0, y.Backward())
	if err := y.Backward(); err == nil || !strings.Contains(err.Error(), "second time") {
		t.Errorf("second backward through one graph: error %v", err)
	}
}

func TestNoGrad(t *testing.T) {
	s := NewScope()
	defer s.Close()
	x := Must(FromSlice([]float32{1, 2}))
	Must(0, x.SetRequiresGrad(true))
	if !IsGradEnabled() {
		t.Fatal("grad mode off at the start")
	}
	var inside *Tensor
	err := NoGrad(func() error {
		if IsGradEnabled() {
			t.Error("grad mode on inside NoGrad")
		}
		inside = Must(x.MulScalar(3))
		// Nested NoGrad restores "off", not "on".
		_ = NoGrad(func() error { return nil })
		if IsGradEnabled() {
			t.Error("grad mode on after a nested NoGrad")
		}
		return errors.New("from f")
	})
	if err == nil || err.Error() != "from f" {
		t.Errorf("NoGrad returned %v, want f's error", err)
	}
	if inside.RequiresGrad() {
		t.Error("result made under NoGrad requires grad")
	}
	if !IsGradEnabled() {
		t.Error("grad mode not restored after NoGrad")
	}
	if y := Must(x.MulScalar(3)); !y.RequiresGrad() {
		t.Error("result made after NoGrad does not require grad")
	}
	// A panic inside NoGrad still restores the mode.
	func() {
		defer func() { _ = recover() }()
		_ = NoGrad(func() error { panic("boom") })
	}()
	if !IsGradEnabled() {
		t.Error("grad mode not restored after a panic in NoGrad")
	}
	// Grad mode is per goroutine: NoGrad elsewhere does not switch it off here.
	var wg sync.WaitGroup
	hold, release := make(chan struct{}), make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = NoGrad(func() error { close(hold); <-release; return nil })
	}()
	<-hold
	runtime.LockOSThread()
	on := IsGradEnabled()
	y := Must(x.MulScalar(2))
	runtime.UnlockOSThread()
	close(release)
	wg.Wait()
	if !on || !y.RequiresGrad() {
		t.Error("NoGrad on another goroutine switched grad mode off here")
	}
}

func TestScopeFreesTensors(t *testing.T) {
	before := LiveTensors()
	s := NewScope()
	a := Must(Ones([]int64{4}, Float32, CPU))
	b := Must(a.AddScalar(1))
	c := Must(Mul(a, b))
	if n := s.Len(); n != 3 {
		t.Errorf("scope owns %d tensors, want 3", n)
	}
	if n := LiveTensors() - before; n != 3 {
		t.Errorf("%d live tensors, want 3", n)
	}
	kept := Keep(Must(c.Sum()))
	if n := s.Len(); n != 3 {
		t.Errorf("after Keep the scope owns %d tensors, want 3", n)
	}
	b.Free() // freeing an owned tensor early takes it out of the scope
	if n := s.Len(); n != 2 {
		t.Errorf("after Free the scope owns %d tensors, want 2", n)
	}
	s.Close()
	s.Close() // closing twice is harmless
	if a.Defined() || c.Defined() {
		t.Error("tensors of a closed scope are still defined")
	}
	if _, err := ToSlice[float32](a); !errors.Is(err, ErrFreed) {
		t.Errorf("use of a tensor after its scope closed: %v, want ErrFreed", err)
	}
	if n := LiveTensors() - before; n != 1 {
		t.Errorf("after Close %d live tensors, want 1 (the kept one)", n)
	}
	if v := Must(kept.Item()); v != 8 {
		t.Errorf("kept tensor = %v, want 8", v)
	}
	kept.Free()
	if n := LiveTensors() - before; n != 0 {
		t.Errorf("%d tensors leaked", n)
	}
}

func TestNestedScopes(t *testing.T) {
	before := LiveTensors()
	outer := NewScope()
	x := Must(Ones([]int64{2}, Float32, CPU))
	inner := NewScope()
	y := Must(x.AddScalar(1))
	z := Keep(Must(y.AddScalar(1)))
	if outer.Len() != 1 || inner.Len() != 1 {
		t.Errorf("outer owns %d, inner %d; want 1 and 1", outer.Len(), inner.Len())
	}
	// Closing the outer scope first is a bug in the caller.
	func() {
		defer func() {
			if recover() == nil {
				t.Error("closing the outer scope while the inner one is open did not panic")
			}
		}()
		outer.Close()
	}()
	inner.Close()
	if y.Defined() || !x.Defined() || !z.Defined() {
		t.Errorf("after the inner Close: y %v x %v z %v, want only y freed", y.Defined(), x.Defined(), z.Defined())
	}
	w := Must(x.AddScalar(2)) // made after the inner scope closed: the outer one owns it
	outer.Close()
	if x.Defined() || w.Defined() {
		t.Error("the outer Close left its tensors defined")
	}
	if got := Must(ToSlice[float32](z)); !slices.Equal(got, []float32{3, 3}) {
		t.Errorf("kept tensor = %v, want [3 3]", got)
	}
	z.Free()
	if n := LiveTensors() - before; n != 0 {
		t.Errorf("%d tensors leaked", n)
	}
}

func TestWithScope(t *testing.T) {
	before := LiveTensors()
	var inside, kept *Tensor
	err := WithScope(func() error {
		inside = Must(Zeros([]int64{3}, Float32, CPU))
		kept = Keep(Must(inside.AddScalar(5)))
		return errors.New("step failed")
	})
	if err == nil || err.Error() != "step failed" {
		t.Errorf("WithScope returned %v, want f's error", err)
	}
	if inside.Defined() {
		t.Error("tensor made in WithScope survived it")
	}
	if got := Must(ToSlice[float32](kept)); !slices.Equal(got, []float32{5, 5, 5}) {
		t.Errorf("kept = %v", got)
	}
	kept.Free()
	// A panic in f still closes the scope.
	func() {
		defer func() { _ = recover() }()
		_ = WithScope(func() error {
			inside = Must(Zeros([]int64{3}, Float32, CPU))
			panic("boom")
		})
	}()
	if inside.Defined() {
		t.Error("tensor made before a panic in WithScope survived it")
	}
	if n := LiveTensors() - before; n != 0 {
		t.Errorf("%d tensors leaked", n)
	}
}

// TestScopePerGoroutine checks that a tensor made on a goroutine without a
// scope does not join another goroutine's open scope.
func TestScopePerGoroutine(t *testing.T) {
	s := NewScope()
	done := make(chan *Tensor)
	go func() { done <- Must(Ones([]int64{1}, Float32, CPU)) }()
	other := <-done
	mine := Must(Ones([]int64{1}, Float32, CPU))
	s.Close()
	if !other.Defined() {
		t.Error("a tensor made on another goroutine was freed by this goroutine's scope")
	}
	if mine.Defined() {
		t.Error("a tensor made in the scope survived it")
	}
	other.Free()
}

// TestGradHandleInScope checks that the handle Grad returns belongs to the
// scope, while the gradient itself stays with its leaf.
func TestGradHandleInScope(t *testing.T) {
	x := Must(FromSlice([]float32{1, 2}))
	defer x.Free()
	Must(0, x.SetRequiresGrad(true))
	before := LiveTensors()
	Must(0, WithScope(func() error {
		Must(0, squareSum(t, x).Backward())
		_ = Must(x.Grad())
		return nil
	}))
	if n := LiveTensors() - before; n != 0 {
		t.Errorf("%d tensors leaked by a training step", n)
	}
	g := Must(x.Grad())
	defer g.Free()
	if got := Must(ToSlice[float32](g)); !slices.Equal(got, []float32{2, 4}) {
		t.Errorf("grad after the scope closed = %v, want [2 4]", got)
	}
}

// rssBytes returns the resident set size of this process.
func rssBytes(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("resident memory needs /proc: %v", err)
	}
	f := strings.Fields(string(b))
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return pages * int64(os.Getpagesize())
}

// TestTrainingStepsDoNotLeak runs many small training steps, each in a
// scope, and checks that neither tensor handles nor resident memory grow:
// each step makes ~5 MiB of tensors (input, product, relu, gradients), so a
// leak of one step's worth would add 1 GiB over the run.
func TestTrainingStepsDoNotLeak(t *testing.T) {
	w := Must(Randn([]int64{1024, 256}, Float32, CPU)) // 1 MiB
	defer w.Free()
	Must(0, w.SetRequiresGrad(true))
	step := func() {
		Must(0, WithScope(func() error {
			x := Must(Randn([]int64{1024, 256}, Float32, CPU))
			y := Must(Relu(Must(Mul(x, w))))
			Must(0, Must(y.Mean()).Backward())
			return NoGrad(func() error { // an SGD step
				if err := w.Add_(Must(w.Grad()), -1e-3); err != nil {
					return err
				}
				return w.ZeroGrad()
			})
		}))
	}
	for range 20 { // let the allocators reach their steady state
		step()
	}
	liveBefore, rssBefore := LiveTensors(), rssBytes(t)
	for range 200 {
		step()
	}
	if n := LiveTensors() - liveBefore; n != 0 {
		t.Errorf("%d tensor handles leaked over 200 steps", n)
	}
	if grew := rssBytes(t) - rssBefore; grew > 64<<20 {
		t.Errorf("resident memory grew by %d MiB over 200 steps", grew>>20)
	}
}
