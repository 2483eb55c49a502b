package trainer

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// assertOnlyFiles fails unless dir holds exactly the named entries (so no
// temporary file was left behind).
func assertOnlyFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	slices.Sort(got)
	slices.Sort(names)
	if !slices.Equal(got, names) {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	if err := writeFileAtomic(path, func(w io.Writer) error {
		_, err := io.WriteString(w, "first")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "first" {
		t.Errorf("content %q", data)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", fi.Mode(), err)
	}

	// A failing write leaves the old file intact and no temporary file.
	boom := errors.New("boom")
	err = writeFileAtomic(path, func(w io.Writer) error {
		// More than the buffer, so part of it reaches the temporary file.
		io.WriteString(w, strings.Repeat("x", 200<<10))
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v, want boom wrapped with the path", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "first" {
		t.Errorf("old file changed to %d bytes", len(data))
	}
	assertOnlyFiles(t, dir, "out.txt")

	// So does a panicking one.
	func() {
		defer func() { recover() }()
		writeFileAtomic(path, func(w io.Writer) error { panic("bug") })
	}()
	assertOnlyFiles(t, dir, "out.txt")

	// Replacing works and leaves nothing else.
	if err := writeFileAtomic(path, func(w io.Writer) error {
		_, err := io.WriteString(w, "second")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "second" {
		t.Errorf("content %q", data)
	}
	assertOnlyFiles(t, dir, "out.txt")
}

func TestWriteFileAtomicErrors(t *testing.T) {
	dir := t.TempDir()
	ok := func(w io.Writer) error { _, err := io.WriteString(w, "x"); return err }

	missing := filepath.Join(dir, "no", "such", "dir", "f")
	if err := writeFileAtomic(missing, ok); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing directory: %v", err)
	}

	// The target is a non-empty directory: the rename fails at the very
	// end, and the temporary file must still go.
	target := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(target, "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(target, ok); err == nil {
		t.Error("writing over a directory succeeded")
	}
	assertOnlyFiles(t, dir, "d")

	if err := writeFileAtomic(dir+string(filepath.Separator), ok); err == nil {
		t.Error("a path ending in a separator was accepted")
	}
}

func TestWriteFileAtomicRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := writeFileAtomic("rel.txt", func(w io.Writer) error {
		_, err := io.WriteString(w, "r")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "rel.txt")); err != nil || string(data) != "r" {
		t.Errorf("rel.txt: %q, %v", data, err)
	}
	assertOnlyFiles(t, dir, "rel.txt")
}
