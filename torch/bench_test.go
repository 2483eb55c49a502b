package torch

// Benchmarks of the binding's own cost and of a convolution layer's forward
// and backward pass. scripts/bench_conv.py measures the same in PyTorch;
// docs/results/binding-bench.md records both.
//
//	go test -run '^$' -bench . -benchmem ./torch/

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// usage returns the process's minor page faults and CPU time (user+system) so far.
func usage(b *testing.B) (faults int64, cpu time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Minflt, time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkNumel is one cgo call into libctorch that allocates nothing: the
// floor under every op.
func BenchmarkNumel(b *testing.B) {
	x := Must(Ones([]int64{1}, Float32, CPU))
	defer x.Free()
	var n int64
	for b.Loop() {
		n += x.Numel()
	}
	if n == 0 {
		b.Fatal("numel 0")
	}
}

// BenchmarkAddScalar is a tiny op (x + 1 on one element) whose result is
// freed at once: the per-op cost of the binding plus libtorch's dispatch.
func BenchmarkAddScalar(b *testing.B) {
	x := Must(Ones([]int64{1}, Float32, CPU))
	defer x.Free()
	for b.Loop() {
		y, err := x.AddScalar(1)
		if err != nil {
			b.Fatal(err)
		}
		y.Free()
	}
}

// BenchmarkAddScalarInScope is the same op with its result owned by a scope,
// the way a training step makes tensors: 100 ops per scope.
func BenchmarkAddScalarInScope(b *testing.B) {
	x := Must(Ones([]int64{1}, Float32, CPU))
	defer x.Free()
	s := NewScope()
	n := 0
	for b.Loop() {
		if _, err := x.AddScalar(1); err != nil {
			b.Fatal(err)
		}
		if n++; n == 100 {
			s.Close()
			s, n = NewScope(), 0
		}
	}
	s.Close()
}

// BenchmarkScopeOpenClose is the cost of an empty scope.
func BenchmarkScopeOpenClose(b *testing.B) {
	for b.Loop() {
		NewScope().Close()
	}
}

// BenchmarkGettid is the system call that Scope first used to find the
// calling thread's scope (once in NewScope, once in Close, once per tensor
// made while a scope is open); it is kept to compare with BenchmarkThreadID,
// the C thread-local counter that replaced it.
func BenchmarkGettid(b *testing.B) {
	for b.Loop() {
		syscall.Gettid()
	}
}

// BenchmarkThreadID is how Scope identifies the calling OS thread now.
func BenchmarkThreadID(b *testing.B) {
	for b.Loop() {
		threadID()
	}
}

// BenchmarkConvForwardBackward is one step of a conv layer with bias and
// padding 1: forward, mean, backward, then the gradients dropped, in a
// scope; at 1 and 2 libtorch threads. It also reports the minor page faults
// per step (fresh memory from the C allocator) and the process's CPU time
// over wall time (how many cores the step kept busy).
func BenchmarkConvForwardBackward(b *testing.B) {
	old := NumThreads()
	defer SetNumThreads(old)
	for _, c := range []struct {
		name          string
		n, cin, cout  int64
		size          int64
		inputRequires bool // an interior layer also back-propagates into its input
	}{
		{"b128_32to64_16x16", 128, 32, 64, 16, true},
		{"b128_3to16_32x32", 128, 3, 16, 32, false},
	} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", c.name, threads), func(b *testing.B) {
				SetNumThreads(threads)
				Must(0, ManualSeed(0))
				x := Must(Randn([]int64{c.n, c.cin, c.size, c.size}, Float32, CPU))
				w := Must(Randn([]int64{c.cout, c.cin, 3, 3}, Float32, CPU))
				bias := Must(Zeros([]int64{c.cout}, Float32, CPU))
				defer func() { x.Free(); w.Free(); bias.Free() }()
				leaves := []*Tensor{w, bias}
				if c.inputRequires {
					leaves = append(leaves, x)
				}
				for _, l := range leaves {
					Must(0, l.SetRequiresGrad(true))
				}
				step := func() error {
					return WithScope(func() error {
						y, err := Conv2d(x, w, bias, Conv2dOptions{Padding: [2]int64{1, 1}})
						if err != nil {
							return err
						}
						loss, err := y.Mean()
						if err != nil {
							return err
						}
						if err := loss.Backward(); err != nil {
							return err
						}
						for _, l := range leaves {
							if err := l.ZeroGrad(); err != nil {
								return err
							}
						}
						return nil
					})
				}
				Must(0, step()) // warm up oneDNN's kernel selection
				live := LiveTensors()
				faults, cpu := usage(b)
				start := time.Now()
				for b.Loop() {
					if err := step(); err != nil {
						b.Fatal(err)
					}
				}
				wall := time.Since(start)
				faults2, cpu2 := usage(b)
				// Fresh pages cost a fault each; on some VMs that dominates.
				b.ReportMetric(float64(faults2-faults)/float64(b.N), "faults/op")
				// Cores kept busy: ~threads on an idle machine, less when others compete.
				b.ReportMetric(float64(cpu2-cpu)/float64(wall), "cpu/wall")
				if n := LiveTensors() - live; n != 0 {
					b.Fatalf("%d tensors leaked", n)
				}
			})
		}
	}
}
