// Package testdir holds test helpers for the folders that tests write into.
package testdir

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"testing"
)

// Names returns the names of the entries of dir, hidden ones included, in
// sorted order.
func Names(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// AssertOnly fails the test unless dir holds exactly the named entries (so
// that no temporary file was left behind).
func AssertOnly(t testing.TB, dir string, names ...string) {
	t.Helper()
	got := Names(t, dir)
	want := slices.Sorted(slices.Values(names))
	if !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", dir, got, want)
	}
}

// SmallTmpfs mounts a tmpfs of size bytes (rounded up to whole pages) on a
// new temporary folder and returns the folder; it is unmounted when the
// test ends. Writing more than size there fails with ENOSPC, as on a full
// disk. The test is skipped where mounting is not allowed (not root, or no
// CAP_SYS_ADMIN in a container).
func SmallTmpfs(t testing.TB, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: mounting a small tmpfs needs root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("skipping: cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}
