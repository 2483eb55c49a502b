package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gotrain/internal/testdir"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.txt")
	if err := Write(path, func(w io.Writer) error {
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
	err = Write(path, func(w io.Writer) error {
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
	testdir.AssertOnly(t, dir, "out.txt")

	// So does a panicking one.
	func() {
		defer func() { recover() }()
		Write(path, func(w io.Writer) error { panic("bug") })
	}()
	testdir.AssertOnly(t, dir, "out.txt")

	// Replacing works and leaves nothing else.
	if err := Write(path, func(w io.Writer) error {
		_, err := io.WriteString(w, "second")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "second" {
		t.Errorf("content %q", data)
	}
	testdir.AssertOnly(t, dir, "out.txt")
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	ok := func(w io.Writer) error { _, err := io.WriteString(w, "x"); return err }

	missing := filepath.Join(dir, "no", "such", "dir", "f")
	if err := Write(missing, ok); err == nil || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing directory: %v", err)
	}

	// The target is a non-empty directory: the rename fails at the very
	// end, and the temporary file must still go.
	target := filepath.Join(dir, "d")
	if err := os.MkdirAll(filepath.Join(target, "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(target, ok); err == nil {
		t.Error("writing over a directory succeeded")
	}
	testdir.AssertOnly(t, dir, "d")

	if err := Write(dir+string(filepath.Separator), ok); err == nil {
		t.Error("a path ending in a separator was accepted")
	}
}

func TestWriteRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := Write("rel.txt", func(w io.Writer) error {
		_, err := io.WriteString(w, "r")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "rel.txt")); err != nil || string(data) != "r" {
		t.Errorf("rel.txt: %q, %v", data, err)
	}
	testdir.AssertOnly(t, dir, "rel.txt")
}

// TestWriteRemovesStaleTemporaries checks that leftovers of a crashed
// writer are cleared when old, and kept when recent (they may belong to a
// writer still running).
func TestWriteRemovesStaleTemporaries(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "f.bin")
	if err := Write(name, func(w io.Writer) error { _, err := w.Write([]byte("old")); return err }); err != nil {
		t.Fatal(err)
	}
	oldTmp := filepath.Join(dir, ".f.bin.tmp-111")
	newTmp := filepath.Join(dir, ".f.bin.tmp-222")
	for _, p := range []string{oldTmp, newTmp} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * staleAfter)
	if err := os.Chtimes(oldTmp, past, past); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := Write(name, func(w io.Writer) error {
		w.Write([]byte("half of the new cont"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the fill error", err)
	}
	testdir.AssertOnly(t, dir, ".f.bin.tmp-222", "f.bin")
	if data, _ := os.ReadFile(name); string(data) != "old" {
		t.Fatalf("failed write changed the file to %q", data)
	}
}

// TestRemoveTemps checks that a lock holder's clean-up removes the
// temporaries of killed writers at once, fresh or not, and nothing else.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"f.bin", ".f.bin.tmp-123", ".g.tmp-9", ".hidden", "x.tmp-1"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// What Write leaves when killed between creating and renaming.
	f, err := os.CreateTemp(dir, ".out.csv.tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Mkdir(filepath.Join(dir, ".d.tmp-1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := RemoveTemps(dir); err != nil {
		t.Fatal(err)
	}
	testdir.AssertOnly(t, dir, ".d.tmp-1", ".hidden", "f.bin", "x.tmp-1")
	if err := RemoveTemps(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing folder: %v", err)
	}
}
