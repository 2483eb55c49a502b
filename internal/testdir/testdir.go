// Package testdir holds test helpers for the folders that tests write into.
package testdir

import (
	"os"
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
