package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotrain/internal/pyref"
)

// TestGPUCheckScript runs scripts/gpu_check.sh in its CPU mode, everything
// of the GPU check that a machine without a GPU can run: building the
// library against Debian's libtorch (up to date here, so quick), one epoch
// on a small slice, the checks of the run's files and the TorchScript load
// in Python. Then it runs it with data that is not there, which must fail
// and say so.
func TestGPUCheckScript(t *testing.T) {
	needArchive(t)
	pyref.Require(t, "torch")
	script, err := filepath.Abs("../../scripts/gpu_check.sh")
	if err != nil {
		t.Fatal(err)
	}
	run := func(out, data string) (string, error) {
		cmd := exec.Command("bash", script, "--cpu-smoke")
		cmd.Env = append(os.Environ(), "TRAINER="+binary, "DATA="+data, "OUT="+out,
			"RUN_DIR="+filepath.Join(t.TempDir(), "run"), "TRAIN_LIMIT=128", "TEST_LIMIT=100")
		b, err := cmd.CombinedOutput()
		return string(b), err
	}

	out := filepath.Join(t.TempDir(), "out")
	log, err := run(out, archive)
	if err != nil {
		t.Fatalf("gpu_check.sh --cpu-smoke: %v\n%s", err, log)
	}
	summary, err := os.ReadFile(filepath.Join(out, "summary.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mode: cpu-smoke", "-> exit 0", "train: exit 0", "epochs: 1: ",
		"training time by part of the step (epochs 1-1, ", "torchscript: loads in torch", "result: PASS"} {
		if !strings.Contains(string(summary), want) {
			t.Errorf("summary.txt lacks %q:\n%s", want, summary)
		}
	}
	for _, f := range []string{"gpu_check.log", "build.log", "train.log", "nvidia-smi.txt", "metrics.json", "metrics.csv"} {
		if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}

	out = filepath.Join(t.TempDir(), "out")
	log, err = run(out, filepath.Join(t.TempDir(), "missing.tar.gz"))
	if err == nil {
		t.Fatalf("gpu_check.sh passed without data:\n%s", log)
	}
	summary, _ = os.ReadFile(filepath.Join(out, "summary.txt"))
	if !strings.Contains(string(summary), "FAIL: no data at ") || !strings.Contains(string(summary), "result: FAIL") {
		t.Errorf("summary.txt of a run without data:\n%s", summary)
	}
}
