package trainer

import (
	"path/filepath"
	"testing"
)

// TestTensorBoardDir checks where a run's events go: a relative folder is
// the run's own, within its output folder; an absolute one is shared by
// runs, each writing into a subfolder named for its output folder.
func TestTensorBoardDir(t *testing.T) {
	abs, err := filepath.Abs("runs")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ out, tb, want string }{
		{"runs/latest", "tensorboard", filepath.Join("runs", "latest", "tensorboard")},
		{"runs/latest", "", ""},
		{"runs/latest", "/tb", "/tb/latest"},
		{"runs/latest/", "/tb", "/tb/latest"},
		{"/data/exp/run-7", "/tb/shared", "/tb/shared/run-7"},
		{".", "/tb", filepath.Join("/tb", filepath.Base(filepath.Dir(abs)))},
	} {
		cfg := DefaultConfig()
		cfg.Out, cfg.TensorBoard = c.out, c.tb
		if got := tensorBoardDir(cfg); got != c.want {
			t.Errorf("-out %q -tensorboard %q: events in %q, want %q", c.out, c.tb, got, c.want)
		}
	}
}
