package trainer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sirupsen/logrus"

	"gotrain/internal/testenv"
	"gotrain/torch/ptfile"
)

// fixtureDir holds a checkpoint written by an earlier version of the
// trainer (testdata/checkpoint-v2/README.md says which, and how).
const fixtureDir = "testdata/checkpoint-v2"

// sharedArchive is the project's CIFAR-10 archive, seen from this folder.
const sharedArchive = "../../shared/datasets/cifar10-jpeg.tar.gz"

// TestOldCheckpointResumes resumes the mid-epoch checkpoint of the
// fixture, written by an earlier version, and checks that the run ends
// with the state the earlier version's uninterrupted run ended with: every
// tensor (model, momentum buffers, weight EMA, RNG state) equal bit for
// bit, the optimizer's groups and the scheduler equal, the same history
// (timings aside).
func TestOldCheckpointResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("resuming a run is skipped in -short mode")
	}
	archive, err := filepath.Abs(sharedArchive)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(archive); err != nil {
		testenv.Need(t, fmt.Sprintf("the shared data set: %v", err))
	}
	want, err := ptfile.LoadFile(filepath.Join(fixtureDir, "final.pt"))
	if err != nil {
		t.Fatal(err)
	}
	mid, err := os.ReadFile(filepath.Join(fixtureDir, "mid.pt"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, CheckpointFile), mid, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // the archive's decoded cache goes to ./data
	log := logrus.New()
	log.SetOutput(io.Discard)
	_, err = Run(context.Background(), Config{}, Options{Log: log, Progress: io.Discard, Resume: dir,
		Override: func(c *Config) { c.Data = archive }})
	if err != nil {
		t.Fatal(err)
	}
	got, err := ptfile.LoadFile(filepath.Join(dir, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	g, w := got.(*ptfile.Dict), want.(*ptfile.Dict)
	for _, key := range []string{"model", "optimizer", "scheduler", "rng_state", "ema"} {
		a, _ := g.Get(key)
		b, ok := w.Get(key)
		if !ok {
			t.Fatalf("the fixture's final checkpoint has no %q", key)
		}
		if err := sameValue(a, b); err != nil {
			t.Errorf("%s: %v", key, err)
		}
	}
	// The run state, less what depends on the clock.
	gr, _ := g.Get("run")
	wr, _ := w.Get("run")
	for _, key := range []string{"epoch", "batch", "step", "best_acc", "lr_history", "confusion"} {
		a, _ := gr.(*ptfile.Dict).Get(key)
		b, _ := wr.(*ptfile.Dict).Get(key)
		if err := sameValue(a, b); err != nil {
			t.Errorf("run.%s: %v", key, err)
		}
	}
	// The configuration, less the folders (the fixture's run was in another).
	gc, _ := gr.(*ptfile.Dict).Get("config")
	wc, _ := wr.(*ptfile.Dict).Get("config")
	for _, it := range wc.(*ptfile.Dict).Items {
		if it.Key == "out" || it.Key == "data" {
			continue
		}
		a, _ := gc.(*ptfile.Dict).Get(it.Key)
		if err := sameValue(a, it.Value); err != nil {
			t.Errorf("run.config.%s: %v", it.Key, err)
		}
	}
	gh, _ := gr.(*ptfile.Dict).Get("history")
	wh, _ := wr.(*ptfile.Dict).Get("history")
	gl, wl := *gh.(*ptfile.List), *wh.(*ptfile.List)
	if len(gl) != len(wl) || len(wl) != 2 {
		t.Fatalf("history of %d epochs, the fixture's %d", len(gl), len(wl))
	}
	for i := range wl {
		for _, key := range []string{"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr"} {
			a, _ := gl[i].(*ptfile.Dict).Get(key)
			b, _ := wl[i].(*ptfile.Dict).Get(key)
			if err := sameValue(a, b); err != nil {
				t.Errorf("history[%d].%s: %v", i, key, err)
			}
		}
	}
}

// sameValue reports how two values read from torch.save files differ:
// tensors must hold the same bytes, everything else be deeply equal.
func sameValue(a, b any) error {
	switch b := b.(type) {
	case *ptfile.Entry:
		a, ok := a.(*ptfile.Entry)
		if !ok {
			return fmt.Errorf("%T, want a tensor", a)
		}
		if a.DType != b.DType || !reflect.DeepEqual(a.Shape, b.Shape) || !bytes.Equal(a.Data, b.Data) {
			return fmt.Errorf("tensor %v%v differs from the fixture's %v%v", a.DType, a.Shape, b.DType, b.Shape)
		}
	case *ptfile.Dict:
		a, ok := a.(*ptfile.Dict)
		if !ok || len(a.Items) != len(b.Items) {
			return fmt.Errorf("%v, want a dict of %d items", a, len(b.Items))
		}
		for i, it := range b.Items {
			if !reflect.DeepEqual(a.Items[i].Key, it.Key) {
				return fmt.Errorf("key %d is %v, want %v", i, a.Items[i].Key, it.Key)
			}
			if err := sameValue(a.Items[i].Value, it.Value); err != nil {
				return fmt.Errorf("%v: %w", it.Key, err)
			}
		}
	case *ptfile.List:
		a, ok := a.(*ptfile.List)
		if !ok || len(*a) != len(*b) {
			return fmt.Errorf("%v, want a list of %d", a, len(*b))
		}
		for i := range *b {
			if err := sameValue((*a)[i], (*b)[i]); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
	default:
		if !reflect.DeepEqual(a, b) {
			return fmt.Errorf("%v, want %v", a, b)
		}
	}
	return nil
}
