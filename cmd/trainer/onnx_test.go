package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gotrain/internal/pyref"
	"gotrain/internal/testdir"
)

// TestExportONNX exports weights with -format onnx: onnx's checker must
// accept the file, whose metadata names CIFAR-10's classes; a full disk
// fails cleanly, with nothing left behind, and an unknown format is a
// usage error naming onnx among the formats.
func TestExportONNX(t *testing.T) {
	pyref.Require(t, "onnx")
	weights := writeSeedWeights(t)
	out := filepath.Join(t.TempDir(), "seed.onnx")
	if r := runTrainer(t, "export", "-weights", weights, "-model", "seed", "-format", "onnx", "-o", out); r.code != 0 {
		t.Fatalf("export: exit %d: %s", r.code, r.stderr)
	}
	const script = `
import json, sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
meta = {p.key: p.value for p in m.metadata_props}
print(m.opset_import[0].version, meta["model"], " ".join(json.loads(meta["classes"])))
`
	got, err := exec.Command(pyref.Python, "-c", script, out).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", pyref.Python, err, got)
	}
	if want := "13 seed airplane automobile bird cat deer dog frog horse ship truck\n"; string(got) != want {
		t.Errorf("onnx reads %q, want %q", got, want)
	}

	dir := testdir.SmallTmpfs(t, 64<<10) // the seed network's file is over 300 KB
	full := filepath.Join(dir, "model.onnx")
	r := runTrainer(t, "export", "-weights", weights, "-model", "seed", "-format", "onnx", "-o", full)
	if r.code != exitError || !strings.Contains(r.stderr, full) || !strings.Contains(r.stderr, "no space left on device") {
		t.Errorf("full disk: exit %d (want %d), stderr should name %s and the full disk:\n%s", r.code, exitError, full, r.stderr)
	}
	testdir.AssertOnly(t, dir)

	r = runTrainer(t, "export", "-weights", weights, "-format", "tflite", "-o", out)
	if r.code != exitUsage || !strings.Contains(r.stderr, `"tflite"`) || !strings.Contains(r.stderr, "onnx") {
		t.Errorf("-format tflite: exit %d (want %d):\n%s", r.code, exitUsage, r.stderr)
	}
}
