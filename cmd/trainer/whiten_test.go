package main

import (
	"bytes"
	bin "encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// -whiten sets the first convolution from the data, not the seed, as
// whitening filters in negated pairs, keeps it fixed through training and
// a resume, and the summary counts it as non-trainable.
func TestWhitenRun(t *testing.T) {
	needArchive(t)
	a, b := t.TempDir(), t.TempDir()
	r := runTrainer(t, tinyRun(a, "-whiten", "-epochs", "1")...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	// The seed network's first layer: 16 filters of 3×3×3 = 432 weights.
	if !strings.Contains(r.stdout, "Non-trainable Parameters: 432") || !strings.Contains(r.stdout, "patch-whitening first layer") {
		t.Errorf("header lacks the frozen weights or the technique:\n%s", r.stdout)
	}
	interruptInEpoch2(t, b, tinyRun(b, "-whiten", "-seed", "6")...)
	if r := runTrainer(t, "-resume", b); r.code != 0 {
		t.Fatalf("resume: exit %d\n%s", r.code, r.stderr)
	}
	wa := readTensors(t, filepath.Join(a, "model_state_dict.pt"))
	wb := readTensors(t, filepath.Join(b, "model_state_dict.pt"))
	const first = "c1.0.weight"
	if !bytes.Equal(wa[first], wb[first]) {
		t.Errorf("%s differs between a 1-epoch run and a resumed 3-epoch run with another seed", first)
	}
	if bytes.Equal(wa["c1.1.weight"], wb["c1.1.weight"]) {
		t.Error("the layers after the whitening did not train")
	}
	f := wa[first]
	const per = 27 * 4 // bytes per filter
	for k := range 8 {
		for i := 0; i < per; i += 4 {
			x := math.Float32frombits(bin.LittleEndian.Uint32(f[k*per+i:]))
			y := math.Float32frombits(bin.LittleEndian.Uint32(f[(k+8)*per+i:]))
			if x != -y {
				t.Fatalf("filter %d is not filter %d negated", k+8, k)
			}
		}
	}
}

// Under torchrun, -whiten trains: the frozen weight has no gradient to
// average (DDP leaves it out), and every rank starts from the filters a
// single process computes.
func TestDDPWhiten(t *testing.T) {
	needArchive(t)
	needGloo(t)
	one, two := t.TempDir(), t.TempDir()
	args := func(out string) []string { return ddpRun(out, "-epochs", "1", "-train-limit", "256", "-whiten") }
	if r := runTrainer(t, args(one)...); r.code != 0 {
		t.Fatalf("one process: exit %d\n%s", r.code, r.stderr)
	}
	runJob(t, 2, args(two))
	a := readTensors(t, filepath.Join(one, "model_state_dict.pt"))
	b := readTensors(t, filepath.Join(two, "model_state_dict.pt"))
	if !bytes.Equal(a["c1.0.weight"], b["c1.0.weight"]) {
		t.Error("the whitening filters of 2 ranks differ from one process's")
	}
}
