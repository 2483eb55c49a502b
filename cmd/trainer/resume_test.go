package main

import (
	"fmt"
	"image"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotrain/dataset"
	"gotrain/trainer"
)

// writeTinySet writes a CIFAR-10 layout of class folders into dir:
// perClass random 32x32 PNG images per class in train/, 2 in test/,
// their pixels drawn from seed.
func writeTinySet(t *testing.T, dir string, perClass int, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 2))
	for split, n := range map[string]int{"train": perClass, "test": 2} {
		for _, class := range dataset.Classes {
			folder := filepath.Join(dir, split, class)
			if err := os.MkdirAll(folder, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				img := image.NewNRGBA(image.Rect(0, 0, 32, 32))
				for p := 0; p < len(img.Pix); p += 4 {
					img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = uint8(rng.Uint32()), uint8(rng.Uint32()), uint8(rng.Uint32()), 255
				}
				f, err := os.Create(filepath.Join(folder, fmt.Sprintf("%04d.png", i)))
				if err != nil {
					t.Fatal(err)
				}
				if err := png.Encode(f, img); err != nil {
					t.Fatal(err)
				}
				f.Close()
			}
		}
	}
}

// killAfterCheckpoint starts args in dir and kills the run once its first
// checkpoint is written; it reports false if the run ended first.
func killAfterCheckpoint(t *testing.T, dir, out string, args ...string) bool {
	t.Helper()
	b := startTrainer(t, dir, args...)
	select {
	case <-b.done:
		if b.res.code != 0 {
			t.Fatalf("run: exit %d: %s", b.res.code, b.res.stderr)
		}
		return false
	case <-afterCheckpoint(filepath.Join(out, trainer.CheckpointFile), 0, b.done):
		b.cmd.Process.Kill()
		<-b.done
		return true
	case <-time.After(2 * time.Minute):
		t.Fatal("no checkpoint after 2 minutes")
	}
	return false
}

// TestResumeElsewhere resumes runs from another working folder: one
// given its data set by a relative -data, after the data set moved (with
// -data naming where it is now: the final weights are the uninterrupted
// run's; without it, or with another data set, a refusal naming the
// problem), and one that used the default ./data, which a resumed run
// elsewhere does not download into a new folder.
func TestResumeElsewhere(t *testing.T) {
	root := t.TempDir()
	home, elsewhere := filepath.Join(root, "home"), filepath.Join(root, "elsewhere")
	for _, d := range []string{home, elsewhere} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeTinySet(t, filepath.Join(root, "mini"), 12, 1)
	writeTinySet(t, filepath.Join(root, "other"), 12, 2)
	run := func(out string, extra ...string) []string {
		return append([]string{"-model", "seed", "-epochs", "4", "-batch-size", "16", "-seed", "3", "-threads", "1", "-workers", "1",
			"-augment=false", "-out", out}, extra...)
	}
	ref := filepath.Join(root, "ref")
	if r := runTrainerIn(t, home, run(ref, "-data", "../mini")...); r.code != 0 {
		t.Fatalf("uninterrupted run: exit %d: %s", r.code, r.stderr)
	}

	out := filepath.Join(root, "cut")
	if !killAfterCheckpoint(t, home, out, run(out, "-data", "../mini")...) {
		t.Skip("the run finished before it was killed; nothing to resume")
	}
	moved := filepath.Join(root, "moved")
	if err := os.Rename(filepath.Join(root, "mini"), moved); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"moved data", []string{"-resume", out}, []string{filepath.Join(root, "mini"), "is not there", "-data"}},
		{"other data", []string{"-resume", out, "-data", filepath.Join(root, "other")},
			[]string{filepath.Join(root, "other") + " is not the data set the run trained on", "120 training and 20 test images"}},
	} {
		if r := runTrainerIn(t, elsewhere, c.args...); r.code != 1 || !containsAll(r.stderr, c.want) {
			t.Errorf("%s: exit %d (want 1), stderr lacks %q:\n%s", c.name, r.code, c.want, r.stderr)
		}
	}
	if r := runTrainerIn(t, "/", "-resume", out, "-data", moved); r.code != 0 {
		t.Fatalf("resume from / with the moved data: exit %d: %s", r.code, r.stderr)
	}
	if !equalTensors(readTensors(t, filepath.Join(ref, trainer.StateDictFile)), readTensors(t, filepath.Join(out, trainer.StateDictFile))) {
		t.Error("the run resumed elsewhere ends with other weights than the uninterrupted run's")
	}

	// The default ./data: home/data holds the data set, then moves away.
	if err := os.Rename(moved, filepath.Join(home, "data")); err != nil {
		t.Fatal(err)
	}
	def := filepath.Join(root, "default")
	if !killAfterCheckpoint(t, home, def, run(def)...) {
		t.Skip("the run finished before it was killed; nothing to resume")
	}
	if err := os.Rename(filepath.Join(home, "data"), moved); err != nil {
		t.Fatal(err)
	}
	r := runTrainerIn(t, elsewhere, "-resume", def)
	if want := []string{filepath.Join(home, "data"), "is not there", "-data"}; r.code != 1 || !containsAll(r.stderr, want) {
		t.Errorf("default data resumed elsewhere after it moved: exit %d (want 1), stderr lacks %q:\n%s", r.code, want, r.stderr)
	}
	if exists(filepath.Join(elsewhere, "data")) || strings.Contains(r.stderr, "download") {
		t.Errorf("the resumed run downloaded or made ./data in the other folder:\n%s", r.stderr)
	}
	if r := runTrainerIn(t, elsewhere, "-resume", def, "-data", moved); r.code != 0 {
		t.Fatalf("default data resumed elsewhere with -data: exit %d: %s", r.code, r.stderr)
	}
	if !equalTensors(readTensors(t, filepath.Join(ref, trainer.StateDictFile)), readTensors(t, filepath.Join(def, trainer.StateDictFile))) {
		t.Error("the run of the default data resumed elsewhere ends with other weights than the uninterrupted run's")
	}
}

// TestBatchBeyondTrainingSet trains with a batch larger than the training
// set: the log says that each epoch is one step of the whole set.
func TestBatchBeyondTrainingSet(t *testing.T) {
	dir := t.TempDir()
	writeTinySet(t, filepath.Join(dir, "mini"), 12, 1)
	r := runTrainer(t, "-model", "seed", "-epochs", "1", "-batch-size", "100000000", "-threads", "1", "-workers", "1",
		"-data", filepath.Join(dir, "mini"), "-out", filepath.Join(dir, "run"))
	if want := "the batch size 100000000 is more than the 120 training images of this process: each epoch is one step of 120"; r.code != 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("exit %d, stderr lacks %q:\n%s", r.code, want, r.stderr)
	}
}

// runTrainerIn runs the binary with working folder dir.
func runTrainerIn(t *testing.T, dir string, args ...string) result {
	t.Helper()
	b := startTrainer(t, dir, args...)
	select {
	case <-b.done:
	case <-time.After(5 * time.Minute):
		t.Fatalf("%v: still running after 5 minutes", args)
	}
	return b.res
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
