package dataset

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gotrain/internal/testdir"
)

// logRecorder is a Logger that keeps what it hears.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (l *logRecorder) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

// has reports whether some line holds s, and forgets all lines.
func (l *logRecorder) has(s string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok := slices.ContainsFunc(l.lines, func(line string) bool { return strings.Contains(line, s) })
	l.lines = nil
	return ok
}

func setsEqual(a, b *Set) bool {
	return bytes.Equal(a.Images, b.Images) && bytes.Equal(a.Labels, b.Labels)
}

// cacheFiles lists the cache files (and any leftovers) in dir.
func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, n := range testdir.Names(t, dir) {
		if strings.HasSuffix(n, ".cache") || strings.HasSuffix(n, ".tmp") {
			out = append(out, n)
		}
	}
	return out
}

func TestCacheRoundTrip(t *testing.T) {
	dir := t.TempDir()
	train := &Set{Images: bytes.Repeat([]byte{1, 2, 3}, 2*ImageSize/3), Labels: []uint8{4, 9}}
	test := &Set{Images: hwc(7), Labels: []uint8{0}}
	key := [32]byte{1, 2, 3}
	name := filepath.Join(dir, "sub", "c.cache")
	if err := writeCache(name, key, train, test); err != nil {
		t.Fatal(err)
	}
	if got := testdir.Names(t, filepath.Dir(name)); !slices.Equal(got, []string{"c.cache"}) {
		t.Fatalf("folder holds %v, want only the cache", got)
	}
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(cacheHeader + 3*RecordSize + 4); fi.Size() != want {
		t.Fatalf("cache is %d bytes, want %d", fi.Size(), want)
	}
	tr, te, err := readCache(name, key, limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !setsEqual(tr, train) || !setsEqual(te, test) {
		t.Fatal("sets read back differ from those written")
	}
	// Appending to one set must not clobber the other (they share a buffer).
	tr.Labels = append(tr.Labels, 5)
	if te.Labels[0] != 0 {
		t.Fatal("appending to the training labels changed the test labels")
	}
	if _, _, err := readCache(name, [32]byte{9}, limits{}); !errors.Is(err, errStaleCache) {
		t.Fatalf("other key: got %v, want errStaleCache", err)
	}
	if _, _, err := readCache(filepath.Join(dir, "none.cache"), key, limits{}); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing cache: got %v, want fs.ErrNotExist", err)
	}
}

func TestCacheDamageIsDetected(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "c.cache")
	train := &Set{Images: hwc(1), Labels: []uint8{3}}
	test := &Set{Images: hwc(2), Labels: []uint8{5}}
	key := [32]byte{7}
	if err := writeCache(name, key, train, test); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { b := slices.Clone(good); b[i] ^= 0x10; return b }
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)-100], "truncated"},
		{"cut header", good[:20], "not a dataset cache"},
		{"pixel flipped", flip(cacheHeader + 2 + 1000), "checksum mismatch"},
		{"label flipped", flip(cacheHeader), "checksum mismatch"},
		{"count changed", flip(48), "want"},
		{"version changed", flip(8), "another version"},
		{"label out of range, checksum fixed", nil, "out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.data
			if data == nil { // a bad label with a valid checksum: still refused
				bad := &Set{Images: hwc(1), Labels: []uint8{10}}
				if err := writeCache(name, key, bad, test); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(name, data, 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := readCache(name, key, limits{})
			mustErr(t, err, name, tc.want)
		})
	}
}

func TestLoadCachesAndNoticesChanges(t *testing.T) {
	src, cacheDir := t.TempDir(), t.TempDir()
	const n = 2
	writeTree(t, src, imageTree("", n))
	log := &logRecorder{}
	load := func() (*Set, *Set, error) { return Load(src, cacheDir, WithLogger(log)) }

	train, test, err := load()
	if err != nil {
		t.Fatal(err)
	}
	checkTreeSets(t, train, test, n)
	files := cacheFiles(t, cacheDir)
	if len(files) != 1 || !strings.HasPrefix(files[0], "cifar10-") {
		t.Fatalf("cache folder holds %v, want one cifar10-*.cache", files)
	}
	if !log.has("cached decoded images in") {
		t.Fatal("first load did not report writing the cache")
	}

	// Damage a source image without changing its size or time: a load that
	// still succeeds with the old pixels must have come from the cache.
	victim := filepath.Join(src, "test", "frog", "img_001.png")
	fi, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(victim, bytes.Repeat([]byte("x"), int(fi.Size())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(victim, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	train2, test2, err := load()
	if err != nil {
		t.Fatalf("load with an unchanged key did not use the cache: %v", err)
	}
	if !setsEqual(train, train2) || !setsEqual(test, test2) || !log.has("from cache") {
		t.Fatal("cached sets differ from the decoded ones")
	}

	// A new modification time invalidates the cache: the source is decoded
	// again, and the damage shows.
	later := fi.ModTime().Add(time.Second)
	if err := os.Chtimes(victim, later, later); err != nil {
		t.Fatal(err)
	}
	_, _, err = load()
	mustErr(t, err, victim, "not a PNG or JPEG image")

	// A repaired, different image is decoded and the cache rebuilt.
	if err := os.WriteFile(victim, pngImage(999, Width, Height), 0o644); err != nil {
		t.Fatal(err)
	}
	_, test3, err := load()
	if err != nil {
		t.Fatal(err)
	}
	j := classIndex("frog")*n + 1 // test split: class-major, then name
	if !bytes.Equal(test3.Image(j), hwc(999)) {
		t.Fatal("changed image not picked up")
	}
	if !log.has("out of date") {
		t.Fatal("rebuild of a stale cache not reported")
	}
	if _, test4, err := load(); err != nil || !setsEqual(test3, test4) || !log.has("from cache") {
		t.Fatalf("rebuilt cache not used or different (err %v)", err)
	}
	if files := cacheFiles(t, cacheDir); len(files) != 1 {
		t.Fatalf("cache folder holds %v, want one file (rebuilt in place)", files)
	}
}

func TestLoadRebuildsDamagedCache(t *testing.T) {
	dir := t.TempDir()
	archive := writeFile(t, dir, "c.tar.gz", tarBytes(t, binaryRelease("cifar-10-batches-bin/", 10), true))
	cacheDir := filepath.Join(dir, "cache")
	log := &logRecorder{}
	if _, _, err := Load(archive, cacheDir, WithLogger(log)); err != nil {
		t.Fatal(err)
	}
	files := cacheFiles(t, cacheDir)
	if len(files) != 1 {
		t.Fatalf("cache folder holds %v", files)
	}
	cache := filepath.Join(cacheDir, files[0])
	data, err := os.ReadFile(cache)
	if err != nil {
		t.Fatal(err)
	}
	for _, damaged := range [][]byte{data[:len(data)/2], append(slices.Clone(data[:200]), data[201:]...), {}} {
		if err := os.WriteFile(cache, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		train, test, err := Load(archive, cacheDir, WithLogger(log))
		if err != nil {
			t.Fatal(err)
		}
		checkBinarySets(t, train, test, 10)
		if !log.has("ignoring cache") {
			t.Fatal("damaged cache not reported")
		}
		if again, err := os.ReadFile(cache); err != nil || !bytes.Equal(again, data) {
			t.Fatalf("cache not rebuilt identically (err %v)", err)
		}
	}

	// A changed archive (new size and time) gives new data.
	if err := os.WriteFile(archive, tarBytes(t, binaryRelease("cifar-10-batches-bin/", 11), true), 0o644); err != nil {
		t.Fatal(err)
	}
	train, test, err := Load(archive, cacheDir, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	checkBinarySets(t, train, test, 11)
}

func TestLoadWithUnwritableCacheDir(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, imageTree("", 1))
	blocker := writeFile(t, t.TempDir(), "file", []byte("a file, not a folder"))
	log := &logRecorder{}
	train, test, err := Load(dir, filepath.Join(blocker, "cache"), WithLogger(log))
	if err != nil {
		t.Fatalf("an unwritable cache must not fail the load: %v", err)
	}
	checkTreeSets(t, train, test, 1)
	if !log.has("cannot write cache") {
		t.Fatal("cache write failure not reported")
	}
}

// TestCacheSubset reads a cache keeping a few images of each split: the
// kept ones are those Spread picks (worked out by hand here), and damage
// to an image that is not kept is still found.
func TestCacheSubset(t *testing.T) {
	numbered := func(n int) *Set {
		s := &Set{}
		for i := range n {
			s.Images = append(s.Images, bytes.Repeat([]byte{byte(i)}, ImageSize)...)
			s.Labels = append(s.Labels, uint8(i%len(Classes)))
		}
		return s
	}
	train, test := numbered(10), numbered(5)
	name := filepath.Join(t.TempDir(), "c.cache")
	key := [32]byte{4}
	if err := writeCache(name, key, train, test); err != nil {
		t.Fatal(err)
	}
	ids := func(s *Set) []int {
		var out []int
		for i := range s.Len() {
			out = append(out, int(s.Image(i)[0]))
		}
		return out
	}
	for _, c := range []struct {
		lim                 limits
		wantTrain, wantTest []int
	}{
		{limits{3, 2}, []int{0, 3, 6}, []int{0, 2}},
		{limits{0, 4}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []int{0, 1, 2, 3}},
		{limits{10, 99}, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []int{0, 1, 2, 3, 4}},
		{limits{none, 2}, nil, []int{0, 2}}, // WithTestOnly
	} {
		tr, te, err := readCache(name, key, c.lim)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(tr); !slices.Equal(got, c.wantTrain) {
			t.Errorf("%+v: training images %v, want %v", c.lim, got, c.wantTrain)
		}
		if got := ids(te); !slices.Equal(got, c.wantTest) {
			t.Errorf("%+v: test images %v, want %v", c.lim, got, c.wantTest)
		}
		for i, id := range ids(tr) {
			if tr.Labels[i] != uint8(id%len(Classes)) {
				t.Errorf("%+v: training image %d has label %d, want %d", c.lim, id, tr.Labels[i], id%len(Classes))
			}
		}
		if !setsEqual(tr, train.Spread(c.lim.train)) || !setsEqual(te, test.Spread(c.lim.test)) {
			t.Errorf("%+v: subset differs from Spread of the full sets", c.lim)
		}
	}
	// Image 1 of the training split is not kept by limits{3, 2}.
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	data[cacheHeader+15+ImageSize+7] ^= 1
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err = readCache(name, key, limits{3, 2})
	mustErr(t, err, name, "checksum mismatch")
	// Skipped images are checked too.
	_, _, err = readCache(name, key, limits{none, 0})
	mustErr(t, err, name, "checksum mismatch")
}

func TestLoadTestOnly(t *testing.T) {
	src, cacheDir := t.TempDir(), t.TempDir()
	const n = 2
	writeTree(t, src, imageTree("", n))
	// Without a cache both splits are decoded (to write one); from the
	// cache the training images are skipped. Either way only the test
	// split comes back.
	for range 2 {
		train, test, err := Load(src, cacheDir, WithTestOnly())
		if err != nil {
			t.Fatal(err)
		}
		if train.Len() != 0 || len(train.Images) != 0 || test.Len() != n*len(Classes) {
			t.Fatalf("%d training and %d test images, want 0 and %d", train.Len(), test.Len(), n*len(Classes))
		}
	}
	train, test, err := Load(src, cacheDir)
	if err != nil {
		t.Fatal(err)
	}
	checkTreeSets(t, train, test, n)
}
