package dataset

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gotrain/internal/testdir"
)

// sharedArchive is the project's read-only copy of CIFAR-10 as JPEGs
// (see /work/shared/datasets/README.md), seen from this package's folder.
const sharedArchive = "../../shared/datasets/cifar10-jpeg.tar.gz"

// shared decodes the archive once for all tests that need it.
var shared struct {
	once        sync.Once
	train, test *Set
	err         error
	took        time.Duration
}

func loadShared(t testing.TB) (train, test *Set) {
	t.Helper()
	if testing.Short() {
		t.Skip("decoding the full shared archive is skipped in -short mode")
	}
	if _, err := os.Stat(sharedArchive); err != nil {
		t.Skipf("shared archive not available: %v", err)
	}
	shared.once.Do(func() {
		start := time.Now()
		shared.train, shared.test, shared.err = Load(sharedArchive, "")
		shared.took = time.Since(start)
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	t.Logf("decoding the 60,000 JPEGs of %s took %.1fs (%d goroutines)", sharedArchive, shared.took.Seconds(), defaultWorkers())
	return shared.train, shared.test
}

func TestSharedArchiveCounts(t *testing.T) {
	train, test := loadShared(t)
	for _, c := range []struct {
		name     string
		s        *Set
		perClass int
	}{{"train", train, 5000}, {"test", test, 1000}} {
		if err := c.s.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.s.Len() != c.perClass*len(Classes) {
			t.Fatalf("%s: %d images, want %d", c.name, c.s.Len(), c.perClass*len(Classes))
		}
		var count [10]int
		for i, l := range c.s.Labels {
			count[l]++
			if want := uint8(i / c.perClass); l != want { // class-major order
				t.Fatalf("%s image %d: label %d, want %d", c.name, i, l, want)
			}
		}
		for k, n := range count {
			if n != c.perClass {
				t.Fatalf("%s: %d images of %s, want %d", c.name, n, Classes[k], c.perClass)
			}
		}
	}
}

// TestSharedArchiveMatchesPIL compares decoded images with the same archive
// members read by Python's tarfile and decoded by PIL, independently of this
// package's archive reader. Image i of class c sits at index c*perClass+i
// since the files are numbered 0000, 0001, ... in each class folder.
func TestSharedArchiveMatchesPIL(t *testing.T) {
	train, test := loadShared(t)
	needPIL(t)
	type pick struct {
		split, class, i int
	}
	var picks []pick
	for c := range Classes {
		picks = append(picks, pick{trainSplit, c, (c * 997) % 5000}, pick{testSplit, c, (c * 331) % 1000})
	}
	picks = append(picks, pick{trainSplit, 0, 0}, pick{trainSplit, 9, 4999}, pick{testSplit, 9, 999})
	var names []string
	for _, p := range picks {
		names = append(names, fmt.Sprintf("cifar10-jpeg/%s/%s/%04d.jpg", splitNames[p.split], Classes[p.class], p.i))
	}
	const script = `
import sys, tarfile
from PIL import Image
want = sys.argv[2:]
got = {}
with tarfile.open(sys.argv[1]) as tf:
    for m in tf:
        if m.name in want:
            got[m.name] = Image.open(tf.extractfile(m)).convert("RGB").tobytes()
for n in want:
    sys.stdout.buffer.write(got[n])
`
	out := runPython(t, script, append([]string{sharedArchive}, names...)...)
	if len(out) != len(names)*ImageSize {
		t.Fatalf("PIL gave %d bytes for %d images", len(out), len(names))
	}
	var all, ref []byte
	for k, p := range picks {
		s, per := train, 5000
		if p.split == testSplit {
			s, per = test, 1000
		}
		got, want := s.Image(p.class*per+p.i), out[k*ImageSize:(k+1)*ImageSize]
		if m, mean, _ := diffStats(got, want); m > jpegMaxDiff || mean > jpegMeanDiff {
			t.Errorf("%s: max diff %d, mean %.3f from PIL (limits %d, %.2f)", names[k], m, mean, jpegMaxDiff, jpegMeanDiff)
		}
		all, ref = append(all, got...), append(ref, want...)
	}
	m, mean, exact := diffStats(all, ref)
	t.Logf("%d images vs PIL: max abs diff %d, mean %.4f, %.1f%% of bytes identical", len(picks), m, mean, 100*exact)
	if exact < jpegExact {
		t.Errorf("only %.1f%% of bytes identical to PIL's, want >= %.0f%%", 100*exact, 100*jpegExact)
	}
}

// TestSharedArchiveCache writes the full decoded sets as the cache of the
// archive and checks that Load then serves them from it, unchanged.
func TestSharedArchiveCache(t *testing.T) {
	train, test := loadShared(t)
	src, err := locate(sharedArchive)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := time.Now()
	if err := writeCache(filepath.Join(dir, src.cacheName()), src.key(), train, test); err != nil {
		t.Fatal(err)
	}
	wrote := time.Since(start)
	log := &logRecorder{}
	start = time.Now()
	train2, test2, err := Load(sharedArchive, dir, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cache: written in %.2fs, loaded in %.2fs", wrote.Seconds(), time.Since(start).Seconds())
	if !log.has("from cache") {
		t.Fatal("Load did not use the cache")
	}
	if !setsEqual(train, train2) || !setsEqual(test, test2) {
		t.Fatal("sets from the cache differ")
	}
	if names := testdir.Names(t, dir); len(names) != 1 || !strings.HasPrefix(names[0], "cifar10-cifar10-jpeg-") {
		t.Fatalf("cache folder holds %v", names)
	}
}
