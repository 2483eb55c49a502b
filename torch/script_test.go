package torch

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// scriptWithPython runs Python source defining torch.nn.Module classes,
// scripts an instance of each class named in classes with torch.jit.script
// and saves it as <class>.pt in a temporary folder, which it returns. The
// test is skipped where the system Python has no torch.
func scriptWithPython(t *testing.T, source string, classes ...string) string {
	t.Helper()
	if err := exec.Command(systemPython, "-c", "import torch").Run(); err != nil {
		t.Skipf("skipping: %s with torch is not available: %v", systemPython, err)
	}
	dir := t.TempDir()
	prog := "import os, sys, warnings, torch\nwarnings.simplefilter('ignore')\n" + source +
		"\nfor c in sys.argv[2:]:\n    torch.jit.save(torch.jit.script(globals()[c]()), os.path.join(sys.argv[1], c + '.pt'))\n"
	// TorchScript reads the classes' source, so it must be in a file.
	file := filepath.Join(dir, "make_modules.py")
	if err := os.WriteFile(file, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(systemPython, append([]string{file, dir}, classes...)...).CombinedOutput(); err != nil {
		t.Fatalf("scripting with Python: %v\n%s", err, out)
	}
	return dir
}

// TestScriptRejectsUnsupportedTensors loads TorchScript modules whose
// forward returns, or whose buffers are, tensors that are not dense and
// strided. They must come back as errors: before, asking a nested tensor
// for its shape threw a C++ exception through the C ABI, aborting the
// process.
func TestScriptRejectsUnsupportedTensors(t *testing.T) {
	dir := scriptWithPython(t, `
class Nested(torch.nn.Module):
    def forward(self, x):
        return torch._nested_tensor_from_tensor_list([x, x])

class Sparse(torch.nn.Module):
    def forward(self, x):
        return x.to_sparse()

class SparseBuffer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("dense", torch.ones(2))
        self.register_buffer("s", torch.eye(2).to_sparse())

    def forward(self, x):
        return x
`, "Nested", "Sparse", "SparseBuffer")
	load := func(t *testing.T, class string) *ScriptModule {
		t.Helper()
		m, err := LoadScript(filepath.Join(dir, class+".pt"), CPU)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	x := Must(FromSlice([]float32{1, 2, 3}))
	defer x.Free()
	for _, c := range []struct{ class, want string }{{"Nested", "nested"}, {"Sparse", "Sparse"}} {
		t.Run(c.class, func(t *testing.T) {
			m := load(t, c.class)
			defer m.Free()
			y, err := m.Forward(x)
			if err == nil {
				t.Fatalf("Forward gave a tensor of shape %v", y.Shape())
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("Forward: %v, want an error mentioning %q", err, c.want)
			}
		})
	}

	t.Run("SparseBuffer", func(t *testing.T) {
		m := load(t, "SparseBuffer")
		defer m.Free()
		before := LiveTensors()
		bs, err := m.NamedBuffers()
		if err == nil || !strings.Contains(err.Error(), `buffer "s"`) {
			t.Errorf("NamedBuffers: %v, %d buffers; want an error naming buffer s", err, len(bs))
		}
		if n := LiveTensors(); n != before {
			t.Errorf("%d tensors live after the failed call, %d before", n, before)
		}
	})
}

// errWriter fails every write with err.
type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

// TestScriptModuleSave saves a module built here into memory and loads the
// bytes back from a file; a failing writer's error comes back as it is.
func TestScriptModuleSave(t *testing.T) {
	m, err := NewScriptModule("__torch__.Scale", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Free()
	w := Must(FromSlice([]float32{2, 3}))
	defer w.Free()
	if err := m.Register("w", w, false); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterBool("training", false); err != nil {
		t.Fatal(err)
	}
	if err := m.Define("def forward(self, x):\n  if self.training:\n    return x\n  return x * self.w\n"); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Save(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "scale.pt")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := LoadScript(path, CPU)
	if err != nil {
		t.Fatal(err)
	}
	defer back.Free()
	x := Must(FromSlice([]float32{1, 1}))
	defer x.Free()
	for _, c := range []struct {
		training bool
		want     []float32
	}{{false, []float32{2, 3}}, {true, []float32{1, 1}}} {
		if err := back.SetTraining(c.training); err != nil {
			t.Fatal(err)
		}
		y := Must(back.Forward(x))
		if got := Must(ToSlice[float32](y)); !slices.Equal(got, c.want) {
			t.Errorf("training %v: forward gave %v, want %v", c.training, got, c.want)
		}
		y.Free()
	}

	boom := errors.New("boom")
	if err := m.Save(errWriter{boom}); !errors.Is(err, boom) {
		t.Errorf("Save to a failing writer: %v, want boom", err)
	}
}
