package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotrain/internal/pyref"
)

// TestBenchScript runs scripts/bench on a tiny slice with both trainers in
// channels-last layout and checks what it records: both commands with the
// layout flags, and a measured row for every side.
func TestBenchScript(t *testing.T) {
	needArchive(t)
	pyref.Require(t, "torch", "torchvision")
	dir := t.TempDir()
	results := filepath.Join(dir, "bench.md")
	cmd := exec.Command(pyref.Python, "../../scripts/bench", "--no-build", "--trainer", binary, "--model", "seed",
		"--data", archive, "--train-limit", "256", "--test-limit", "200", "--warmup-steps", "0",
		"--layout", "nhwc", "--results", results, "--out", filepath.Join(dir, "raw"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/bench: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(results)
	if err != nil {
		t.Fatal(err)
	}
	md := string(raw)
	for _, want := range []string{
		"-channels-last=true`", "--channels-last`", "image layout: nhwc",
		"| Test pass on 200 images (s) |", "| Final test accuracy (%) |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("results lack %q:\n%s", want, md)
		}
	}
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| Training images/s, whole training pass |") {
			cells := strings.Split(line, "|")
			if len(cells) < 5 || strings.TrimSpace(cells[2]) == "" || strings.TrimSpace(cells[3]) == "" ||
				strings.Contains(line, "n/a") {
				t.Errorf("images/s not measured for both: %s", line)
			}
			return
		}
	}
	t.Errorf("no images/s row:\n%s", md)
}
