package trainer

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"gotrain/model"
	"gotrain/torch"
)

// stepMemoryFactor is the peak memory of a CPU training step over the
// bytes of the outputs of the network's leaf modules for its batch (what
// the forward pass keeps for backward): measured 1.38-1.46 for seed and
// sepnet at batches of 256 and 1,024 (peak resident memory of a step,
// channels-last, one thread), rounded up.
const stepMemoryFactor = 1.5

// activationBytes returns the bytes of the outputs of net's leaf modules
// for one image, float32, from a summary's trace (on the CPU, with no
// gradients and no random draws).
func activationBytes(net *model.Net) (int64, error) {
	s, err := model.Summarize(net)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, r := range s.Rows {
		if r.Container || r.Output == nil {
			continue
		}
		size := int64(4)
		for _, d := range r.Output[1:] { // per image: not the batch dimension
			size *= d
		}
		n += size
	}
	return n, nil
}

// memAvailable returns /proc/meminfo's MemAvailable in bytes; ok is false
// where there is none.
func memAvailable() (n int64, ok bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemAvailable:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024, err == nil
		}
	}
	return 0, false
}

// checkBatchMemory refuses, on the CPU, a training batch of batch images
// for each of procs processes on this machine whose step would need more
// memory than the machine has available, before training starts: the
// kernel would kill the run instead, in the middle of its first step.
func checkBatchMemory(net *model.Net, batch, procs int, dev torch.Device) error {
	if dev.Type != torch.CPUType {
		return nil
	}
	avail, ok := memAvailable()
	if !ok {
		return nil
	}
	per, err := activationBytes(net)
	if err != nil {
		return err
	}
	need := int64(float64(per) * stepMemoryFactor * float64(batch) * float64(procs))
	if need <= avail {
		return nil
	}
	what := ""
	if procs > 1 {
		what = fmt.Sprintf(" in each of %d processes", procs)
	}
	return fmt.Errorf("a training batch of %d images%s needs about %.1f GiB (%s: %.1f MiB of activations per image, "+
		"x%.1f for backward), more than the %.1f GiB this machine has available (MemAvailable): use a smaller -batch-size",
		batch, what, gib(need), net.Name, float64(per)/(1<<20), stepMemoryFactor, gib(avail))
}

func gib(n int64) float64 { return float64(n) / (1 << 30) }
