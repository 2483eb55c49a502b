package nn_test

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"

	"gotrain/internal/nntest"
	"gotrain/torch"
	"gotrain/torch/nn"
	"gotrain/torch/optim"
)

// smallNet is a conv net with every kind of layer the trainer uses.
func smallNet(t testing.TB) (nn.Module, *optim.SGD) {
	t.Helper()
	torch.ManualSeed(1)
	conv, err := nn.NewConv2d(nn.Conv2dConfig{InChannels: 3, OutChannels: 8, KernelSize: [2]int64{3, 3}, Padding: [2]int64{1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	dw, _ := nn.NewConv2d(nn.Conv2dConfig{InChannels: 8, OutChannels: 8, KernelSize: [2]int64{3, 3}, Stride: [2]int64{2, 2}, Padding: [2]int64{1, 1}, Groups: 8})
	bn, _ := nn.NewBatchNorm2d(8)
	drop, _ := nn.NewDropout(0.1)
	fc, _ := nn.NewLinear(8, 10, true)
	net := nn.NewSequential(conv, bn, nn.ReLU{}, dw, nn.AdaptiveAvgPool2d{OutputSize: [2]int64{1, 1}}, drop, nn.NewFlatten(), fc)
	opt, err := optim.NewSGD(nn.NamedParameters(net), optim.SGDConfig{LR: 0.01, Momentum: 0.9, WeightDecay: 5e-4})
	if err != nil {
		t.Fatal(err)
	}
	return net, opt
}

// trainSteps runs n SGD steps on fixed data, each inside its own scope.
func trainSteps(t testing.TB, net nn.Module, opt *optim.SGD, x, y *torch.Tensor, n int) {
	t.Helper()
	for range n {
		_, err := nntest.Step(net, opt, x, y)
		if err != nil {
			t.Fatal(err)
		}
	}
}

func fixedBatch(t testing.TB) (x, y *torch.Tensor) {
	x = torch.Keep(torch.Must(torch.Randn([]int64{32, 3, 16, 16}, torch.Float32, torch.CPU)))
	y = torch.Keep(torch.Must(torch.FromSlice(make([]int64, 32))))
	return x, y
}

// TestStepFreesItsTensors checks that a training step leaves no tensor
// handle behind: after the first step (which creates the momentum
// buffers), the number of live handles stays exactly the same.
func TestStepFreesItsTensors(t *testing.T) {
	net, opt := smallNet(t)
	defer nn.Free(net)
	defer opt.Free()
	x, y := fixedBatch(t)
	defer x.Free()
	defer y.Free()
	trainSteps(t, net, opt, x, y, 1)
	base := torch.LiveTensors()
	trainSteps(t, net, opt, x, y, 50)
	if got := torch.LiveTensors(); got != base {
		t.Fatalf("live tensors %d after 50 more steps, want %d", got, base)
	}
}

// rssKiB reads the resident set size of this process.
func rssKiB(t testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return v
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// BenchmarkTrainingMemory runs 2,000 training steps of a small conv net and
// reports resident memory growth between step 200 and step 2,000 (after
// the allocator's warm-up): it stays flat because every step's tensors are
// freed when its scope closes, not by Go's garbage collector.
//
//	go test ./torch/nn -run '^$' -bench TrainingMemory -benchtime 1x
func BenchmarkTrainingMemory(b *testing.B) {
	for range b.N {
		net, opt := smallNet(b)
		x, y := fixedBatch(b)
		trainSteps(b, net, opt, x, y, 200)
		before := rssKiB(b)
		trainSteps(b, net, opt, x, y, 1800)
		after := rssKiB(b)
		b.ReportMetric(float64(before), "rss-at-200-KiB")
		b.ReportMetric(float64(after), "rss-at-2000-KiB")
		b.ReportMetric(float64(after-before), "growth-KiB")
		b.ReportMetric(float64(torch.LiveTensors()), "live-tensors")
		opt.Free()
		nn.Free(net)
		x.Free()
		y.Free()
	}
}
