package trainer

import (
	"path/filepath"
	"strings"
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
		if got := TensorBoardDir(cfg); got != c.want {
			t.Errorf("-out %q -tensorboard %q: events in %q, want %q", c.out, c.tb, got, c.want)
		}
	}
}

func TestConfigMarkdown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Data = "a|b.tar.gz"
	text, err := configMarkdown(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if lines[0] != "| setting | value |" || lines[1] != "|---|---|" || lines[2] != "| model | "+cfg.Model+" |" {
		t.Errorf("table starts:\n%s", strings.Join(lines[:3], "\n"))
	}
	for _, want := range []string{"| epochs | 20 |", "| lr | 0.05 |", `| data | a\|b.tar.gz |`, "| augment | true |", "| tensorboard | tensorboard |"} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
}
